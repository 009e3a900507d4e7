package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
)

// Config configures a Component. Addr, Domain and Secret are required.
type Config struct {
	Addr   string // server's component port, host:port
	Domain string // the component's JID, e.g. mail.example.org
	Secret string // component_secret shared with the server

	Log *zap.Logger // named "xmpp"; nil means no logging

	// Metrics counts reconnects; nil counts nothing. The link's state is
	// Component.Connected.
	Metrics Metrics

	DialTimeout time.Duration // TCP connect plus handshake; default 10 s
	BackoffMin  time.Duration // first reconnect delay; default 250 ms
	BackoffMax  time.Duration // reconnect delay cap; default 30 s
	AckTimeout  time.Duration // wait for the ack IQ; default 30 s

	// Inbound IQ requests run on IQWorkers goroutines per link (default
	// 4), never on the link's Serve goroutine; IQQueue requests may wait
	// (default 64), more are refused with resource-constraint. IQTimeout
	// bounds one handler call through its context (default 10 s);
	// HandleIQAsync handlers have MaxAsyncIQ goroutines of their own and
	// are bounded by the link only.
	IQWorkers int
	IQQueue   int
	IQTimeout time.Duration

	// Mux handles inbound IQ requests and messages; nil answers every IQ
	// request with service-unavailable and drops messages.
	Mux *Mux

	// Dial opens the transport; nil dials TCP to Addr. Tests use it to run
	// over net.Pipe.
	Dial func(ctx context.Context) (net.Conn, error)

	// Client, if set, makes the link an XMPP client session (c2s, RFC 6120:
	// STARTTLS required, SASL SCRAM, a resource bound)
	// instead of a component; Domain and Secret are then unused. Relay
	// mode's small site uses it: it needs only outbound port 5222.
	Client *ClientLogin

	// OnUp, if set, runs on its own goroutine each time a link comes up;
	// its ctx ends when that link does.
	OnUp func(ctx context.Context)
}

// ClientLogin is an account on the XMPP server.
type ClientLogin struct {
	JID      string      // the account's bare JID: user@server
	Password string      // SASL SCRAM password
	TLS      *tls.Config // nil: system roots, ServerName the JID's domain
	// DirectTLS starts TLS on connect (XEP-0368, ALPN "xmpp-client"; the
	// server's port 5223 or 443) instead of STARTTLS on a plain stream: for
	// networks that block 5222 or look into it.
	DirectTLS bool
}

func (c Config) withDefaults() (Config, jid.JID, error) {
	if c.Client != nil {
		return c.clientDefaults()
	}
	if c.Domain == "" || c.Secret == "" || (c.Addr == "" && c.Dial == nil) {
		return c, jid.JID{}, errors.New("xmpp: Config needs Addr, Domain and Secret")
	}
	domain, err := jid.Parse(c.Domain)
	if err != nil {
		return c, jid.JID{}, err
	}
	c.common()
	return c, domain.Domain(), nil
}

// common fills the defaults both kinds of link share.
func (c *Config) common() {
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.Log = c.Log.Named("xmpp")
	if c.Metrics == nil {
		c.Metrics = nopMetrics{}
	}
	setDefault(&c.DialTimeout, 10*time.Second)
	setDefault(&c.BackoffMin, 250*time.Millisecond)
	setDefault(&c.BackoffMax, 30*time.Second)
	setDefault(&c.AckTimeout, 30*time.Second)
	setDefault(&c.IQTimeout, 10*time.Second)
	if c.IQWorkers <= 0 {
		c.IQWorkers = 4
	}
	if c.IQQueue <= 0 {
		c.IQQueue = 64
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Mux == nil {
		c.Mux = NewMux()
	}
	if c.Dial == nil {
		addr, timeout := c.Addr, c.DialTimeout
		c.Dial = func(ctx context.Context) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, "tcp", addr)
		}
	}
}

func (c Config) clientDefaults() (Config, jid.JID, error) {
	if c.Client.JID == "" || c.Client.Password == "" || (c.Addr == "" && c.Dial == nil) {
		return c, jid.JID{}, errors.New("xmpp: client Config needs Addr, Client.JID and Client.Password")
	}
	j, err := jid.Parse(c.Client.JID)
	if err != nil || j.Localpart() == "" {
		return c, jid.JID{}, fmt.Errorf("xmpp: client JID %q: want user@server", c.Client.JID)
	}
	c.common()
	return c, j, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Metrics receives the component link's events; defined here, by its
// consumer (cmd/passerelle implements it with Prometheus).
type Metrics interface {
	// Reconnect counts a link that went down (or could not come up) and
	// is about to be dialled again.
	Reconnect()
}

type nopMetrics struct{}

func (nopMetrics) Reconnect() {}
