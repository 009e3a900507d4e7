package reverse

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
)

func sealed(t *testing.T, to string, signer *openpgp.Entity, p *payload.Payload) string {
	t.Helper()
	inner, err := payload.BuildInner(p)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := ox.Seal(ox.SealConfig{To: to, Payload: inner, Signer: signer,
		Recipients: []*openpgp.Entity{keyset.puppet}, Time: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return "<openpgp xmlns='urn:xmpp:openpgp:0'>" + base64.StdEncoding.EncodeToString(ct) + "</openpgp>"
}

func TestHandle(t *testing.T) {
	const alice = "alice@example.org/phone"
	keyedPuppet := `bob\40keyed.example@mail.example.org`
	nokeyPuppet := `carol\40keyed.example@mail.example.org`
	for i, tc := range []struct {
		name       string
		from, to   string
		children   string
		wantCond   string // "" : spooled
		wantText   string
		wantInBody string
		wantPGP    bool
	}{
		{name: "plaintext allowed", from: alice, to: bobPuppet,
			children:   "<subject>Hi</subject><body>hello marker-1</body><request xmlns='urn:xmpp:receipts'/>",
			wantInBody: "hello marker-1"},
		{name: "foreign sender", from: "eve@evil.example/x", to: bobPuppet,
			children: "<body>hi</body>", wantCond: "forbidden", wantText: "Only users"},
		{name: "puppet as sender", from: bobPuppet, to: bobPuppet,
			children: "<body>hi</body>", wantCond: "forbidden"},
		{name: "plaintext refused by policy", from: alice, to: keyedPuppet,
			children: "<body>hi</body>", wantCond: "not-acceptable", wantText: "OX"},
		{name: "local recipient", from: alice, to: `carol\40example.org@mail.example.org`,
			children: "<body>hi</body>", wantCond: "not-acceptable", wantText: "directly"},
		{name: "not a puppet", from: alice, to: `bob@mail.example.org`,
			children: "<body>hi</body>", wantCond: "item-not-found"},
		{name: "OX", from: alice, to: bobPuppet,
			children:   sealed(t, bobPuppet, keyset.alice, &payload.Payload{Subject: "s", Body: "secret marker-2"}),
			wantInBody: "secret marker-2"},
		{name: "OX wrong signer", from: alice, to: bobPuppet,
			children: sealed(t, bobPuppet, keyset.mallory, &payload.Payload{Body: "x"}),
			wantCond: "not-acceptable", wantText: "signature"},
		{name: "OX to someone else", from: alice, to: bobPuppet,
			children: sealed(t, keyedPuppet, keyset.alice, &payload.Payload{Body: "x"}),
			wantCond: "not-acceptable", wantText: "addressed to someone else"},
		{name: "OX bad base64", from: alice, to: bobPuppet,
			children: "<openpgp xmlns='urn:xmpp:openpgp:0'>!!!</openpgp>", wantCond: "bad-request"},
		{name: "PGP/MIME for a keyed recipient", from: alice, to: keyedPuppet,
			children: sealed(t, keyedPuppet, keyset.alice, &payload.Payload{Body: "secret marker-3"}),
			wantPGP:  true},
		{name: "no key, no plaintext", from: alice, to: nokeyPuppet,
			children: sealed(t, nokeyPuppet, keyset.alice, &payload.Payload{Body: "x"}),
			wantCond: "not-acceptable", wantText: "no published OpenPGP key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Limits{}, nil)
			f.deliver(t, stanzaXML(tc.from, tc.to, "m"+string(rune('a'+i)), tc.children))
			if tc.wantCond != "" {
				got := f.last(t)
				if got.Type != "error" || !strings.Contains(got.xml, "<"+tc.wantCond+" ") ||
					!strings.Contains(got.xml, tc.wantText) || got.ID != "m"+string(rune('a'+i)) {
					t.Fatalf("reply = %+v %s, want %s %q", got.Message, got.xml, tc.wantCond, tc.wantText)
				}
				if len(f.spool.envs) != 0 {
					t.Fatal("refused message was spooled")
				}
				return
			}
			if len(f.spool.envs) != 1 {
				t.Fatalf("spooled %d messages; replies %+v", len(f.spool.envs), f.sender.sent)
			}
			env, body := f.spool.envs[0], f.spool.bodies[0]
			r := env.Recipients[0]
			if env.From != "alice@example.org" || r.Route != RouteSMTP || r.Params[ParamSender] != alice ||
				r.Params[ParamSenderBare] != "alice@example.org" || r.Params[ParamPuppet] != tc.to {
				t.Fatalf("envelope = %+v %+v", env, r)
			}
			if !bytes.Contains(body, []byte("From: <alice@example.org>\r\n")) {
				t.Errorf("From is not alice:\n%s", body)
			}
			if tc.wantInBody != "" && !bytes.Contains(body, []byte(tc.wantInBody)) {
				t.Errorf("body lacks %q:\n%s", tc.wantInBody, body)
			}
			if tc.wantPGP != bytes.Contains(body, []byte("multipart/encrypted")) || tc.wantPGP && bytes.Contains(body, []byte("marker-3")) {
				t.Errorf("PGP/MIME = %v wanted:\n%s", tc.wantPGP, body)
			}
		})
	}
}

func TestHandleReceiptAfterSpool(t *testing.T) {
	f := newFixture(t, Limits{}, nil)
	f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "r1", "<body>x</body><request xmlns='urn:xmpp:receipts'/>"))
	got := f.last(t)
	if len(f.spool.envs) != 1 || !strings.Contains(got.xml, `<received xmlns="urn:xmpp:receipts" id="r1">`) ||
		got.From.String() != bobPuppet || got.To.String() != "alice@example.org/a" {
		t.Fatalf("receipt = %+v %s", got.Message, got.xml)
	}
}

