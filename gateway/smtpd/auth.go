package smtpd

import (
	"errors"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"go.uber.org/zap"
)

// AuthMechanisms offers PLAIN and LOGIN only in submission mode after TLS.
func (s *session) AuthMechanisms() []string {
	if s.srv.cfg.Mode != ModeSubmission || !s.c.isTLS() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts a SASL exchange (RFC 4954).
func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case s.srv.cfg.Mode != ModeSubmission:
		return nil, errAuthNotOffered
	case !s.c.isTLS():
		return nil, errAuthNeedsTLS
	case mech == sasl.Plain:
		return guard{sasl.NewPlainServer(s.authenticate)}, nil
	case mech == sasl.Login:
		return guard{&loginServer{auth: s.authenticate}}, nil
	}
	return nil, errAuthMechanism
}

// authenticate checks credentials; failures are delayed, counted, and the
// connection is dropped after MaxAuthFailures.
func (s *session) authenticate(identity, user, pass string) error {
	var err error
	if identity != "" && identity != user {
		err = errAuthIdentity
	} else {
		err = s.srv.cfg.Authenticator.Authenticate(s.ctx, user, pass)
	}
	if err == nil {
		s.authUser = user
		s.log.Info("authenticated", zap.String("user", s.srv.hide(user)))
		return nil
	}
	if errors.Is(err, AuthTemporary) {
		s.log.Warn("authentication unavailable", zap.Error(err))
		return SMTPError(err)
	}
	reply := kindReplies[AuthFailed] // whatever the cause: no internals, no user probing
	if err == errAuthIdentity {
		reply = errAuthIdentity
	}
	s.c.authFails++
	s.log.Info("authentication failed", zap.String("user", s.srv.hide(user)), zap.Int("failures", s.c.authFails))
	s.pause(time.Duration(s.c.authFails) * s.srv.cfg.AuthFailureDelay)
	if s.c.authFails >= s.srv.cfg.MaxAuthFailures {
		s.c.dropAfter = lineTooManyAuth
	}
	return reply
}

func (s *session) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// guard keeps go-sasl's internal error texts off the wire.
type guard struct{ sasl.Server }

func (g guard) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := g.Server.Next(resp)
	if err != nil {
		var se *smtp.SMTPError
		if !errors.As(err, &se) {
			err = errAuthMalformed
		}
	}
	return ch, done, err
}

// loginServer is the server side of the obsolete but common LOGIN mechanism.
type loginServer struct {
	auth func(identity, user, pass string) error
	user string
	step int
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user, l.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.auth("", l.user, string(resp))
	}
	return nil, true, errAuthMalformed
}
