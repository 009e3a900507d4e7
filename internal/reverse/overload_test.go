package reverse

import (
	"fmt"
	"testing"
)

// TestHandleOverload (M6): with the workers behind, a federated flood of
// stanzas to puppets neither crowds out local senders nor gets one error
// reply per stanza: every local stanza is queued as work, queued as a
// refusal, or refused at once by a direct write; foreign refusals are
// bounded per domain and in total and the rest counted as dropped.
func TestHandleOverload(t *testing.T) {
	f := newFixture(t, Limits{Burst: 1 << 20, RatePerMinute: 1 << 20, MaxRecipientsPerHour: 1 << 20}, nil)
	local := func(n int, prefix string) {
		for i := range n {
			f.handle(t, stanzaXML("alice@example.org/a", bobPuppet, fmt.Sprintf("%s%d", prefix, i), "<body>x</body>"))
		}
	}
	local(cap(f.rv.jobs), "w") // the workers are behind: their queue is full
	const domains, perDomain = 50, 20
	for d := range domains {
		for i := range perDomain {
			f.handle(t, stanzaXML(fmt.Sprintf("eve%d@d%d.example/x", i, d), bobPuppet, fmt.Sprintf("f%d-%d", d, i), "<body>spam</body>"))
		}
	}
	const extra = 300 // more local mail than the refusal queue holds
	local(extra, "l")

	if n := len(f.rv.jobs); n != cap(f.rv.jobs) {
		t.Fatalf("work queue holds %d, want %d", n, cap(f.rv.jobs))
	}
	queued, written := len(f.rv.refuseLocal), f.sender.writes
	if queued+written != extra || written != extra-cap(f.rv.refuseLocal) {
		t.Fatalf("local senders: %d refusals queued, %d written at once; want all %d accounted for (%d written)",
			queued, written, extra, extra-cap(f.rv.refuseLocal))
	}
	for range queued {
		in := <-f.rv.refuseLocal
		if !in.local || in.refusal.Condition != "resource-constraint" || in.refusal.Type != "wait" {
			t.Fatalf("local refusal %+v, want wait/resource-constraint", in.refusal)
		}
	}
	foreign := len(f.rv.refuseForeign)
	if foreign > foreignRefusalsTotal || foreign > cap(f.rv.refuseForeign) {
		t.Fatalf("%d foreign refusals queued, want at most %d", foreign, min(foreignRefusalsTotal, cap(f.rv.refuseForeign)))
	}
	if dropped := int(f.rv.foreign.dropped.Load()); dropped+foreign != domains*perDomain {
		t.Fatalf("foreign: %d queued + %d dropped, want %d", foreign, dropped, domains*perDomain)
	}
}

// TestForeignRefusalsPerDomain: one domain gets at most its burst of
// error replies however much it sends; another domain still gets its own.
func TestForeignRefusalsPerDomain(t *testing.T) {
	f := newFixture(t, Limits{}, nil)
	for i := range 100 {
		f.handle(t, stanzaXML(fmt.Sprintf("eve%d@evil.example/x", i), bobPuppet, fmt.Sprint("e", i), "<body>spam</body>"))
	}
	if n := len(f.rv.refuseForeign); n != foreignRefusalsPerDomain {
		t.Fatalf("one domain: %d refusals queued, want %d", n, foreignRefusalsPerDomain)
	}
	f.handle(t, stanzaXML("mallory@other.example/x", bobPuppet, "o1", "<body>spam</body>"))
	if n := len(f.rv.refuseForeign); n != foreignRefusalsPerDomain+1 {
		t.Fatalf("another domain: %d refusals queued, want %d", n, foreignRefusalsPerDomain+1)
	}
}
