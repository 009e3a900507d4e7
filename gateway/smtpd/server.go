package smtpd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

// Server is an SMTP intake in one Mode. Create it with New.
type Server struct {
	cfg      Config
	log      *zap.Logger
	budget   *Budget // DATA memory, shared with the other listeners
	smtp     *smtp.Server
	draining atomic.Bool
	wg       sync.WaitGroup

	mu    sync.Mutex
	conns map[*conn]struct{}

	// dataStores are the read buffers of connections in DATA (*[]byte of
	// dataStore bytes).
	dataStores sync.Pool
}

// New checks cfg, applies defaults and builds a Server.
func New(cfg Config) (*Server, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: c, log: c.Logger.Named("smtpd"), budget: c.DataBudget, conns: make(map[*conn]struct{})}
	if s.budget == nil {
		s.budget = NewBudget(DefaultDataMemoryBudget)
	}
	s.dataStores.New = func() any { b := make([]byte, dataStore); return &b }
	gs := smtp.NewServer(backend{s})
	gs.Domain = c.Hostname
	gs.MaxRecipients = c.MaxRecipients
	gs.MaxMessageBytes = c.MaxMessageBytes
	gs.MaxLineLength = 0 // enforced by conn, with the DATA/command distinction
	gs.ReadTimeout = 0   // conn applies ReadTimeout per read
	gs.WriteTimeout = c.WriteTimeout
	gs.TLSConfig = c.TLS        // only makes go-smtp advertise STARTTLS; conn runs it
	gs.AllowInsecureAuth = true // conn runs TLS, so go-smtp cannot tell; session gates AUTH
	gs.EnableSMTPUTF8 = true
	gs.EnableDSN = c.EnableDSN
	gs.ErrorLog = errorLog{s.log}
	s.smtp = gs
	return s, nil
}

// Serve accepts connections on l until l fails, Shutdown is called or ctx is
// done. ctx is also the parent of every session's context (Router, Sink and
// Authenticator calls); when it is done, all connections are closed at once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			_ = s.smtp.Close()
		case <-stop:
		}
	}()
	s.log.Info("listening", zap.String("addr", l.Addr().String()), zap.Stringer("mode", s.cfg.Mode))
	err := s.smtp.Serve(&listener{Listener: l, srv: s, ctx: ctx, perIP: map[netip.Prefix]int{}})
	if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes idle connections with 421 and lets
// messages in the middle of DATA finish; when ctx is done, the remaining
// connections are closed and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	done := make(chan error, 1)
	go func() { done <- s.smtp.Shutdown(context.Background()) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.kickIdle()
		select {
		case err := <-done:
			s.wg.Wait()
			if errors.Is(err, smtp.ErrServerClosed) {
				return nil
			}
			return err
		case <-ctx.Done():
			_ = s.smtp.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// kickIdle interrupts blocked reads so connections notice the shutdown.
func (s *Server) kickIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.raw.SetReadDeadline(time.Now())
	}
}

func (s *Server) newConn(ctx context.Context, raw net.Conn, release func()) *conn {
	sid := newSessionID()
	c := &conn{
		srv: s, raw: raw, rw: raw, sid: sid, ctx: ctx, release: release,
		log:   s.log.With(zap.String("sid", sid), zap.String("remote", raw.RemoteAddr().String())),
		small: make([]byte, smallStore),
	}
	c.store = c.small
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.log.Debug("connection accepted")
	return c
}

// fullStore is the read buffer that holds the longest line any mode may
// buffer (a SASL response) and a read after it.
func (s *Server) fullStore() int {
	return max(s.cfg.MaxLineLength+maxExtensionAllowance, saslLineLength) + 2*readChunk
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// goSafe runs f in a goroutine that recovers and logs panics.
func (s *Server) goSafe(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("panic", zap.Any("panic", r), zap.Stack("stack"))
			}
		}()
		f()
	}()
}

// errorLog routes go-smtp's internal errors (including recovered panics) to zap.
type errorLog struct{ l *zap.Logger }

func (e errorLog) Printf(format string, v ...any) { e.l.Warn(fmt.Sprintf(format, v...)) }
func (e errorLog) Println(v ...any)               { e.l.Warn(fmt.Sprint(v...)) }
