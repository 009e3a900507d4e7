package forward

import (
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/gateway/mime"
	"passerelle/gateway/queue"
)

// Sender sends one stanza and returns once the server acknowledged it
// (bridge/xmpp.Component).
type Sender interface {
	Send(ctx context.Context, m xmpp.Message) error
	Connected() bool
}

// Target delivers spooled forward-path mail over the component link. It
// implements queue.Target.
type Target struct {
	Sender     Sender
	MIMELimits mime.Limits
	MaxBody    int64         // largest spooled body it will read; 0: 64 MiB
	MaxStanza  int           // the server's stanza limit; 0: 512 KiB (Prosody, components)
	LinkRetry  time.Duration // retry delay while the link is down; 0: 30s
	Log        *zap.Logger
	// Plaintext is called for each mail delivered without OX encryption
	// (policy allowed it); nil: not counted.
	Plaintext func()
	// Known reports whether a local address is known to be a user (the
	// user list or the directory); a recipient whose key was found is
	// known anyway. nil: only those.
	Known func(addr string) bool
	// Domain, when set, is this node's component domain on a shared spool
	// where each node has its own (Prosody takes one connection per
	// component): mail another node accepted names that node's puppet as
	// the sender. Plaintext mail is sent from the same puppet on Domain;
	// end-to-end encrypted mail was signed with the other node's puppet
	// key, so only that node can send it: it is retried here (RetryAfter
	// CrossNodeRetry) until that node claims it.
	Domain string
}

// CrossNodeRetry is how soon encrypted mail sealed by another node's
// puppet is handed back for that node to claim.
const CrossNodeRetry = 30 * time.Second

// Deliver sends the recipient's stanza. XMPP errors that cannot change on a
// retry (unknown user, forbidden) are permanent and produce a DSN.
func (t *Target) Deliver(ctx context.Context, d *queue.Delivery) error {
	if !t.Sender.Connected() {
		// Fail fast: a worker waiting for the link would hold up shutdown
		// and every other message.
		return t.classify(xmpp.ErrNotConnected)
	}
	p := d.Recipient.Params
	to, err1 := jid.Parse(p[ParamJID])
	from, err2 := jid.Parse(p[ParamFrom])
	if err := errors.Join(err1, err2); err != nil || p[ParamOriginID] == "" {
		return queue.Permanent(fmt.Errorf("forward: bad recipient parameters: %w", err))
	}
	if t.Domain != "" && from.Domainpart() != t.Domain {
		if p[ParamEnc] != "none" {
			return queue.RetryAfter(fmt.Errorf("forward: sealed by the puppet on %s; left for the node serving it", from.Domainpart()), CrossNodeRetry)
		}
		if from, err1 = jid.New(from.Localpart(), t.Domain, ""); err1 != nil {
			return queue.Permanent(fmt.Errorf("forward: puppet on %s: %w", t.Domain, err1))
		}
	}
	body, err := t.readBody(ctx, d)
	if err != nil {
		return err
	}
	var children []xml.Token
	switch p[ParamEnc] {
	case "ox":
		children = oxChildren(body, p[ParamOriginID])
	case "omemo":
		if children, err = omemoChildren(body, p[ParamOriginID]); err != nil {
			return queue.Permanent(fmt.Errorf("forward: spooled OMEMO element: %w", err))
		}
	case "none":
		m, err := mime.Parse(body, t.MIMELimits)
		if err != nil {
			return queue.Permanent(fmt.Errorf("forward: spooled message no longer parses: %w", err))
		}
		// Accept checked that the whole mail fits; it may not if the
		// limit was lowered since: a DSN then, never a truncated mail.
		if children, err = plainChildren(m, body, p[ParamOriginID], cmp.Or(t.MaxStanza, 512<<10), p[ParamUnverified]); err != nil {
			return queue.Permanent(fmt.Errorf("forward: plaintext stanza: %w", err))
		}
	default:
		return queue.Permanent(fmt.Errorf("forward: unknown encoding %q", p[ParamEnc]))
	}
	err = t.Sender.Send(ctx, xmpp.Message{ID: p[ParamOriginID], From: from, To: to,
		Type: stanza.ChatMessage, Payload: xmpp.Tokens(children...)})
	if err == nil && p[ParamEnc] == "none" && t.Plaintext != nil {
		t.Plaintext()
	}
	return t.classifyFor(d, err)
}

