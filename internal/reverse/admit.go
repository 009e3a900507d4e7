package reverse

import (
	"strings"

	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/jidesc"
	"passerelle/policy"
)

// admit authorises the sender, checks the recipient and, if charge is set,
// applies the sender's limits. It sets in.sender and in.rcpt, or returns
// the refusal.
// The sender is the bare JID the server stamped on the stanza; its email
// address is the directory's (by default the same string, BRIEF: identity
// model), never anything in the content.
func (rv *Reverse) admit(in *inbound, charge bool) *refusal {
	bare := in.From.Bare()
	email, ok := rv.cfg.Policy.Email(bare.String())
	if bare.Localpart() == "" || !ok {
		rv.log.Info("refused: sender not local", rv.hash("from", bare.String()))
		return refuse(stanza.Auth, stanza.Forbidden,
			"Only users of this provider's own domains may send mail through this gateway.")
	}
	in.local = true
	if d := rv.cfg.Policy.Decide(email); d.Reverse == policy.ReverseDeny {
		rv.log.Info("refused: sender barred by policy", rv.hash("from", bare.String()), zap.String("rule", d.Source["reverse"]))
		return refuse(stanza.Auth, stanza.Forbidden, "You are not allowed to send mail through this gateway.")
	}
	if !strings.EqualFold(in.To.Domainpart(), rv.cfg.ComponentDomain) {
		return refuse(stanza.Cancel, stanza.ServiceUnavailable, "Not a mail address of this gateway.")
	}
	rcpt, err := jidesc.EmailFromPuppet(in.To.Bare())
	if err != nil {
		return refuse(stanza.Cancel, stanza.ItemNotFound,
			"This JID is not an email address on this gateway (write to user\\40example.net@"+rv.cfg.ComponentDomain+").")
	}
	if rv.cfg.Policy.IsLocal(rcpt) {
		return refuse(stanza.Cancel, stanza.NotAcceptable,
			"That address is a user of this provider: write to "+rcpt+" directly over XMPP.")
	}
	in.sender, in.senderJID, in.rcpt = email, bare.String(), rcpt
	if !charge {
		return nil
	}
	switch rv.limiter.allow(in.sender, rcpt) {
	case overRate:
		rv.log.Info("refused: rate limit", rv.hash("from", in.sender))
		return refuse(stanza.Wait, stanza.ResourceConstraint,
			"You are sending mail too fast; wait a minute and send the message again.")
	case overRecipients:
		rv.log.Info("refused: recipient limit", rv.hash("from", in.sender), zap.Int("limit", rv.cfg.Limits.MaxRecipientsPerHour))
		return refuse(stanza.Cancel, stanza.PolicyViolation,
			"You have written to too many different addresses in the last hour.")
	}
	return nil
}
