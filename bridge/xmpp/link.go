package xmpp

import (
	"context"
	"net"
	"sync"
	"time"

	mellium "mellium.im/xmpp"
)

// link is one negotiated session; ctx ends when the session does.
type link struct {
	sess   *mellium.Session
	conn   net.Conn
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func newLink(sess *mellium.Session, conn net.Conn) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{sess: sess, conn: conn, ctx: ctx, cancel: cancel}
}

// serve runs mellium's Serve with the component's handler until the
// session ends, then marks the link dead and waits for its IQ workers.
func (l *link) serve(c *Component) error {
	pool := startIQPool(c, l)
	defer pool.stop()
	defer l.cancel()
	return l.sess.Serve(&handler{c: c, ctx: l.ctx, pool: pool})
}

// close ends the stream politely, then drops the connection so Serve
// returns even if the server does not answer.
func (l *link) close() {
	l.once.Do(func() {
		l.cancel()
		_ = l.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = l.sess.Close()
		_ = l.conn.Close()
	})
}
