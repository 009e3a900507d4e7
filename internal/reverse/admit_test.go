package reverse

import (
	"fmt"
	"strings"
	"testing"

	"passerelle/policy"
)

// TestHandleSenderPolicy: policy's reverse = "deny" bars a local sender
// from the reverse path, inheriting global -> domain -> address, with a
// refusal that says so (not "not from this provider's domains").
func TestHandleSenderPolicy(t *testing.T) {
	yes := true
	for i, tc := range []struct {
		name    string
		cfg     policy.Config
		from    string
		allowed bool
	}{
		{name: "default allows", from: "alice@example.org/x", allowed: true},
		{name: "address deny", from: "mallory@example.org/x",
			cfg: policy.Config{Addresses: map[string]policy.Rule{"mallory@example.org": {Reverse: policy.ReverseDeny}}}},
		{name: "address deny spares others", from: "alice@example.org/x", allowed: true,
			cfg: policy.Config{Addresses: map[string]policy.Rule{"mallory@example.org": {Reverse: policy.ReverseDeny}}}},
		{name: "domain deny", from: "carol@example.org/x",
			cfg: policy.Config{Domains: map[string]policy.Rule{"example.org": {Reverse: policy.ReverseDeny}}}},
		{name: "address allow under domain deny", from: "alice@example.org/x", allowed: true,
			cfg: policy.Config{Domains: map[string]policy.Rule{"example.org": {Reverse: policy.ReverseDeny}},
				Addresses: map[string]policy.Rule{"alice@example.org": {Reverse: policy.ReverseAllow}}}},
		{name: "global deny", from: "alice@example.org/x", cfg: policy.Config{Global: policy.Rule{Reverse: policy.ReverseDeny}}},
		{name: "the directory's address decides", from: "c@chat.example.org/x",
			cfg: policy.Config{Directory: map[string]string{"carol@example.org": "c@chat.example.org"},
				Addresses: map[string]policy.Rule{"carol@example.org": {Reverse: policy.ReverseDeny}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.LocalDomains = []string{"example.org"}
			if c.Domains == nil {
				c.Domains = map[string]policy.Rule{}
			}
			c.Domains["remote.example"] = policy.Rule{ReversePlaintext: &yes}
			pol, err := policy.New(c)
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, Limits{}, nil, func(cfg *Config) { cfg.Policy = pol })
			id := fmt.Sprintf("s%d", i)
			f.deliver(t, stanzaXML(tc.from, bobPuppet, id, "<body>hello</body>"))
			if tc.allowed {
				if len(f.spool.envs) != 1 {
					t.Fatalf("not spooled; replies %+v", f.sender.sent)
				}
				return
			}
			got := f.last(t)
			if got.Type != "error" || !strings.Contains(got.xml, "<forbidden ") ||
				!strings.Contains(got.xml, "You are not allowed to send mail through this gateway.") || got.ID != id {
				t.Fatalf("reply = %s, want forbidden with the policy text", got.xml)
			}
			if len(f.spool.envs) != 0 {
				t.Fatal("barred sender's message was spooled")
			}
		})
	}
}
