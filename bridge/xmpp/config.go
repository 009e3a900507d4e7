package xmpp

import (
	"context"
	"errors"
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

	DialTimeout time.Duration // TCP connect plus handshake; default 10 s
	BackoffMin  time.Duration // first reconnect delay; default 250 ms
	BackoffMax  time.Duration // reconnect delay cap; default 30 s
	AckTimeout  time.Duration // wait for the ack IQ; default 30 s

	// Mux handles inbound IQ requests and messages; nil answers every IQ
	// request with service-unavailable and drops messages.
	Mux *Mux

	// Dial opens the transport; nil dials TCP to Addr. Tests use it to run
	// over net.Pipe.
	Dial func(ctx context.Context) (net.Conn, error)
}

func (c Config) withDefaults() (Config, jid.JID, error) {
	if c.Domain == "" || c.Secret == "" || (c.Addr == "" && c.Dial == nil) {
		return c, jid.JID{}, errors.New("xmpp: Config needs Addr, Domain and Secret")
	}
	domain, err := jid.Parse(c.Domain)
	if err != nil {
		return c, jid.JID{}, err
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
	c.Log = c.Log.Named("xmpp")
	setDefault(&c.DialTimeout, 10*time.Second)
	setDefault(&c.BackoffMin, 250*time.Millisecond)
	setDefault(&c.BackoffMax, 30*time.Second)
	setDefault(&c.AckTimeout, 30*time.Second)
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
	return c, domain.Domain(), nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}
