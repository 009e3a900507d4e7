package queue

import (
	"context"
	"strings"
	"testing"
)

// TestNotifyDamagedAtStartup is M5 for entries Recover finds damaged: the
// envelope is still readable, so its sender gets a 5.3.0 DSN for the
// recipients not yet delivered, quoting nothing of the body; an entry whose
// envelope is unreadable is only logged.
func TestNotifyDamagedAtStartup(t *testing.T) {
	h := newHarness(t, nil)
	e := testEnvelope("bob@example.net", "carol@example.net")
	e.Recipients[1].State = StateDelivered
	mustPut(t, h.store, e, plainMessage)
	damageBody(t, h.store, e.ID, 0)
	bad := testEnvelope("dave@example.net")
	mustPut(t, h.store, bad, plainMessage)
	damageHeader(t, h.store, bad.ID)
	damaged, err := h.store.Recover(context.Background())
	if err != nil || len(damaged) != 2 {
		t.Fatalf("Recover = %v, %v", damaged, err)
	}
	h.q.NotifyDamaged(context.Background(), damaged)
	dsns := spooledDSNs(t, h.store, "")
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	rep := parseReport(t, []byte(dsns[0]))
	if len(rep.recipients) != 1 || rep.recipients[0]["Status"] != "5.3.0" ||
		!strings.Contains(rep.recipients[0]["Final-Recipient"], "bob@example.net") {
		t.Errorf("recipients %v, want only bob with 5.3.0", rep.recipients)
	}
	if rep.headers != "" || strings.Contains(dsns[0], "SECRET") {
		t.Error("DSN quotes the damaged body")
	}
	if !strings.Contains(rep.human, damagedText) {
		t.Errorf("human part %q", rep.human)
	}
}
