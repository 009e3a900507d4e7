package forward

import (
	"context"

	"go.uber.org/zap"

	"passerelle/gateway/mime"
	"passerelle/gateway/smtpd"
	"passerelle/policy"
)

// Replies for a submission user who writes a sender address that is not
// theirs (RFC 6409 §8: the MSA may enforce the binding; 5.7.1 as Postfix's
// reject_sender_login_mismatch).
var (
	errSenderNotOwned = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1},
		Msg: "Sender address not owned by the authenticated user"}
	errFromNotOwned = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1},
		Msg: "From header address not owned by the authenticated user"}
	errFromUnreadable = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1},
		Msg: "From header missing, repeated or unreadable"}
)

// Mail implements smtpd.Router: on submission, the reverse path must be
// an address the authenticated user may send as (policy.SendAs). <> stays
// allowed (a client's MDN, RFC 8098 §2.1): the header From decides then.
// MX sessions may use any reverse path.
// The transaction value counts the transaction's key lookups (txn).
func (f *Forward) Mail(_ context.Context, s *smtpd.Info, from string) (any, error) {
	if s.AuthUser != "" && from != "" && f.cfg.Policy.SendAs(s.AuthUser, from) == policy.SendAsDenied {
		f.log.Info("refused: MAIL FROM not owned by the user", zap.String("sid", s.ID),
			zap.String("user", f.cfg.HashAddr(s.AuthUser)), zap.String("mail_from", f.cfg.HashAddr(from)))
		return nil, errSenderNotOwned
	}
	return &txn{}, nil
}

// bindSender checks the header From of submitted mail, and the address
// the puppet key will sign as (sender), against the user's addresses. It
// reports whether the gateway vouches for them: false for a user allowed
// to send as anyone ("*"), whose mail is then marked like unverified MX
// mail. An unreadable or repeated From is refused: what the reader's
// client shows must be what was checked.
func (f *Forward) bindSender(env *smtpd.Envelope, m *mime.Message, data []byte, sender string) (bool, error) {
	froms, _, err := autocryptFields(data, f.cfg.MIMELimits.MaxHeaderBytes)
	if err != nil || froms > 1 || (froms == 1 && len(m.From) == 0) {
		f.log.Info("refused: From header unreadable", zap.String("sid", env.Session.ID), zap.Int("from_fields", froms))
		return false, errFromUnreadable
	}
	addrs := []string{sender}
	for _, a := range m.From {
		addrs = append(addrs, a.Addr)
	}
	vouched := true
	for _, a := range addrs {
		switch f.cfg.Policy.SendAs(env.Session.AuthUser, a) {
		case policy.SendAsDenied:
			f.log.Info("refused: From not owned by the user", zap.String("sid", env.Session.ID),
				zap.String("user", f.cfg.HashAddr(env.Session.AuthUser)), zap.String("from", f.cfg.HashAddr(a)))
			return false, errFromNotOwned
		case policy.SendAsAny:
			vouched = false
		}
	}
	return vouched, nil
}
