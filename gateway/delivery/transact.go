package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-smtp"
)

// transact sends MAIL, RCPT and DATA for m on c. Errors from the server or
// the connection are *hostError; a failure to read the body is returned as
// it is, without the final dot, so the server drops the transaction.
func (t *Target) transact(c *smtp.Client, s *session, m *Message) error {
	fail := func(st stage, err error) error { return &hostError{host: s.host, stage: st, err: err} }
	opts, err := mailOptions(c, m)
	if err != nil {
		return fail(stageMail, err)
	}
	if err := c.Mail(m.From, opts); err != nil {
		return fail(stageMail, err)
	}
	if err := c.Rcpt(m.To, rcptOptions(m)); err != nil {
		return fail(stageRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return fail(stageData, err)
	}
	body := &bodyReader{r: m.Body}
	if _, err := io.Copy(w, body); err != nil {
		if body.err != nil {
			return fmt.Errorf("read body: %w", body.err)
		}
		return fail(stageData, err)
	}
	if _, err := w.CloseWithResponse(); err != nil {
		return fail(stageData, err)
	}
	// RFC 3461 §4.2: a server offering DSN took the parameters with the
	// message and reports success itself.
	m.DSNPassedOn, _ = c.Extension("DSN")
	return nil
}

// mailOptions checks the message against the server's extensions and
// returns the MAIL parameters.
func mailOptions(c *smtp.Client, m *Message) (*smtp.MailOptions, error) {
	if max, ok := c.MaxMessageSize(); ok && max > 0 && m.Size > int64(max) {
		// RFC 1870 §6.1: the server will not take it, now or later.
		return nil, &statusError{status: "5.3.4", permanent: true,
			msg: fmt.Sprintf("message size %d exceeds the server's SIZE %d", m.Size, max)}
	}
	opts := &smtp.MailOptions{Size: m.Size}
	if !isASCII(m.From) || !isASCII(m.To) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			// RFC 6531 §3.2: an internationalised address cannot be sent.
			return nil, &statusError{status: "5.6.7", permanent: true, msg: "server does not support SMTPUTF8"}
		}
		opts.UTF8 = true
	}
	if printableASCII(m.EnvID) {
		opts.EnvelopeID = m.EnvID
	}
	return opts, nil
}

// rcptOptions passes the RFC 3461 parameters on; go-smtp sends them only
// if the server offers DSN.
func rcptOptions(m *Message) *smtp.RcptOptions {
	opts := &smtp.RcptOptions{Notify: notifySet(m.Notify)}
	typ, addr, ok := strings.Cut(m.ORCPT, ";")
	if ok && strings.EqualFold(typ, "rfc822") && addr != "" && printableASCII(addr) {
		opts.OriginalRecipientType, opts.OriginalRecipient = smtp.DSNAddressTypeRFC822, addr
	}
	return opts
}

// notifySet returns the valid NOTIFY keywords: NEVER alone, or any of
// SUCCESS, FAILURE, DELAY (RFC 3461 §4.1).
func notifySet(in []string) []smtp.DSNNotify {
	var out []smtp.DSNNotify
	for _, n := range in {
		v := smtp.DSNNotify(strings.ToUpper(n))
		switch v {
		case smtp.DSNNotifySuccess, smtp.DSNNotifyFailure, smtp.DSNNotifyDelayed, smtp.DSNNotifyNever:
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if len(out) > 1 && slices.Contains(out, smtp.DSNNotifyNever) {
		return nil
	}
	return out
}

// bodyReader remembers a read error, to tell it from a write error.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// contextError reports a cancelled attempt as such rather than as the
// closed connection it causes.
func contextError(ctx context.Context, err error) error {
	var he *hostError
	if ctx.Err() == nil || !errors.As(err, &he) {
		return err
	}
	he.err = fmt.Errorf("%w: %v", ctx.Err(), he.err)
	return he
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}
