package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

type backend struct{ s *Server }

func (b backend) NewSession(sc *smtp.Conn) (smtp.Session, error) {
	c, ok := sc.Conn().(*conn)
	if !ok {
		return nil, errNotOurConn
	}
	ctx, cancel := context.WithCancel(c.ctx)
	return &session{srv: b.s, c: c, sc: sc, ctx: ctx, cancel: cancel, log: c.log}, nil
}

// session holds one client's transaction; go-smtp owns command order.
type session struct {
	srv      *Server
	c        *conn
	sc       *smtp.Conn
	ctx      context.Context
	cancel   context.CancelFunc
	log      *zap.Logger
	authUser string
	env      *Envelope
}

func (s *session) info() Info {
	return Info{ID: s.c.sid, Remote: s.c.raw.RemoteAddr().String(), Mode: s.srv.cfg.Mode,
		Helo: s.sc.Hostname(), TLS: s.c.isTLS(), AuthUser: s.authUser}
}

func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	if s.srv.cfg.Mode == ModeSubmission && s.authUser == "" {
		return errAuthRequired
	}
	if err := checkMailPath(rawPath(s.c.lastLine, "FROM:"), opts.UTF8); err != nil {
		reply := SMTPError(err)
		s.log.Info("MAIL refused", zap.String("from", s.srv.hide(from)), s.srv.cause(err, reply))
		return reply
	}
	if opts.Size > 0 && opts.Size <= s.srv.cfg.MaxMessageBytes && !s.srv.budget.fits(opts.Size*DataMemoryFactor) {
		// RFC 1870 §6.1: 452 at MAIL for a SIZE the server cannot hold now
		s.log.Info("MAIL refused: memory budget cannot hold the declared SIZE", zap.Int64("size", opts.Size))
		return SMTPError(NoMemory)
	}
	info := s.info()
	txn, err := s.srv.cfg.Router.Mail(s.ctx, &info, from)
	if err != nil {
		reply := SMTPError(err)
		s.log.Info("MAIL refused", zap.String("from", s.srv.hide(from)), s.srv.cause(err, reply))
		return reply
	}
	info.Txn = txn
	s.env = &Envelope{Session: info, From: from, Time: time.Now(), Params: MailParams{
		Size: opts.Size, Body: string(opts.Body), SMTPUTF8: opts.UTF8,
		Ret: string(opts.Return), EnvID: opts.EnvelopeID,
	}}
	return nil
}

func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if s.env == nil {
		return errUnknown // go-smtp checks MAIL first; defensive
	}
	err := checkRcptPath(rawPath(s.c.lastLine, "TO:"), s.env.Params.SMTPUTF8)
	var route any
	if err == nil {
		info := s.env.Session
		route, err = s.srv.cfg.Router.Rcpt(s.ctx, &info, s.env.From, to)
	}
	if err != nil {
		reply := SMTPError(err)
		s.log.Info("RCPT refused", zap.String("to", s.srv.hide(to)), s.srv.cause(err, reply))
		// A client that goes on past the Router's rate limit is only
		// probing: after MaxBadCommands such replies, 421 and close.
		if errors.Is(err, RateLimited) {
			if s.c.rateLimited++; s.c.rateLimited >= s.srv.cfg.MaxBadCommands {
				s.c.dropAfter = lineTooManyLimited
			}
		}
		return reply
	}
	r := Recipient{Addr: to, Route: route, ORcpt: opts.OriginalRecipient}
	for _, n := range opts.Notify {
		r.Notify = append(r.Notify, string(n))
	}
	s.env.Recipients = append(s.env.Recipients, r)
	return nil
}

// Data reads the message within the process-wide memory budget (H4) and
// hands it to the Sink; the reservation lasts until the Sink returns. When
// the budget is spent the reply is 452 4.3.1 and go-smtp drains the rest of
// DATA without buffering it, so the session stays in step.
func (s *session) Data(r io.Reader) error {
	outcome := "aborted"
	defer func() { s.srv.cfg.Metrics.Transaction(s.srv.cfg.Mode.String(), outcome) }()
	buf := dataBuffer{b: s.srv.budget, factor: DataMemoryFactor}
	defer buf.release()
	data, front, err := buf.read(r, min(s.env.Params.Size, s.srv.cfg.MaxMessageBytes), s.srv.cfg.MaxMessageBytes)
	if errors.Is(err, errNoMemory) {
		s.log.Warn("DATA refused: memory budget spent", zap.Int64("budget", s.srv.budget.Limit()))
		return SMTPError(NoMemory)
	}
	if err != nil || s.c.dead.Load() {
		s.log.Info("DATA aborted", zap.Error(err))
		if se := (*smtp.SMTPError)(nil); errors.As(err, &se) {
			return SMTPError(se) // go-smtp's size limit: 552 5.3.4
		}
		return errDataRead
	}
	if s.c.longLine {
		s.log.Info("DATA refused: text line too long", zap.Int("limit", s.srv.cfg.MaxDataLineLength))
		return errDataLineTooLong
	}
	s.env.Received = s.received()
	s.env.front = front
	if err := s.srv.cfg.Sink.Accept(s.ctx, s.env, data); err != nil {
		s.log.Warn("message not stored", zap.Error(err))
		outcome = "refused"
		return SMTPError(err)
	}
	outcome = "accepted"
	s.log.Info("message accepted", zap.String("from", s.srv.hide(s.env.From)),
		zap.Int("rcpts", len(s.env.Recipients)), zap.Int("bytes", len(data)))
	return nil
}

func (s *session) Reset() { s.env = nil }

func (s *session) Logout() error {
	s.cancel()
	s.log.Debug("session ended")
	return nil
}

// cause logs a refusal: the reply only, since Router errors may name
// addresses, unless debug logging is on.
func (s *Server) cause(err error, reply *smtp.SMTPError) zap.Field {
	if s.log.Core().Enabled(zap.DebugLevel) {
		return zap.Error(err)
	}
	ec := reply.EnhancedCode
	return zap.String("reply", fmt.Sprintf("%d %d.%d.%d", reply.Code, ec[0], ec[1], ec[2]))
}

// hide hashes an address for logging unless debug logging is on.
func (s *Server) hide(addr string) string {
	if s.log.Core().Enabled(zap.DebugLevel) {
		return addr
	}
	return s.cfg.AddressHasher(addr)
}

// received builds the trace field (RFC 5321 §4.4; protocol names RFC 3848,
// RFC 6531 §3.7.3).
func (s *session) received() string {
	proto := "ESMTP"
	if s.env.Params.SMTPUTF8 {
		proto = "UTF8SMTP"
	}
	if s.env.Session.TLS {
		proto += "S"
	}
	if s.env.Session.AuthUser != "" {
		proto += "A"
	}
	helo := sanitize(s.env.Session.Helo)
	if helo == "" {
		helo = "unknown"
	}
	host, _, _ := net.SplitHostPort(s.env.Session.Remote)
	return fmt.Sprintf("Received: from %s ([%s])\r\n\tby %s with %s id %s;\r\n\t%s\r\n",
		helo, host, s.srv.cfg.Hostname, proto, s.c.sid, time.Now().Format(time.RFC1123Z))
}
