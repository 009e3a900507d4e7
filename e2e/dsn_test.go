package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestDSNNotifySuccess: the MX listener offers DSN (RFC 3461); a mail
// sent with NOTIFY=SUCCESS and an ENVID is delivered over XMPP and its
// sender gets one success notice naming the envelope and the original
// recipient.
func TestDSNNotifySuccess(t *testing.T) {
	sink := startSink(t)
	env := newOpsEnv(t, func(c *gwConfig) {
		c.Extra = fmt.Sprintf("[delivery.smarthost]\naddr = %q\ntls = \"none\"\n", sink.addr)
	})
	c, err := smtp.Dial(env.gw.cfg.MXAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.remote.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("DSN"); !ok {
		t.Fatal("DSN not advertised")
	}
	envID := fmt.Sprintf("env-%x", time.Now().UnixNano())
	if err := c.Mail("bob@remote.example", &smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: envID}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("alice@example.org", &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess},
		OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "Alice@Example.org"}); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: bob@remote.example\r\nTo: alice@example.org\r\nSubject: dsn\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	env.alice.next(t, 30*time.Second)
	dsn := sink.wait(t, envID, 30*time.Second)
	for _, want := range []string{"Original-Envelope-Id: " + envID, "Action: delivered", "Status: 2.0.0",
		"Original-Recipient: rfc822;Alice@Example.org", "Final-Recipient: rfc822; alice@example.org"} {
		if !strings.Contains(dsn.message, want) {
			t.Errorf("success notice lacks %q:\n%s", want, dsn.message)
		}
	}
	if got := dsn.header("Subject"); got != "Successful Mail Delivery Report" {
		t.Errorf("subject %q", got)
	}
	// The notice went to the smarthost (tls = "none": STARTTLS if offered;
	// smtp-sink offers none): counted as a plaintext delivery.
	env.waitMetric(t, `passerelle_smtp_plaintext_deliveries_total{reason="no_starttls"}`, 1)
}
