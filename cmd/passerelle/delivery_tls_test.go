package main

import (
	"context"
	"io"
	"log"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
	"go.uber.org/zap"

	"passerelle/gateway/delivery"
	"passerelle/gateway/queue"
)

// TestDeliveryTLSPolicyWired: [[delivery.tls_policy]] reaches the MX
// target (the hook used to be left unset, so every domain was
// opportunistic). A plaintext-only MX gets mail for a "may" domain and a
// temporary 4.7.10 refusal, nothing sent, for an "encrypt" domain.
func TestDeliveryTLSPolicyWired(t *testing.T) {
	got := make(chan string, 4)
	mx := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{got: got}, nil }))
	mx.Domain, mx.ErrorLog = "mx.test", log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go mx.Serve(ln)
	defer mx.Close()
	cfg := defaultConfig()
	cfg.Hostname = "gw.example.org"
	cfg.Delivery.Port = ln.Addr().(*net.TCPAddr).Port
	cfg.Delivery.AllowPrivate = true
	cfg.Delivery.DNSServer = startZone(t, "mx.test.")
	cfg.Delivery.TLSPolicy = []TLSPolicyEntry{{Domain: "bank.test", Mode: "encrypt"}}
	if errs := cfg.Delivery.validate(); len(errs) != 0 {
		t.Fatal(errs)
	}
	g := &gateway{cfg: &cfg, log: zap.NewNop(), hash: func(s string) string { return s }}
	tg, err := g.deliveryTarget()
	if err != nil {
		t.Fatal(err)
	}
	send := func(to string) error {
		return tg.Send(context.Background(), &delivery.Message{ID: "1", From: "a@example.org", To: to,
			Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
	}
	if err := send("bob@other.test"); err != nil {
		t.Fatalf("may domain: %v", err)
	}
	if r := <-got; r != "bob@other.test" {
		t.Fatalf("got mail for %s", r)
	}
	err = send("bob@bank.test")
	var d queue.Diagnostic
	if err == nil || queue.IsPermanent(err) {
		t.Fatalf("encrypt domain over plaintext: %v, want a temporary failure", err)
	}
	if dd, ok := queue.DiagnosticOf(err); ok {
		d = dd
	}
	if d.Status != "4.7.10" {
		t.Errorf("status %q, want 4.7.10 (%v)", d.Status, err)
	}
	if len(got) != 0 {
		t.Errorf("mail sent in plaintext to the encrypt domain")
	}
}

// startZone answers every MX query with mxHost and every A query with
// 127.0.0.1; it returns the server's address.
func startZone(t *testing.T, mxHost string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		q := req.Question[0]
		switch q.Qtype {
		case dns.TypeMX:
			m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
				Preference: 10, Mx: mxHost})
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

type sinkSession struct {
	got chan<- string
	to  string
}

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.got <- s.to
	return err
}
func (s *sinkSession) Reset()        {}
func (s *sinkSession) Logout() error { return nil }
