package reverse

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
)

// testDSN has the shape gateway/queue builds (RFC 3464).
const testDSN = "From: Mail Delivery System <postmaster@mx.example.org>\r\nTo: <alice@example.org>\r\n" +
	"Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThis is the mail delivery system.\r\n" +
	"--b1\r\nContent-Type: message/delivery-status\r\n\r\n" +
	"Reporting-MTA: dns; mx.example.org\r\nArrival-Date: Mon, 02 Jan 2026 15:04:05 +0000\r\n\r\n" +
	"Original-Recipient: rfc822;bob@remote.example\r\nFinal-Recipient: rfc822; bob@remote.example\r\n" +
	"Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.remote.example\r\n" +
	"Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.example>: no such\r\n user\r\n\r\n" +
	"Final-Recipient: rfc822; carol@remote.example\r\nAction: failed\r\nStatus: 4.4.7\r\n" +
	"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: x\r\n--b1--\r\n"

func TestParseDSN(t *testing.T) {
	rs, err := ParseDSN([]byte(testDSN))
	if err != nil {
		t.Fatal(err)
	}
	want := []DSNRecipient{
		{FinalRecipient: "bob@remote.example", Action: "failed", Status: "5.1.1",
			Diagnostic: "550 5.1.1 <bob@remote.example>: no such user", RemoteMTA: "mx.remote.example"},
		{FinalRecipient: "carol@remote.example", Action: "failed", Status: "4.4.7"},
	}
	if len(rs) != len(want) || rs[0] != want[0] || rs[1] != want[1] {
		t.Fatalf("ParseDSN = %+v\nwant %+v", rs, want)
	}
	if got := NoticeText(rs[0]); got != "Your message to bob@remote.example could not be delivered: "+
		"550 5.1.1 <bob@remote.example>: no such user (reported by mx.remote.example)." {
		t.Errorf("NoticeText = %q", got)
	}
	for i, bad := range []string{"", "Subject: x\r\n\r\nhello", strings.Replace(testDSN, "delivery-status;", "disposition-notification;", 1)} {
		if _, err := ParseDSN([]byte(bad)); err == nil {
			t.Errorf("%d: not a DSN, accepted", i)
		}
	}
}

func TestNoticeTarget(t *testing.T) {
	s := &fakeSender{}
	nt := &NoticeTarget{Sender: s, ComponentDomain: component, Plaintext: func(string) bool { return true }}
	d := &queue.Delivery{ID: "q1", IsDSN: true, Recipient: queue.Recipient{Addr: "alice@example.org",
		Route: RouteNotice, Params: map[string]string{ParamJID: "alice@example.org"}},
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(testDSN)), nil }}
	if err := nt.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(s.sent) != 2 || s.sent[0].From.String() != bobPuppet || s.sent[0].To.String() != "alice@example.org" ||
		s.sent[0].Type != "chat" || !strings.Contains(s.sent[0].xml, "could not be delivered: 550 5.1.1") {
		t.Fatalf("sent %+v", s.sent)
	}
	s.sent, s.err = nil, xmpp.Classify("service-unavailable", "cancel", "")
	if err := nt.Deliver(context.Background(), d); !queue.IsPermanent(err) {
		t.Fatalf("a bounced notice must be permanent: %v", err)
	}
	d.Recipient.Params = nil
	if err := nt.Deliver(context.Background(), d); !queue.IsPermanent(err) {
		t.Fatalf("no jid: %v", err)
	}
}

func noticeDelivery() *queue.Delivery {
	return &queue.Delivery{ID: "q1", IsDSN: true, Recipient: queue.Recipient{Addr: "alice@example.org",
		Route: RouteNotice, Params: map[string]string{ParamJID: "alice@example.org"}},
		Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(testDSN)), nil }}
}

// TestNoticeTargetEncrypted (A1): a user with a key gets each notice as an
// OX signcrypt from the puppet, signed by the puppet key; outside the
// encryption nothing names the correspondent or quotes the reply.
func TestNoticeTargetEncrypted(t *testing.T) {
	s := &fakeSender{}
	nt := &NoticeTarget{Sender: s, ComponentDomain: component, Keys: fakeResolver{"alice@example.org": keyset.alice},
		Signer: fakeKeys{}, Plaintext: func(string) bool { return true }}
	if err := nt.Deliver(context.Background(), noticeDelivery()); err != nil {
		t.Fatal(err)
	}
	if len(s.sent) != 2 {
		t.Fatalf("sent %d notices, want 2", len(s.sent))
	}
	m := s.sent[0]
	if m.From.String() != bobPuppet || strings.Contains(m.xml, "remote.example") || strings.Contains(m.xml, "550") {
		t.Fatalf("notice in clear or from the wrong JID: from %s\n%s", m.From, m.xml)
	}
	var el struct {
		OpenPGP string `xml:"urn:xmpp:openpgp:0 openpgp"`
	}
	if err := xml.Unmarshal([]byte("<m>"+m.xml+"</m>"), &el); err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(el.OpenPGP)
	if err != nil || len(ct) == 0 {
		t.Fatalf("no <openpgp/> in %s", m.xml)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{keyset.alice},
		Senders: openpgp.EntityList{keyset.puppet}, Recipient: "alice@example.org"})
	if err != nil {
		t.Fatalf("the user cannot open the notice: %v", err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil || !strings.Contains(p.Body, "bob@remote.example could not be delivered: 550 5.1.1") {
		t.Fatalf("payload %+v, %v", p, err)
	}
}

// TestNoticeTargetNeutral (A1): a user without a key, where policy keeps
// mail encrypted, learns that the mail failed, from the component, with
// neither the correspondent nor the remote reply.
func TestNoticeTargetNeutral(t *testing.T) {
	s := &fakeSender{}
	nt := &NoticeTarget{Sender: s, ComponentDomain: component, Keys: fakeResolver{}, Signer: fakeKeys{},
		Plaintext: func(string) bool { return false }}
	if err := nt.Deliver(context.Background(), noticeDelivery()); err != nil {
		t.Fatal(err)
	}
	if len(s.sent) != 1 {
		t.Fatalf("sent %d notices, want one neutral one", len(s.sent))
	}
	m := s.sent[0]
	if m.From.String() != component || strings.Contains(m.xml, "remote.example") || strings.Contains(m.xml, "550") ||
		!strings.Contains(m.xml, "could not be reached") {
		t.Fatalf("neutral notice from %s: %s", m.From, m.xml)
	}
}

func FuzzParseDSN(f *testing.F) {
	f.Add([]byte(testDSN))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n" +
		"Content-Type: message/delivery-status\r\n\r\nFinal-Recipient: a\r\n--x--"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rs, err := ParseDSN(b)
		if err != nil {
			return
		}
		for _, r := range rs {
			for _, s := range []string{r.FinalRecipient, r.Action, r.Status, r.Diagnostic, r.RemoteMTA} {
				if strings.ContainsAny(s, "\r\n\x00") || len(s) > maxDSNText+3 {
					t.Fatalf("unclean value %q", s)
				}
			}
			_ = NoticeText(r)
		}
	})
}
