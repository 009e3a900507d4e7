package e2e

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"passerelle/internal/prosodytest"
)

// TestPlainRouteWholeOrRefused: on the plaintext route (encryption =
// "none") a mail that fits one stanza reaches alice's client whole, its
// attachment inside <mail/>; one that does not gets 552 5.3.4 at end of
// DATA instead of a 250 and a text-only delivery.
func TestPlainRouteWholeOrRefused(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "alice-pw"}})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain, Encryption: "none"})
	alice := newInbox(ctxT(t, 2*time.Minute), t, srv, "alice", "alice-pw")
	send := func(marker string, size int, wantOK bool) (string, string) {
		t.Helper()
		blob := bytes.Repeat([]byte(marker+" "), size/(len(marker)+1)+1)[:size]
		mail := mimeWithAttachment(marker, blob)
		file := filepath.Join(t.TempDir(), "mail.eml")
		if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
			t.Fatal(err)
		}
		return swaks(t, gw.cfg.MXAddr, "alice@example.org", wantOK, "--data", "@"+file), mail
	}
	if out, _ := send(marker("big"), 600<<10, false); !strings.Contains(out, "<** 552 5.3.4") {
		t.Fatalf("a plaintext mail over the stanza limit was not refused with 552 5.3.4:\n%.2000s", out)
	}
	m := marker("small")
	_, mail := send(m, 100<<10, true)
	got := alice.next(t, 30*time.Second)
	if got.OpenPGP != nil || got.Mail == nil || got.Mail.Encoding != "base64" {
		t.Fatalf("want a plaintext stanza with <mail/>, got %+v", got)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(got.Mail.Data))
	if err != nil || !bytes.HasSuffix(raw, []byte(mail+"\r\n")) {
		t.Fatalf("<mail/> is not the whole mail (err %v, %d bytes, sent %d)", err, len(raw), len(mail))
	}
}
