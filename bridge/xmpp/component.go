package xmpp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"go.uber.org/zap"
	mellium "mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
)

// Component is one XEP-0114 link to the XMPP server. Run keeps it up; Send
// may be called from any goroutine, before or while Run runs.
type Component struct {
	cfg    Config
	domain jid.JID
	log    *zap.Logger
	cfgErr error

	mu      sync.Mutex
	cur     *link         // nil while disconnected
	up      chan struct{} // closed when cur becomes non-nil
	running bool
	pending map[string]pendingSend // bounces awaited by Send, by stanza id
	acks    ackShare               // pings shared by concurrent Sends
}

// New returns a Component; configuration errors surface from Run and Send.
func New(cfg Config) *Component {
	cfg, domain, err := cfg.withDefaults()
	c := &Component{cfg: cfg, domain: domain, cfgErr: err, log: cfg.Log,
		up: make(chan struct{}), pending: make(map[string]pendingSend)}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	return c
}

// Domain returns the component's JID.
func (c *Component) Domain() jid.JID { return c.domain }

// LocalAddr is the JID the current session is bound to: on a client link
// the full JID the server chose; zero while disconnected.
func (c *Component) LocalAddr() jid.JID {
	c.mu.Lock()
	l := c.cur
	c.mu.Unlock()
	if l == nil {
		return jid.JID{}
	}
	return l.sess.LocalAddr()
}

// Connected reports whether a session is up.
func (c *Component) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur != nil
}

// Run connects and keeps the link up, reconnecting with exponential
// backoff and jitter, until ctx is done; it then returns ctx.Err().
func (c *Component) Run(ctx context.Context) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	if err := c.claimRun(); err != nil {
		return err
	}
	defer c.releaseRun()
	delay := c.cfg.BackoffMin
	for {
		began := time.Now()
		err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(began) > c.cfg.BackoffMax {
			delay = c.cfg.BackoffMin // the link was healthy for a while
		}
		wait := jitter(delay)
		c.cfg.Metrics.Reconnect()
		c.log.Warn("xmpp link down, reconnecting", zap.Error(err), zap.Duration("in", wait))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		delay = min(2*delay, c.cfg.BackoffMax)
	}
}

func (c *Component) claimRun() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return errors.New("xmpp: Run already running")
	}
	c.running = true
	return nil
}

func (c *Component) releaseRun() {
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// jitter spreads d by ±20 % so many gateways do not reconnect in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// runOnce dials, negotiates and serves one session until it ends.
func (c *Component) runOnce(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic in xmpp link", zap.Any("panic", r), zap.Stack("stack"))
			err = fmt.Errorf("xmpp: panic: %v", r)
		}
	}()
	l, err := c.connect(ctx)
	if err != nil {
		return err
	}
	c.setLink(l)
	defer c.clearLink(l)
	c.log.Info("xmpp link up", zap.String("addr", c.cfg.Addr), zap.Stringer("domain", c.domain))
	if c.cfg.OnUp != nil {
		go c.onUp(l.ctx)
	}
	stop := context.AfterFunc(ctx, l.close)
	defer stop()
	return l.serve(c)
}

func (c *Component) connect(ctx context.Context) (*link, error) {
	hsCtx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	conn, err := c.cfg.Dial(hsCtx)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.cfg.Addr, err)
	}
	conn = newTraceConn(conn, c.log)
	if c.cfg.Client != nil {
		sess, err := handshake(hsCtx, conn, func(ctx context.Context) (*mellium.Session, error) {
			return c.clientSession(ctx, conn)
		})
		if err != nil {
			conn.Close()
			return nil, err
		}
		return newLink(sess, conn), nil
	}
	sess, err := handshake(hsCtx, conn, func(ctx context.Context) (*mellium.Session, error) {
		return component.NewSession(ctx, c.domain, []byte(c.cfg.Secret), conn)
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("component handshake as %s: %w", c.domain, err)
	}
	return newLink(sess, conn), nil
}

// handshake runs negotiate (a mellium session constructor) with ctx's
// deadline as the connection's and ctx's cancellation closing the
// connection, but never hands ctx to mellium: its negotiation watches the
// context in a goroutine and, when the context ends just as negotiation
// returns, may still set a deadline in the past on the connection, failing
// the session's first read ("i/o timeout") after a successful handshake.
func handshake(ctx context.Context, conn net.Conn, negotiate func(context.Context) (*mellium.Session, error)) (*mellium.Session, error) {
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	sess, err := negotiate(context.Background())
	if !stop() { // ctx ended: the connection is closed
		return nil, errors.Join(ctx.Err(), err)
	}
	if err != nil {
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return sess, nil
}

func (c *Component) setLink(l *link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = l
	close(c.up)
}

func (c *Component) clearLink(l *link) {
	c.mu.Lock()
	if c.cur == l {
		c.cur = nil
		c.up = make(chan struct{})
	}
	c.mu.Unlock()
	l.close()
}

// waitLink returns the current link, waiting for one until ctx is done.
func (c *Component) waitLink(ctx context.Context) (*link, error) {
	for {
		c.mu.Lock()
		l, up := c.cur, c.up
		c.mu.Unlock()
		if l != nil && l.ctx.Err() == nil {
			return l, nil
		}
		var poll <-chan time.Time
		if l != nil { // dying: clearLink follows once Serve returns
			up, poll = nil, time.After(10*time.Millisecond)
		}
		select {
		case <-up:
		case <-poll:
		case <-ctx.Done():
			return nil, tempErr(ErrNotConnected, ctx.Err())
		}
	}
}

func (c *Component) onUp(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic in OnUp", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	c.cfg.OnUp(ctx)
}
