package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/stanza"
)

// recipeBase is what a throwaway instance needs around the recipe; the
// "Internet" behind relayhost is smtp-sink.
const recipeBase = `compatibility_level = 3.6
queue_directory = {{queue}}
data_directory = {{data}}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
mydestination =
relay_domains = example.org
relayhost = [127.0.0.1]:%s
smtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file_prefixes = /tmp, /var
maillog_file = {{data}}/maillog
`

// readRecipe returns a file of deploy/postfix/ with the gateway's port and
// the instance's config directory put in.
func readRecipe(t *testing.T, name, mxPort string) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/postfix/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("/etc/postfix/", "{{conf}}/", "[127.0.0.1]:2525", "[127.0.0.1]:"+mxPort).Replace(string(b))
}

// TestPostfixRecipe runs the README's Postfix recipe (deploy/postfix/) on a
// real Postfix: mail from the Internet reaches alice over XMPP through
// Postfix's transport_maps, and alice's reply leaves through Postfix as
// Passerelle's smarthost.
func TestPostfixRecipe(t *testing.T) {
	requirePostfix(t)
	env := newReverseEnvWith(t, func(c *gwConfig, sinkAddr string) string {
		c.MXAddr = freePort(t)
		_, mxPort, _ := strings.Cut(c.MXAddr, ":")
		_, sinkPort, _ := strings.Cut(sinkAddr, ":")
		pf := startPostfix(t, fmt.Sprintf(recipeBase, sinkPort)+readRecipe(t, "main.cf", mxPort),
			map[string]string{"passerelle_transport": readRecipe(t, "passerelle_transport", mxPort)})
		return pf.Addr
	})
	postfix := env.smarthost

	// Inbound: the Internet -> Postfix -> transport_maps -> Passerelle -> alice.
	in := marker("inbound")
	swaks(t, postfix, "alice@example.org", true, "--body", in)
	got := env.alice.next(t, 60*time.Second, func(m revMsg) bool { return m.Type != string(stanza.ErrorMessage) && m.OpenPGP != nil })
	if !strings.HasPrefix(got.From, `bob\40remote.example@`) {
		t.Errorf("alice got a message from %q", got.From)
	}

	// Outbound: alice -> Passerelle -> smarthost Postfix -> the Internet.
	out := marker("outbound")
	bob := puppetOf(env, "bob@remote.example")
	env.alice.send(t, bob, "r1", append(elem("", "body", "reply "+out), receiptRequest()...)...)
	if m := env.alice.reply(t, "r1"); m.Received == nil {
		t.Fatalf("reply refused: %s", m.condition())
	}
	c := env.sink.wait(t, out, 60*time.Second)
	if !strings.Contains(c.message, "by mx.example.org (Postfix)") {
		t.Errorf("the reply did not pass through Postfix:\n%s", c.message)
	}
	if !strings.Contains(c.meta, "X-Rcpt-Args: <bob@remote.example>") {
		t.Errorf("envelope:\n%s", c.meta)
	}
}
