package e2e

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
)

// TestReverseUploadURLInternal (H2): alice's signed OX message names an
// upload URL on the gateway's own network: an https server listening on
// 127.0.0.1, the same through a name that resolves to it, a private and a
// ULA address, and an IPv4-mapped loopback address (redirects are
// covered in bridge/upload's TestFetchRefusesInternal). With
// the default [egress] filter the gateway connects to none of them
// (checked on the address dialled), the listening server is never
// reached, and every refusal has the same text, with no HTTP status or
// address in it.
func TestReverseUploadURLInternal(t *testing.T) {
	var hits atomic.Int32
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "admin panel", http.StatusForbidden)
	})
	inner := httptest.NewTLSServer(admin)
	defer inner.Close()
	plain := httptest.NewServer(admin) // reachable by the loopback-http test switch, but for the filter
	defer plain.Close()
	_, port, _ := net.SplitHostPort(inner.Listener.Addr().String())

	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true})
	env := &reverseEnv{srv: srv, sink: startSink(t)}
	env.gw = startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent),
		Extra: fmt.Sprintf("[policy.domains.\"remote.example\"]\nreverse_plaintext = true\n"+
			"[delivery.smarthost]\naddr = %q\ntls = \"none\"\n", env.sink.addr)})
	ctx := ctxT(t, 2*time.Minute)
	env.alice = newRevClient(t, srv.Client(ctx, t, "alice", "alice-pw"))
	env.aliceKey = newUserKey(t, "xmpp:alice@"+srv.Domain)
	if err := pep.PublishKey(ctx, pep.ClientQuerier{Session: env.alice.sess}, env.aliceKey, "open"); err != nil {
		t.Fatalf("alice publishes her key: %v", err)
	}
	bob := puppetOf(env, "bob@remote.example")

	x, _, err := payload.SealExternal([]byte("From: a@b.example\r\n\r\nx\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for i, u := range []string{
		inner.URL + "/admin",
		plain.URL + "/admin", // loopback http passes the scheme check in tests, not the address filter
		"https://localhost:" + port + "/admin",
		"https://10.0.0.5/admin",
		"https://[fd00::1]/admin",
		"https://[::ffff:127.0.0.1]:" + port + "/admin",
	} {
		x.URL = u
		id := fmt.Sprintf("ssrf%d", i)
		env.alice.send(t, bob, id, append(env.sealTo(t, bob, &payload.Payload{Body: "x",
			Mail: &payload.Mail{External: x}}), receiptRequest()...)...)
		r := env.alice.reply(t, id)
		if r.Received != nil || r.condition() != "not-acceptable" {
			t.Fatalf("%s: want not-acceptable, got %q %q", u, r.condition(), r.Error.Text)
		}
		texts = append(texts, r.Error.Text)
		if strings.Contains(r.Error.Text, "403") || strings.Contains(r.Error.Text, "HTTP") {
			t.Errorf("%s: the refusal quotes the server: %q", u, r.Error.Text)
		}
	}
	for _, s := range texts[1:] {
		if s != texts[0] {
			t.Errorf("refusal texts differ: %q vs %q", s, texts[0])
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the internal server was reached %d times", n)
	}
	if !env.gw.logContains("not a public address") {
		t.Error("the refused address is not in the log")
	}
}
