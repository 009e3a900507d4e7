package forward

import (
	"context"

	"go.uber.org/zap"

	"passerelle/gateway/authres"
	"passerelle/gateway/smtpd"
)

// Verifier authenticates the From domain of incoming mail with DKIM and
// DMARC (gateway/authres.Verifier).
type Verifier interface {
	Verify(ctx context.Context, raw []byte) authres.Result
}

// errDMARCReject is the end-of-DATA reply for mail its author domain asks
// us to refuse (RFC 7489 §6.6.4, §10.2 suggests 5.7.1).
var errDMARCReject = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 7, 1},
	Msg: "Message rejected: it fails the DMARC policy (p=reject) of its From domain"}

// unverifiedNotice is the first line of the text rendition of mail whose
// sender could not be authenticated: the puppet key signs it all the same,
// so the OX client shows it as verified, and the reader must be told.
func unverifiedNotice(sender string) string {
	return "⚠ Warning: the sender address " + sender + " could not be verified. " +
		"This message may not really come from them; be careful with its links, attachments and requests.\n\n"
}

// authentication is what authenticate decided for one message.
type authentication struct {
	field string // Authentication-Results field to prepend, or ""
	mark  bool   // warn the reader that the sender is unverified
	learn bool   // the From passed DKIM/DMARC: its Autocrypt header may teach a key
	// peerDomain is the sender domain a peer gateway was verified for
	// (AcceptPeer): mark is decided against the From once parsed.
	peerDomain string
}

// authenticate checks the sender of mail from an unauthenticated session
// and returns data without Authentication-Results fields claiming our
// hostname (RFC 8601 §5: a sender must not be able to forge our verdict;
// removed with or without a Verifier).
//
// Only mail whose From domain fails DMARC and publishes p=reject (for all
// of its mail) is refused, and only when RejectDMARC is set: the domain's
// owner asked for exactly that. Mail that is merely unsigned, signed by
// another domain or from a domain without DMARC is delivered and marked:
// most legitimate mail on the Internet is in one of those cases, and
// refusing it would lose mail the user wants. A temperror never refuses.
// Without a Verifier nothing is verified, so every MX sender is treated
// as unverified: marked, "none" recorded, no Autocrypt learned.
//
// Submission sessions get "auth=pass smtp.auth=USER" (RFC 8601 §2.7.4);
// Accept then binds the From to the user (bindSender) and never learns
// Autocrypt from them: an account may be shared or stolen, and a key
// learned for a remote address would redirect replies.
func (f *Forward) authenticate(ctx context.Context, env *smtpd.Envelope, data []byte) ([]byte, authentication, error) {
	stripped := authres.StripOwn(data, f.cfg.Hostname)
	if env.Session.AuthUser != "" {
		return stripped, authentication{field: authres.SubmissionField(f.cfg.Hostname, env.Session.AuthUser)}, nil
	}
	if f.cfg.Verifier == nil {
		return stripped, authentication{field: authres.NoneField(f.cfg.Hostname), mark: true}, nil
	}
	res := f.cfg.Verifier.Verify(ctx, data)
	f.log.Info("sender authentication", zap.String("sid", env.Session.ID),
		zap.String("mail_from", f.cfg.HashAddr(env.From)), zap.String("verdict", string(res.Verdict)),
		zap.Bool("dkim_aligned", res.DKIMPass), zap.String("dmarc_policy", string(res.DMARCPolicy)))
	if f.cfg.RejectDMARC && res.RejectedByPolicy() {
		return nil, authentication{}, errDMARCReject
	}
	pass := res.Verdict == authres.Pass
	return stripped, authentication{field: res.Field(), mark: !pass, learn: pass}, nil
}
