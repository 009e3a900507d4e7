package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

const (
	readChunk = 4096
	// smallStore is a connection's own read buffer in command mode: a
	// command line or a few pipelined ones. An idle connection holds only
	// this. DATA is read through a dataStore buffer from the server's
	// pool, given back once the connection is in command mode again with
	// nothing buffered; a line longer than the buffer in hand (a SASL
	// response, a long command) makes the connection a full buffer
	// (Server.fullStore), kept until it closes.
	smallStore = 1024
	dataStore  = 2 * readChunk
	// probeWindow is how long we listen for bytes a client sent too early
	// (before the reply to DATA or STARTTLS).
	probeWindow = 3 * time.Millisecond
)

type mode int

const (
	modeCommand mode = iota
	modeData         // after 354, until the ".\r\n" line
	modeAuth         // after 334: the next line is a SASL response
)

// conn is the net.Conn go-smtp sees. It validates the byte stream (see
// scanLine), hands go-smtp at most one line per Read, runs STARTTLS itself
// and filters go-smtp's replies. Read, Write and the session methods run on
// go-smtp's connection goroutine; Close may come from any goroutine.
type conn struct {
	srv     *Server
	raw     net.Conn
	log     *zap.Logger
	sid     string
	ctx     context.Context
	release func()
	dead    atomic.Bool
	once    sync.Once

	// Owned by the connection goroutine.
	rw          io.ReadWriter // raw, or the *tls.Conn after STARTTLS
	tls         *tls.Conn
	store       []byte // backing array of buf: small, a pooled dataStore, or a full one
	small       []byte // the connection's own smallStore buffer
	pooled      bool   // store came from srv.dataStores
	buf         []byte // bytes read but not yet checked and handed on
	out         []byte // checked bytes go-smtp has not read yet
	outBuf      []byte // backing array of out
	rerr        error  // sticky read error seen while probing
	mode        mode
	atStart     bool   // DATA: at the start of a line
	dataLine    int    // DATA: octets of the current text line so far
	longLine    bool   // DATA: a text line exceeded MaxDataLineLength
	lastVerb    string // verb of the command awaiting its reply
	lastLine    string // last command handed to go-smtp, without CRLF
	needEHLO    bool
	greeted     bool
	bad         int
	dropAfter   string // sent after the next final reply, then close
	wbuf        []byte
	authFails   int
	rateLimited int // RCPTs the Router refused with RateLimited
}

func (c *conn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.dead.Load() {
			return 0, io.EOF
		}
		if err := c.nextLine(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// nextLine moves the next checked line (or DATA piece) to c.out, or handles
// it here (STARTTLS, refused commands).
func (c *conn) nextLine() error {
	for !c.dead.Load() {
		n, full, err := scanLine(c.buf, c.lineLimit(), c.mode == modeData, c.atStart)
		if err != nil {
			return c.violation(err)
		}
		if n == 0 {
			if err := c.fill(true); err != nil {
				return c.readFailed(err)
			}
			continue
		}
		line := c.buf[:n]
		c.buf = c.buf[n:]
		if c.commit(line, full) {
			c.outBuf = append(c.outBuf[:0], line...)
			c.out = c.outBuf
			return nil
		}
	}
	return io.EOF
}

// lineLimit bounds the line the reader may buffer: none in DATA (pieces
// are handed on; commit counts text line lengths), a SASL line in AUTH,
// else the longest command any verb may send (command checks each verb's).
func (c *conn) lineLimit() int {
	switch c.mode {
	case modeData:
		return 0 // bounded by MaxMessageBytes
	case modeAuth:
		return max(c.srv.cfg.MaxLineLength, saslLineLength)
	}
	return c.srv.cfg.MaxLineLength + maxExtensionAllowance
}

// fill reads more input into c.buf. idle applies the read timeout.
func (c *conn) fill(idle bool) error {
	if c.rerr != nil {
		return c.rerr
	}
	c.fitStore()
	room := min(readChunk, len(c.store)/2) // the least a read gets
	if len(c.buf) == 0 {
		c.buf = c.store[:0]
	} else if cap(c.buf)-len(c.buf) < room {
		if len(c.buf)+room > len(c.store) {
			c.useStore(make([]byte, c.srv.fullStore()), false)
		}
		c.buf = c.store[:copy(c.store, c.buf)]
	}
	if idle {
		_ = c.raw.SetReadDeadline(time.Now().Add(c.srv.cfg.ReadTimeout))
	}
	m, err := c.rw.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+m]
	if m > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// fitStore picks the read buffer for the mode (see smallStore): a pooled
// dataStore buffer for DATA, the connection's own small one again after.
func (c *conn) fitStore() {
	switch {
	case c.mode == modeData && len(c.store) < dataStore:
		c.useStore(*c.srv.dataStores.Get().(*[]byte), true)
	case c.mode != modeData && c.pooled && len(c.buf) == 0:
		c.useStore(c.small, false)
		if cap(c.outBuf) > smallStore {
			c.outBuf = nil // a DATA piece's worth
		}
	}
}

// useStore moves what is buffered to store, which is pooled if it came
// from the server's pool, and gives the pooled buffer in use (if any)
// back.
func (c *conn) useStore(store []byte, pooled bool) {
	n := copy(store, c.buf)
	if c.pooled {
		old := c.store
		c.srv.dataStores.Put(&old)
	}
	c.store, c.buf, c.pooled = store, store[:n], pooled
}

// waiting reports whether the client has sent bytes go-smtp has not asked
// for, listening up to d for more.
func (c *conn) waiting(d time.Duration) bool {
	if len(c.buf) > 0 || len(c.out) > 0 {
		return true
	}
	if c.rerr != nil {
		return false
	}
	_ = c.raw.SetReadDeadline(time.Now().Add(d))
	if err := c.fill(false); err != nil && !isTimeout(err) {
		c.rerr = err
	}
	return len(c.buf) > 0
}

func (c *conn) readFailed(err error) error {
	switch {
	case isTimeout(err) && c.srv.draining.Load() && c.mode == modeData:
		return nil // let the message in flight finish
	case isTimeout(err) && c.srv.draining.Load():
		c.fail(lineShutdown, "shutdown")
	case isTimeout(err):
		c.fail(lineIdle, "idle timeout")
	default:
		c.log.Debug("read ended", zap.Error(err))
		c.kill()
	}
	return io.EOF
}

func (c *conn) violation(err error) error {
	line := lineBareCRLF
	switch err {
	case errNUL:
		line = lineNUL
	case errLongLine:
		line = lineTooLong
	}
	c.fail(line, err.Error())
	return io.EOF
}

// fail sends a last reply (if any), logs the reason once and closes.
func (c *conn) fail(line, reason string) {
	if c.dead.Load() {
		return
	}
	c.log.Info("closing connection", zap.String("reason", reason))
	if line != "" {
		c.emit(line)
	}
	c.kill()
}

func (c *conn) kill() {
	c.dead.Store(true)
	_ = c.raw.Close()
}

func (c *conn) Close() error {
	c.once.Do(func() {
		c.dead.Store(true)
		_ = c.raw.Close()
		c.srv.untrack(c)
		c.release()
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Read deadlines belong to this type (see fill); go-smtp's are ignored.
func (c *conn) SetDeadline(t time.Time) error      { return c.raw.SetWriteDeadline(t) }
func (c *conn) SetReadDeadline(time.Time) error    { return nil }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// hasPrefixFold reports whether s starts with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
