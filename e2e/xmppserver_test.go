package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"mellium.im/xmpp"

	"passerelle/internal/ejabberdtest"
	"passerelle/internal/prosodytest"
)

// serverEnv names the XMPP server the forward and reverse tests run
// against: unset or "prosody" (make test), or "ejabberd" (make
// test-ejabberd).
const serverEnv = "PASSERELLE_XMPP_SERVER"

// xmppServer is the XMPP server a test runs against, Prosody or ejabberd,
// with what the tests use of either. The fields mean the same for both.
type xmppServer struct {
	Kind            string // "prosody" or "ejabberd"
	Domain          string
	Component       string
	ComponentAddr   string
	ComponentSecret string
	UploadComponent string // set when xmppOptions.Upload
	C2SAddr         string
	CertPool        *x509.CertPool
	CAFile          string // the self-signed certificate, as a PEM file
	Dir             string // the server's configuration, data and logs
	impl            xmppImpl
}

// xmppImpl is what both test servers implement.
type xmppImpl interface {
	Client(ctx context.Context, t testing.TB, user, password string) *xmpp.Session
	Stop() error
	Restart()
	StartAgain() error
}

// xmppOptions is what the tests vary in the server.
type xmppOptions struct {
	Users           map[string]string // localpart -> password on example.org
	ExtraHosts      []string          // more VirtualHosts ("localhost": not a mail domain)
	Upload          bool              // an XEP-0363 service at UploadComponent
	UploadSizeLimit int64             // default 64 MiB
}

// xmppServerKind is the server chosen by PASSERELLE_XMPP_SERVER.
func xmppServerKind(t testing.TB) string {
	switch k := os.Getenv(serverEnv); k {
	case "", "prosody":
		return "prosody"
	case "ejabberd":
		return k
	default:
		t.Fatalf("%s=%q: want prosody or ejabberd", serverEnv, k)
		return ""
	}
}

// startXMPP starts the XMPP server PASSERELLE_XMPP_SERVER names, stopped on
// t.Cleanup: a private Prosody 0.12 (internal/prosodytest) by default, or a
// private ejabberd 23.01 made from deploy/ejabberd/ejabberd.yml
// (internal/ejabberdtest).
func startXMPP(t testing.TB, opts xmppOptions) *xmppServer {
	t.Helper()
	if xmppServerKind(t) == "ejabberd" {
		s := ejabberdtest.Start(t, ejabberdtest.Options{Users: opts.Users, ExtraHosts: opts.ExtraHosts,
			UploadSizeLimit: opts.UploadSizeLimit})
		x := &xmppServer{Kind: "ejabberd", Domain: s.Domain, Component: s.Component, ComponentAddr: s.ComponentAddr,
			ComponentSecret: s.ComponentSecret, C2SAddr: s.C2SAddr, CertPool: s.CertPool, CAFile: s.CertFile, Dir: s.Dir, impl: s}
		if opts.Upload {
			x.UploadComponent = s.UploadComponent
		}
		t.Logf("XMPP server: ejabberd (%s, made from %s)", s.ConfigFile, ejabberdtest.DeployConfig())
		return x
	}
	var extra string
	for _, h := range opts.ExtraHosts {
		extra += fmt.Sprintf("\nVirtualHost %q\n", h)
	}
	s := prosodytest.Start(t, prosodytest.Options{Users: opts.Users, ExtraConfig: extra,
		HTTPFileShare: opts.Upload, UploadSizeLimit: opts.UploadSizeLimit})
	return fromProsody(s)
}

// fromProsody wraps a Prosody a test started itself.
func fromProsody(s *prosodytest.Server) *xmppServer {
	return &xmppServer{Kind: "prosody", Domain: s.Domain, Component: s.Component, ComponentAddr: s.ComponentAddr,
		ComponentSecret: s.ComponentSecret, UploadComponent: s.UploadComponent, C2SAddr: s.C2SAddr,
		CertPool: s.CertPool, CAFile: s.CAFile, Dir: s.Dir, impl: s}
}

// Client logs user@Domain in (STARTTLS, SCRAM-SHA-1, bound resource,
// initial presence); the session is closed on t.Cleanup.
func (x *xmppServer) Client(ctx context.Context, t testing.TB, user, password string) *xmpp.Session {
	t.Helper()
	return x.impl.Client(ctx, t, user, password)
}

// Register creates the account user@host, host one of the server's hosts.
func (x *xmppServer) Register(user, host, password string) error {
	switch s := x.impl.(type) {
	case *ejabberdtest.Server:
		return s.RegisterOn(user, host, password)
	case *prosodytest.Server:
		out, err := exec.Command("prosodyctl", "--config", s.ConfigFile, "register", user, host, password).CombinedOutput()
		if err != nil {
			return fmt.Errorf("prosodyctl register %s@%s: %w: %s", user, host, err, out)
		}
		return nil
	}
	return fmt.Errorf("register on %T", x.impl)
}

// Stop stops the server; StartAgain and Restart bring it back on the same
// ports with the same accounts.
func (x *xmppServer) Stop() error       { return x.impl.Stop() }
func (x *xmppServer) StartAgain() error { return x.impl.StartAgain() }
func (x *xmppServer) Restart()          { x.impl.Restart() }

// clientDialer is a test server that logs users in: *xmppServer or a
// *prosodytest.Server a test started itself.
type clientDialer interface {
	Client(ctx context.Context, t testing.TB, user, password string) *xmpp.Session
}