// classifyFor is classify for d's recipient. Prosody answers a message to
// an offline user whose offline store is full (storage_archive_item_limit,
// mod_storage_internal's "quota-limit") exactly as it answers one to an
// account that does not exist: service-unavailable, type cancel, no text
// (mod_message process_to_bare, RFC 6121 §8.5.2). For a recipient known to
// exist (its key was found at RCPT over PEP or in the keyring, or the
// directory lists it) that can only be a full mailbox: temporary, RFC 3463
// 4.2.2, retried on the normal schedule, and 5.2.2 if it expires.
//
// ejabberd (23.01 mod_offline, max_user_offline_messages) says so
// outright: resource-constraint, type wait, "Your contact offline message
// queue is full". That is the same full mailbox, whoever the recipient:
// 4.2.2, 5.2.2 at expiry, not the 4.3.1 ("mail system full") and 4.4.7
// the condition alone would give.
func (t *Target) classifyFor(d *queue.Delivery, err error) error {
	var xe *xmpp.Error
	if !errors.As(err, &xe) {
		return t.classify(err)
	}
	switch {
	case xe.Condition == "service-unavailable" && !xe.Temporary() && t.exists(d):
		return queue.WithDiagnostic(fmt.Errorf("forward: %w (the recipient exists: offline storage full)", err),
			queue.Diagnostic{Status: "4.2.2", ExpiryStatus: "5.2.2", Type: "x-xmpp",
				Text: "service-unavailable: mailbox full (offline storage)"})
	case xe.Condition == "resource-constraint" && xe.Temporary():
		return queue.WithDiagnostic(fmt.Errorf("forward: %w (offline storage full)", err),
			queue.Diagnostic{Status: "4.2.2", ExpiryStatus: "5.2.2", Type: "x-xmpp",
				Text: "resource-constraint: mailbox full (offline storage)"})
	}
	return t.classify(err)
}

// exists reports whether d's recipient is known to be a user.
func (t *Target) exists(d *queue.Delivery) bool {
	switch d.Recipient.Params[ParamEnc] {
	case "ox", "omemo":
		return true
	}
	return t.Known != nil && t.Known(d.Recipient.Addr)
}

func (t *Target) readBody(ctx context.Context, d *queue.Delivery) ([]byte, error) {
	rc, err := d.OpenBody(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	max := t.MaxBody
	if max <= 0 {
		max = 64 << 20
	}
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err // ErrDamaged passes through: the queue quarantines
	}
	if int64(len(b)) > max {
		return nil, queue.Permanent(fmt.Errorf("forward: spooled body over %d bytes", max))
	}
	return b, nil
}

// classify turns a Send error into the queue's terms.
func (t *Target) classify(err error) error {
	if err == nil {
		return nil
	}
	var xe *xmpp.Error
	if errors.As(err, &xe) {
		diag := queue.Diagnostic{Status: xmppStatus(xe), Type: "x-xmpp", Text: xe.Condition}
		if xe.Text != "" {
			diag.Text += ": " + xe.Text
		}
		err = queue.WithDiagnostic(err, diag)
		if !xe.Temporary() {
			return queue.Permanent(err)
		}
	}
	if errors.Is(err, xmpp.ErrNotConnected) || errors.Is(err, xmpp.ErrLinkLost) {
		d := t.LinkRetry
		if d <= 0 {
			d = 30 * time.Second
		}
		return queue.RetryAfter(err, d)
	}
	return err
}

// xmppStatus maps an XMPP stanza error to an RFC 3463 status for the DSN.
func xmppStatus(e *xmpp.Error) string {
	switch e.Condition {
	case "service-unavailable", "item-not-found", "recipient-unavailable":
		if e.Temporary() {
			return "4.2.1"
		}
		return "5.1.1"
	case "forbidden", "not-allowed", "policy-violation", "not-authorized":
		return "5.7.1"
	case "remote-server-not-found", "remote-server-timeout":
		return "4.4.1"
	case "resource-constraint":
		return "4.3.1"
	}
	if e.Temporary() {
		return "4.0.0"
	}
	return "5.0.0"
}
