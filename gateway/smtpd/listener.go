package smtpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
)

// listener enforces MaxConns and MaxConnsPerIP and wraps each accepted
// connection in a strict conn before go-smtp sees it.
type listener struct {
	net.Listener
	srv *Server
	ctx context.Context

	mu    sync.Mutex
	total int
	perIP map[netip.Prefix]int
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ipKey(raw.RemoteAddr())
		if line := l.acquire(key); line != "" {
			l.srv.cfg.Metrics.Connection(l.srv.cfg.Mode.String(), refusedResult(line))
			l.srv.goSafe(func() { refuse(raw, line) })
			l.srv.log.Info("connection refused", zap.String("remote", raw.RemoteAddr().String()),
				zap.String("reason", line))
			continue
		}
		l.srv.cfg.Metrics.Connection(l.srv.cfg.Mode.String(), "accepted")
		return l.srv.newConn(l.ctx, raw, func() { l.releaseSlot(key) }), nil
	}
}

func (l *listener) acquire(key netip.Prefix) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.total >= l.srv.cfg.MaxConns:
		return lineBusy
	case l.perIP[key] >= l.srv.cfg.MaxConnsPerIP:
		return linePerIP
	}
	l.total++
	l.perIP[key]++
	return ""
}

func (l *listener) releaseSlot(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[key]--; l.perIP[key] <= 0 {
		delete(l.perIP, key)
	}
}

func refusedResult(line string) string {
	if line == linePerIP {
		return "refused_per_ip"
	}
	return "refused_busy"
}

func refuse(c net.Conn, line string) {
	defer c.Close()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte(line + "\r\n"))
}

// ipKey groups IPv4 addresses by address and IPv6 ones by /64.
func ipKey(a net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
