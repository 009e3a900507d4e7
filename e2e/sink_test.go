package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// sink is Postfix's smtp-sink on loopback, dumping each transaction to a
// file: smtp-sink's own X-* headers and a Received header, then the message
// dot-unstuffed with LF line ends.
type sink struct {
	addr string
	dir  string
}

func startSink(t *testing.T, flags ...string) *sink {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		t.Fatal("smtp-sink not found (Postfix): run make deps")
	}
	s := &sink{addr: freePort(t)}
	if s.dir, err = os.MkdirTemp("", "e2e-sink"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.dir) })
	if err := os.Chmod(s.dir, 0o777); err != nil { // written as nobody
		t.Fatal(err)
	}
	var args []string
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // required as root
	}
	args = append(args, "-d", filepath.Join(s.dir, "msg."))
	args = append(args, flags...)
	args = append(args, s.addr, "64")
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitTCP(t, s.addr)
	return s
}

func waitTCP(t testing.TB, addr string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := netDial(addr); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on %s", addr)
}

// captured is one message smtp-sink received.
type captured struct {
	meta    string // smtp-sink's X-* headers and its Received header
	message string // the message, LF line ends
}

// crlf is the message with CRLF line ends, as it was sent.
func (c captured) crlf() string { return strings.ReplaceAll(c.message, "\n", "\r\n") }

// all returns every complete capture so far, oldest first.
func (s *sink) all() []captured {
	files, _ := filepath.Glob(filepath.Join(s.dir, "msg.*"))
	sort.Strings(files)
	var out []captured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		i := strings.Index(string(b), "\nReceived: ")
		if i < 0 {
			continue
		}
		rest := string(b[i+1:])
		for range 3 { // the Received header is three lines
			rest = rest[strings.IndexByte(rest, '\n')+1:]
		}
		out = append(out, captured{meta: string(b[:i+1]), message: strings.TrimSuffix(rest, "\n")})
	}
	return out
}

// wait returns the first capture containing marker.
func (s *sink) wait(t *testing.T, marker string, d time.Duration) captured {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, c := range s.all() {
			if strings.Contains(c.message, marker) {
				time.Sleep(100 * time.Millisecond) // let smtp-sink finish the file
				return s.reread(t, marker)
			}
		}
	}
	t.Fatalf("smtp-sink received no message with %q within %v (%d others)", marker, d, len(s.all()))
	return captured{}
}

func (s *sink) reread(t *testing.T, marker string) captured {
	var found []captured
	for _, c := range s.all() {
		if strings.Contains(c.message, marker) {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d captures contain %q, want exactly one", len(found), marker)
	}
	return found[0]
}

// count is the number of transactions captured.
func (s *sink) count() int {
	files, _ := filepath.Glob(filepath.Join(s.dir, "msg.*"))
	return len(files)
}

// header returns the first value of an unfolded header field of c.
func (c captured) header(name string) string {
	head, _, _ := strings.Cut(c.message, "\n\n")
	head = strings.ReplaceAll(strings.ReplaceAll(head, "\n ", " "), "\n\t", " ")
	for _, line := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// body returns the message body (after the first empty line).
func (c captured) body() string {
	_, body, _ := strings.Cut(c.message, "\n\n")
	return body
}

// armored returns the ASCII-armored OpenPGP message of a PGP/MIME mail.
func (c captured) armored(t *testing.T) []byte {
	t.Helper()
	m := []byte(c.message)
	i := bytes.Index(m, []byte("-----BEGIN PGP MESSAGE-----"))
	j := bytes.Index(m, []byte("-----END PGP MESSAGE-----"))
	if i < 0 || j < i {
		t.Fatalf("no armored OpenPGP message in:\n%.600s", c.message)
	}
	return m[i : j+len("-----END PGP MESSAGE-----\n")]
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

// tally counts, among the messages the sink holds, the arrivals of each
// marker (markerIn with name): seen maps a marker to its arrivals, lost is
// the number of markers that never arrived, dups the extra copies.
func (s *sink) tally(name string, markers []string) (seen map[string]int, lost, dups int) {
	seen = map[string]int{}
	for _, c := range s.all() {
		if m := markerIn(c.message, name); m != "" {
			seen[m]++
		}
	}
	for _, m := range markers {
		if seen[m] == 0 {
			lost++
		}
		dups += max(seen[m]-1, 0)
	}
	return seen, lost, dups
}
