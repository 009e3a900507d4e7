package e2e

import (
	"encoding/xml"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"passerelle/bridge/payload"
)

// TestReverseDuplicates: alice's client sends the same OX stanza again (a
// resend after a reconnect: same XEP-0359 origin-id, new stanza id). She
// gets a receipt for each copy, bob gets one mail; after the gateway is
// killed and restarted a further copy is still suppressed; another
// origin-id makes a second mail.
func TestReverseDuplicates(t *testing.T) {
	env := newReverseEnv(t)
	bob := puppetOf(env, "bob@remote.example")
	m := marker("dup")
	ox := env.sealTo(t, bob, &payload.Payload{Subject: "Once " + m, Body: "only once " + m})
	withOrigin := func(origin string) []xml.Token {
		return concat(ox, elem("urn:xmpp:sid:0", "origin-id", "", "id", origin), receiptRequest())
	}
	for _, id := range []string{m + "-1", m + "-2"} {
		env.alice.send(t, bob, id, withOrigin(m)...)
		if r := env.alice.reply(t, id); r.Received == nil {
			t.Fatalf("copy %s refused: %s %q", id, r.condition(), r.Error.Text)
		}
	}
	env.sink.wait(t, "only once "+m, 30*time.Second)
	env.wantMails(t, "only once "+m, 1, 2*time.Second)
	if !env.gw.logContains("duplicate suppressed") {
		t.Error("the duplicate was not logged")
	}

	env.gw.stop(syscall.SIGKILL)
	env.gw.start()
	env.sendUntilAnswered(t, bob, m+"-3", withOrigin(m))
	env.wantMails(t, "only once "+m, 1, 2*time.Second)

	env.alice.send(t, bob, m+"-4", withOrigin(m+"-other")...)
	if r := env.alice.reply(t, m+"-4"); r.Received == nil {
		t.Fatalf("another origin-id refused: %s %q", r.condition(), r.Error.Text)
	}
	env.wantMails(t, "only once "+m, 2, 30*time.Second)
}

// wantMails waits up to d for n captures containing marker, then flushes
// (a marker mail sent after them, waited for) and checks that there are
// still n: a duplicate accepted before the flush would have been spooled
// ahead of it.
func (env *reverseEnv) wantMails(t *testing.T, marker string, n int, d time.Duration) {
	t.Helper()
	count := func() int {
		c := 0
		for _, x := range env.sink.all() {
			if strings.Contains(x.message, marker) {
				c++
			}
		}
		return c
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && count() < n; time.Sleep(50 * time.Millisecond) {
	}
	env.flush(t)
	if got := count(); got != n {
		t.Fatalf("%d mails contain %q, want %d", got, marker, n)
	}
}

// flush sends alice's fresh plaintext marker mail to bob and waits until
// the sink has it. What the gateway accepted before it (a leaked or a
// duplicate mail) was spooled ahead of it, so a negative check made after
// flush does not depend on how long one waits (L4).
func (env *reverseEnv) flush(t *testing.T) {
	t.Helper()
	m := marker("flush")
	env.alice.send(t, puppetOf(env, "bob@remote.example"), m, append(elem("", "body", "flush "+m), receiptRequest()...)...)
	if r := env.alice.reply(t, m); r.Received == nil {
		t.Fatalf("flush marker refused: %s %q", r.condition(), r.Error.Text)
	}
	env.sink.wait(t, "flush "+m, 30*time.Second)
}

// sendUntilAnswered sends the message (stanza ids id, id-r1, ...) until the
// gateway answers with a receipt: right after a restart its component may
// not be connected to Prosody yet.
func (env *reverseEnv) sendUntilAnswered(t *testing.T, to, id string, children []xml.Token) {
	t.Helper()
	for i, deadline := 0, time.Now().Add(30*time.Second); ; i++ {
		sid := id
		if i > 0 {
			sid = id + "-r" + strconv.Itoa(i)
		}
		env.alice.send(t, to, sid, children...)
		r := env.alice.reply(t, sid)
		if r.Received != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no receipt after the restart: %s %q", r.condition(), r.Error.Text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func concat(parts ...[]xml.Token) []xml.Token {
	var out []xml.Token
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
