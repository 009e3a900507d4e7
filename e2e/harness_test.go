package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// binary is the passerelle binary built once by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "passerelle-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "passerelle")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "passerelle/cmd/passerelle")...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build passerelle:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gwConfig is what a test varies in the generated configuration.
type gwConfig struct {
	Dir             string
	MXAddr          string
	ComponentAddr   string
	ComponentDomain string
	ComponentSecret string
	Domain          string
	OtherDomains    []string // more local_domains
	Encryption      string   // policy for Domain
	NoKey           string
	RetryInitial    string
	RetryMax        string // default 2s
	MaxMessageBytes int64
	ReadTimeout     string // smtp.read_timeout; default 30s
	MaxConnsPerIP   int    // smtp.max_conns_per_ip; default 200
	SMTPExtra       string // raw TOML inside [smtp]
	Extra           string // raw TOML appended at the end
	Top             string // raw TOML at the top level, before any table
	XMPPExtra       string // raw TOML inside [xmpp]
	SpoolExtra      string // raw TOML inside [spool]
	// Inbound is raw TOML inside [inbound]; empty: verify = false, so
	// that no test waits on DNS (the tests run without a network).
	Inbound string
	// Raw, if set, is the whole configuration instead of the template
	// (relay mode's client has no MX listener and no component).
	Raw string
	// ReadyAddr is the listener whose greeting means started; default MXAddr.
	ReadyAddr string
}

const configTemplate = `hostname = "mx.{{.Domain}}"
local_domains = ["{{.Domain}}"{{range .OtherDomains}}, "{{.}}"{{end}}]
{{.Top}}
[log]
level = "debug"
format = "json"
[smtp]
max_message_bytes = {{.MaxMessageBytes}}
greet_delay = "0s"
read_timeout = "{{if .ReadTimeout}}{{.ReadTimeout}}{{else}}30s{{end}}"
write_timeout = "30s"
max_conns_per_ip = {{if .MaxConnsPerIP}}{{.MaxConnsPerIP}}{{else}}200{{end}}
{{.SMTPExtra}}
[smtp.mx]
listen = "{{.MXAddr}}"
[spool]
dir = "spool"
workers = 4
retry_initial = "{{.RetryInitial}}"
retry_max = "{{if .RetryMax}}{{.RetryMax}}{{else}}2s{{end}}"
lifetime = "1h"
{{.SpoolExtra}}
[xmpp]
component_addr = "{{.ComponentAddr}}"
component_domain = "{{.ComponentDomain}}"
component_secret = "{{.ComponentSecret}}"
ack_timeout = "10s"
{{.XMPPExtra}}
[keys]
dir = "keys"
wkd = false
[inbound]
{{if .Inbound}}{{.Inbound}}{{else}}verify = false{{end}}
[policy]
encryption = "{{.Encryption}}"
no_key = "{{.NoKey}}"
{{.Extra}}
`

func (c *gwConfig) defaults(t testing.TB) {
	if c.Dir == "" {
		c.Dir = t.TempDir()
	}
	if c.MXAddr == "" {
		c.MXAddr = freePort(t)
	}
	if c.ComponentAddr == "" {
		c.ComponentAddr = freePort(t) // nothing listens: deliveries stay queued
	}
	if c.ComponentDomain == "" {
		c.ComponentDomain = "mail.example.org"
	}
	if c.ComponentSecret == "" {
		c.ComponentSecret = "unused-secret"
	}
	if c.Domain == "" {
		c.Domain = "example.org"
	}
	if c.Encryption == "" {
		c.Encryption = "required"
	}
	if c.NoKey == "" {
		c.NoKey = "reject"
	}
	if c.RetryInitial == "" {
		c.RetryInitial = "500ms"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 36 << 20
	}
}

// gateway is one running passerelle process.
type gateway struct {
	t      testing.TB
	cfg    gwConfig
	path   string // config file
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// startGateway writes the configuration and starts passerelle serve.
func startGateway(t testing.TB, cfg gwConfig) *gateway {
	t.Helper()
	g := prepareGateway(t, cfg)
	g.start()
	return g
}

// prepareGateway writes the configuration and makes the domain key, but
// does not start the gateway (a test may rewrite the configuration with
// writeConfig first, e.g. to pin another gateway's key).
func prepareGateway(t testing.TB, cfg gwConfig) *gateway {
	t.Helper()
	cfg.defaults(t)
	g := &gateway{t: t, cfg: cfg, path: filepath.Join(cfg.Dir, "passerelle.toml")}
	g.writeConfig()
	if out, err := exec.Command(binary, "keys", "init", "-c", g.path).CombinedOutput(); err != nil {
		t.Fatalf("passerelle keys init: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		g.stop(syscall.SIGTERM)
		if t.Failed() {
			g.dumpLog(60)
		}
	})
	return g
}

// writeConfig writes g.cfg (Raw, or the template) to the config file.
func (g *gateway) writeConfig() {
	g.t.Helper()
	b := bytes.NewBufferString(g.cfg.Raw)
	if g.cfg.Raw == "" {
		if err := template.Must(template.New("c").Parse(configTemplate)).Execute(b, g.cfg); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := os.WriteFile(g.path, b.Bytes(), 0o600); err != nil {
		g.t.Fatal(err)
	}
}

func (g *gateway) start() {
	g.t.Helper()
	f, err := os.OpenFile(filepath.Join(g.cfg.Dir, "passerelle.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		g.t.Fatal(err)
	}
	g.log = f
	g.cmd = exec.Command(binary, "serve", "-c", g.path)
	g.cmd.Stdout, g.cmd.Stderr = f, f
	if err := g.cmd.Start(); err != nil {
		g.t.Fatalf("start passerelle: %v", err)
	}
	g.exited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(g.cmd, g.exited)
	g.waitReady(30 * time.Second)
}

// waitReady waits until the MX listener sends its greeting.
func (g *gateway) waitReady(d time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			g.dumpLog(40)
			g.t.Fatalf("passerelle exited during start-up: %v", g.cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", g.readyAddr(), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Write([]byte("QUIT\r\n"))
			c.Close()
			if strings.HasPrefix(line, "220") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.dumpLog(40)
	g.t.Fatalf("passerelle did not greet on %s within %v", g.readyAddr(), d)
}

func (g *gateway) readyAddr() string {
	if g.cfg.ReadyAddr != "" {
		return g.cfg.ReadyAddr
	}
	return g.cfg.MXAddr
}

// stop sends sig and waits for the process to exit.
func (g *gateway) stop(sig syscall.Signal) {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.exited:
	default:
		g.cmd.Process.Signal(sig)
		select {
		case <-g.exited:
		case <-time.After(30 * time.Second):
			g.cmd.Process.Kill()
			<-g.exited
			g.t.Errorf("passerelle did not exit within 30s of %v", sig)
		}
	}
	g.log.Close()
	g.cmd = nil
}

func (g *gateway) dumpLog(lines int) {
	b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
	all := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	g.t.Logf("last %d lines of the passerelle log:\n%s", len(all), strings.Join(all, "\n"))
}

// logContains reports whether the process log has a line containing s.
func (g *gateway) logContains(s string) bool {
	b, _ := os.ReadFile(filepath.Join(g.cfg.Dir, "passerelle.log"))
	return bytes.Contains(b, []byte(s))
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
