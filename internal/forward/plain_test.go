package forward

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/gateway/smtpd"
)

// mailWithAttachment is a MIME mail with an HTML part and a binary
// attachment of n bytes whose base64 starts with a recognisable marker.
func mailWithAttachment(n int) string {
	blob := bytes.Repeat([]byte("attachment-marker "), n/18+1)[:n]
	b64 := base64.StdEncoding.EncodeToString(blob)
	var lines strings.Builder
	for len(b64) > 76 {
		lines.WriteString(b64[:76] + "\r\n")
		b64 = b64[76:]
	}
	lines.WriteString(b64 + "\r\n")
	return "From: bob@remote.example\r\nTo: notice@example.org\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=a.bin\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + lines.String() + "--b--\r\n"
}

// TestPlainRouteWholeOrRefused: a mail that travels in the clear (no key,
// policy no_key = "notice") is carried whole, attachments and HTML in
// <mail/>, or refused with 552 5.3.4 at end of DATA when it does not fit
// one stanza; it used to be accepted and delivered as truncated text.
func TestPlainRouteWholeOrRefused(t *testing.T) {
	const limit = 64 << 10
	for _, tc := range []struct {
		name       string
		attachment int
		rcpts      []string
		wantRefuse bool
	}{
		{name: "fits", attachment: 20 << 10, rcpts: []string{"notice@example.org"}},
		{name: "too large", attachment: 60 << 10, rcpts: []string{"notice@example.org"}, wantRefuse: true},
		{name: "too large, one keyed recipient too", attachment: 60 << 10,
			rcpts: []string{"alice@example.org", "notice@example.org"}, wantRefuse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := &fakeSpool{}
			f := newTestForward(t, fakeKeys{"alice@example.org": nil}, sp)
			f.cfg.MaxStanzaBytes = limit
			env := &smtpd.Envelope{From: "bob@remote.example", Received: "Received: from x by y; now\r\n"}
			for _, r := range tc.rcpts {
				route, err := f.Rcpt(context.Background(), &smtpd.Info{}, env.From, r)
				if err != nil {
					t.Fatal(err)
				}
				env.Recipients = append(env.Recipients, smtpd.Recipient{Addr: r, Route: route})
			}
			err := f.Accept(context.Background(), env, []byte(mailWithAttachment(tc.attachment)))
			if tc.wantRefuse {
				if got := smtpd.SMTPError(err); got == nil || got.Code != 552 || got.EnhancedCode != [3]int{5, 3, 4} {
					t.Fatalf("Accept = %v, want 552 5.3.4", got)
				}
				if sp.env != nil {
					t.Fatal("refused mail was spooled")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := sp.env.Recipients[0]
			s := &fakeSender{connected: true}
			tg := &Target{Sender: s, MaxStanza: limit}
			if err := tg.Deliver(context.Background(), delivery(r, sp.bodies[r.Body])); err != nil {
				t.Fatal(err)
			}
			out := encodeChildren(t, s.sent[0])
			if !strings.Contains(out, ">"+base64.StdEncoding.EncodeToString(sp.bodies[r.Body])+"</mail>") {
				t.Errorf("the stanza does not carry the whole mail (HTML, attachment) in <mail/>")
			}
			if !strings.Contains(out, "⚠ Warning: the sender address bob@remote.example could not be verified.") {
				t.Errorf("the plaintext stanza lacks the unverified-sender warning")
			}
			if len(out)+plainOverhead > limit {
				t.Errorf("stanza of %d bytes over the %d limit", len(out), limit)
			}
		})
	}
}

// TestPlainTargetNeverTruncates: a spooled plaintext mail that no longer
// fits (the limit was lowered) fails permanently, so the sender gets a
// DSN; it is not sent without its attachments.
func TestPlainTargetNeverTruncates(t *testing.T) {
	r := queue.Recipient{Params: map[string]string{ParamJID: "notice@example.org",
		ParamFrom: `bob\40remote.example@mail.example.org`, ParamOriginID: "o1", ParamEnc: "none"}}
	s := &fakeSender{connected: true}
	tg := &Target{Sender: s, MaxStanza: 32 << 10}
	err := tg.Deliver(context.Background(), delivery(r, []byte(mailWithAttachment(40<<10))))
	if !queue.IsPermanent(err) || len(s.sent) != 0 {
		t.Fatalf("Deliver = %v (permanent %v), %d sent; want a permanent failure and nothing sent", err, queue.IsPermanent(err), len(s.sent))
	}
}

func delivery(r queue.Recipient, body []byte) *queue.Delivery {
	return &queue.Delivery{Recipient: r,
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}
}

// encodeChildren writes the message's children as XML.
func encodeChildren(t *testing.T, m xmpp.Message) string {
	t.Helper()
	var b strings.Builder
	enc := xml.NewEncoder(&b)
	for {
		tok, err := m.Payload.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestTargetOtherNodesPuppet: on a shared spool each node has its own
// component domain. Plaintext mail another node accepted goes out from the
// same puppet on this node's domain; encrypted mail, sealed by the other
// node's puppet, is handed back (temporary, RetryAfter) and not sent.
func TestTargetOtherNodesPuppet(t *testing.T) {
	for _, tc := range []struct {
		name, enc, from, wantFrom string
		wantSent                  bool
	}{
		{"plaintext, other node", "none", `bob\40remote.example@mail1.example.org`, `bob\40remote.example@mail2.example.org`, true},
		{"plaintext, this node", "none", `bob\40remote.example@mail2.example.org`, `bob\40remote.example@mail2.example.org`, true},
		{"ox, other node", "ox", `bob\40remote.example@mail1.example.org`, "", false},
		{"ox, this node", "ox", `bob\40remote.example@mail2.example.org`, `bob\40remote.example@mail2.example.org`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeSender{connected: true}
			tg := &Target{Sender: s, Domain: "mail2.example.org"}
			body := "Subject: x\r\n\r\nhi\r\n"
			if tc.enc == "ox" {
				body = "ciphertext"
			}
			err := tg.Deliver(context.Background(), delivery(queue.Recipient{Params: map[string]string{ParamJID: "alice@example.org",
				ParamFrom: tc.from, ParamOriginID: "o1", ParamEnc: tc.enc}}, []byte(body)))
			if !tc.wantSent {
				if err == nil || queue.IsPermanent(err) || len(s.sent) != 0 {
					t.Fatalf("Deliver = %v, %d sent; want a temporary error and nothing sent", err, len(s.sent))
				}
				if d, ok := queue.RetryDelay(err); !ok || d != CrossNodeRetry {
					t.Fatalf("retry after %v (%v), want %v", d, ok, CrossNodeRetry)
				}
				return
			}
			if err != nil || len(s.sent) != 1 || s.sent[0].From.String() != tc.wantFrom {
				t.Fatalf("Deliver = %v, sent %+v; want one stanza from %s", err, s.sent, tc.wantFrom)
			}
		})
	}
}