func TestHandleIgnoresContentlessAndErrors(t *testing.T) {
	f := newFixture(t, Limits{}, nil)
	f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "c1", "<active xmlns='http://jabber.org/protocol/chatstates'/>"))
	f.deliver(t, strings.Replace(stanzaXML("alice@example.org/a", bobPuppet, "c2", "<body>x</body>"), "'chat'", "'error'", 1))
	if len(f.sender.sent) != 0 || len(f.spool.envs) != 0 {
		t.Fatalf("sent %+v, spooled %d", f.sender.sent, len(f.spool.envs))
	}
}

func TestHandleLimits(t *testing.T) {
	f := newFixture(t, Limits{Burst: 2, RatePerMinute: 0.001, MaxRecipientsPerHour: 1}, nil)
	send := func(id, to string) sentMsg {
		f.deliver(t, stanzaXML("alice@example.org/a", to, id, "<body>x</body><request xmlns='urn:xmpp:receipts'/>"))
		return f.last(t)
	}
	if m := send("l1", bobPuppet); m.Type == "error" {
		t.Fatalf("first message refused: %s", m.xml)
	}
	if m := send("l2", `dave\40remote.example@mail.example.org`); !strings.Contains(m.xml, "policy-violation") {
		t.Fatalf("second recipient: %s", m.xml)
	}
	if m := send("l3", bobPuppet); m.Type == "error" {
		t.Fatalf("second message refused: %s", m.xml)
	}
	if m := send("l4", bobPuppet); !strings.Contains(m.xml, "resource-constraint") || m.Type != "error" {
		t.Fatalf("over the rate: %s", m.xml)
	}
	if len(f.spool.envs) != 2 {
		t.Fatalf("spooled %d", len(f.spool.envs))
	}
}

func TestHandleThreading(t *testing.T) {
	th, err := OpenThreads(t.TempDir()+"/threads.log", 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	th.Record(t.Context(), bobPuppet, "alice@example.org", "t1", "m1@remote.example", []string{"root@remote.example"})
	th.Record(t.Context(), bobPuppet, "alice@example.org", "t2", "m2@remote.example", nil)
	f := newFixture(t, Limits{}, th)
	for _, tc := range []struct{ thread, wantIRT, wantRefs string }{
		{"<thread>t1</thread>", "<m1@remote.example>", "<root@remote.example> <m1@remote.example>"},
		{"", "<m2@remote.example>", "<m2@remote.example>"}, // no thread: the last mail
		{"<thread>unknown</thread>", "", ""},
	} {
		f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "t", tc.thread+"<body>x</body>"))
		body := string(f.spool.bodies[len(f.spool.bodies)-1])
		if got := headerOf(body, "In-Reply-To"); got != tc.wantIRT {
			t.Errorf("%q: In-Reply-To %q, want %q", tc.thread, got, tc.wantIRT)
		}
		if got := headerOf(body, "References"); got != tc.wantRefs {
			t.Errorf("%q: References %q, want %q", tc.thread, got, tc.wantRefs)
		}
	}
}

func headerOf(msg, name string) string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, l := range strings.Split(strings.ReplaceAll(head, "\r\n ", " "), "\r\n") {
		if k, v, ok := strings.Cut(l, ": "); ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func FuzzReadInbound(f *testing.F) {
	f.Add("<subject>s</subject><body>b</body><thread>t</thread><request xmlns='urn:xmpp:receipts'/>")
	f.Add("<openpgp xmlns='urn:xmpp:openpgp:0'>AAAA</openpgp>")
	f.Add("<mail xmlns='urn:passerelle:mail:0' encoding='base64' size='1' sha256='x'><external url='u'/></mail>")
	f.Fuzz(func(t *testing.T, children string) {
		d := xml.NewDecoder(strings.NewReader(stanzaXML("alice@example.org/a", bobPuppet, "z", children)))
		tok, err := d.Token()
		if err != nil {
			return
		}
		start := tok.(xml.StartElement)
		msg, err := stanza.NewMessage(start)
		if err != nil {
			return
		}
		in, err := readInbound(msg, &prepend{first: start, rest: d})
		if err != nil || in.Plain == nil {
			return
		}
		_, _ = payload.Parse(in.Plain, payload.Limits{}) // must not panic
	})
}
