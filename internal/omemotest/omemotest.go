// Package omemotest is test ground: a real OMEMO 0.3 client that is not
// Passerelle's, Debian's python3-omemo with python3-oldmemo driven by
// slixmpp (omemo_client.py), logged in to a prosodytest server.
package omemotest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Python is the interpreter that has slixmpp and omemo (Debian's).
const Python = "/usr/bin/python3"

// Event is one line the client printed.
type Event struct {
	Ready       uint32 `json:"ready"`
	Fingerprint string `json:"fingerprint"`
	From        string `json:"from"`
	SID         uint32 `json:"sid"`
	Body        string `json:"body"`
	Error       string `json:"error"`
	Sent        string `json:"sent"`
	SendError   string `json:"send_error"`
	Duplicate   string `json:"duplicate"`
}

// Client is a running omemo_client.py.
type Client struct {
	JID         string
	DeviceID    uint32
	Fingerprint string
	Events      <-chan Event

	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	done  chan struct{}
}

// Config says where the client logs in.
type Config struct {
	JID, Password string
	C2SAddr       string // host:port of the server's client port (STARTTLS)
	CAFile        string // the server certificate
	State         string // state file: the same path is the same device
}

func script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "omemo_client.py")
}

// Start runs the client and waits until it has published its device list
// and bundle. It fails the test (never skips) when the packages are missing.
func Start(ctx context.Context, t testing.TB, cfg Config) *Client {
	t.Helper()
	host, port, err := net.SplitHostPort(cfg.C2SAddr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Python, script(), cfg.JID, cfg.Password, host, port, cfg.State, cfg.CAFile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errf, err := os.Create(cfg.State + ".stderr")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		t.Fatalf("omemotest: %v (needs python3-omemo, python3-oldmemo, python3-slixmpp: scripts/deps.sh)", err)
	}
	events := make(chan Event, 1024)
	c := &Client{JID: cfg.JID, Events: events, t: t, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Logf("omemotest: %s", sc.Bytes())
				continue
			}
			events <- ev
		}
	}()
	go func() { _ = cmd.Wait(); errf.Close(); close(c.done) }()
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			b, _ := os.ReadFile(cfg.State + ".stderr")
			t.Logf("omemotest: %s stderr:\n%s", cfg.JID, b)
		}
	})
	select {
	case ev, ok := <-events:
		if !ok || ev.Ready == 0 {
			b, _ := os.ReadFile(cfg.State + ".stderr")
			t.Fatalf("omemotest: client did not start: %+v\n%s", ev, b)
		}
		c.DeviceID, c.Fingerprint = ev.Ready, ev.Fingerprint
	case <-ctx.Done():
		b, _ := os.ReadFile(cfg.State + ".stderr")
		t.Fatalf("omemotest: client not ready: %v\n%s", ctx.Err(), b)
	}
	return c
}

// Send asks the client to encrypt body to the bare JID to and send it.
func (c *Client) Send(to, body string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"send": to, "body": body})
	_, err := fmt.Fprintf(c.stdin, "%s\n", b)
	return err
}

// Next returns the next decrypted message, decryption error, or the
// outcome of a Send (Sent or SendError).
func (c *Client) Next(ctx context.Context) (Event, error) {
	for {
		select {
		case ev, ok := <-c.Events:
			if !ok {
				return Event{}, fmt.Errorf("omemotest: client exited")
			}
			if ev.From != "" || ev.SendError != "" || ev.Sent != "" {
				return ev, nil
			}
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}

// Stop ends the client (and waits a little for it).
func (c *Client) Stop() {
	c.mu.Lock()
	_, _ = io.WriteString(c.stdin, `{"quit": true}`+"\n")
	c.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
