package forward

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/bridge/omemo"
	"passerelle/bridge/xmpp"
	"passerelle/gateway/queue"
	"passerelle/policy"
)

// userDevices is the recipients' side: one real OMEMO device per user,
// served as their PEP would.
type userDevices struct {
	t     *testing.T
	store *omemo.Store
	users map[string]bool // bare JIDs publishing a device
}

func (u *userDevices) OMEMODeviceList(ctx context.Context, j jid.JID) ([]uint32, error) {
	if !u.users[j.String()] {
		return nil, fmt.Errorf("not published: %w", keys.ErrNoKey)
	}
	info, err := u.store.Device(ctx, j.String())
	if err != nil {
		return nil, err
	}
	return []uint32{info.DeviceID}, nil
}

func (u *userDevices) OMEMOBundle(ctx context.Context, j jid.JID, id uint32) (*omemo.Bundle, error) {
	info, err := u.store.Device(ctx, j.String())
	if err != nil {
		return nil, err
	}
	return info.Bundle, nil
}

func newOMEMOForward(t *testing.T, k fakeKeys, sp *fakeSpool, u *userDevices) *Forward {
	t.Helper()
	pol, err := policy.New(policy.Config{LocalDomains: []string{"example.org"},
		Addresses: map[string]policy.Rule{
			"both-omemo@example.org": {XMPPEncryption: policy.XMPPPreferOMEMO},
			"ox-only@example.org":    {XMPPEncryption: policy.XMPPOX},
		}})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f, err := New(Config{Policy: pol, Keys: k, Puppets: fakePuppets{}, Spool: sp,
		ComponentDomain: "mail.example.org", Hostname: "mx.example.org", Log: zap.NewNop(),
		OMEMO: OMEMOVia{Store: gw, Source: u}, MaxStanzaBytes: 512 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Per recipient, the scheme policy.xmpp_encryption picks among what the
// recipient publishes; OMEMO recipients' spooled bodies are ciphertext
// their device opens to the text with From/Subject at the top.
func TestAcceptOMEMOPerPolicy(t *testing.T) {
	users, err := omemo.NewStore(omemo.StoreConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	u := &userDevices{t: t, store: users, users: map[string]bool{
		"omemo@example.org": true, "both@example.org": true, "both-omemo@example.org": true, "ox-only@example.org": true}}
	k := fakeKeys{"both@example.org": nil, "both-omemo@example.org": nil, "ox-only@example.org": nil, "oxer@example.org": nil}
	sp := &fakeSpool{}
	f := newOMEMOForward(t, k, sp, u)
	rcpts := map[string]string{ // address -> the scheme it must get
		"omemo@example.org":      "omemo", // only OMEMO published
		"oxer@example.org":       "ox",    // only OX
		"both@example.org":       "ox",    // both; default prefer-ox
		"both-omemo@example.org": "omemo", // both; prefer-omemo
		"ox-only@example.org":    "ox",    // both; ox
	}
	var list []string
	for r := range rcpts {
		list = append(list, r)
	}
	if err := accept(t, f, list...); err != nil {
		t.Fatal(err)
	}
	// The next mail continues the conversation: no fingerprint line.
	defer func() {
		sp2 := &fakeSpool{}
		f.cfg.Spool = sp2
		if err := accept(t, f, "omemo@example.org"); err != nil {
			t.Fatal(err)
		}
		e, err := omemo.Parse(sp2.bodies[0])
		if err != nil {
			t.Fatal(err)
		}
		r := sp2.env.Recipients[0]
		text, err := users.Decrypt(context.Background(), r.Params[ParamJID], r.Params[ParamFrom], e)
		if err != nil || strings.Contains(string(text), "fingerprint") {
			t.Fatalf("second message: %q %v", text, err)
		}
	}()
	for _, r := range sp.env.Recipients {
		if got := r.Params[ParamEnc]; got != rcpts[r.Addr] {
			t.Errorf("%s: %s, want %s", r.Addr, got, rcpts[r.Addr])
		}
		body := sp.bodies[r.Body]
		if bytes.Contains(body, []byte("marker-xyzzy")) || bytes.Contains(body, []byte("secret plans")) {
			t.Fatalf("%s: plaintext in the spooled body", r.Addr)
		}
		if r.Params[ParamEnc] != "omemo" {
			continue
		}
		e, err := omemo.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		text, err := users.Decrypt(context.Background(), r.Params[ParamJID], r.Params[ParamFrom], e)
		if err != nil {
			t.Fatalf("%s: %v", r.Addr, err)
		}
		if !strings.HasPrefix(string(text), "From: Bob <bob@remote.example>\nSubject: secret plans\n") ||
			!strings.Contains(string(text), "the marker-xyzzy is here") {
			t.Fatalf("%s: text %q", r.Addr, text)
		}
		info, _ := f.cfg.OMEMO.(OMEMOVia).Store.Device(context.Background(), r.Params[ParamFrom])
		if !strings.Contains(string(text), "OMEMO device fingerprint is "+info.Fingerprint) {
			t.Errorf("%s: the first message does not show the puppet device's fingerprint: %q", r.Addr, text)
		}
		// The target sends it as an OMEMO message.
		s := &fakeSender{connected: true}
		tg := &Target{Sender: s}
		if err := tg.Deliver(context.Background(), &queue.Delivery{Recipient: r,
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }}); err != nil {
			t.Fatal(err)
		}
		if len(s.sent) != 1 || s.sent[0].To.String() != r.Params[ParamJID] {
			t.Fatalf("sent %+v", s.sent)
		}
	}
}

// The target turns a spooled OMEMO body into <body/> notice,
// <encrypted/> and the XEP-0380 hint.
func TestOMEMOChildren(t *testing.T) {
	e := &omemo.Encrypted{SID: 7, Keys: []omemo.Key{{RID: 9, PreKey: true, Data: []byte{1}}}, IV: make([]byte, 12), Payload: []byte{2}}
	x, _ := e.Marshal()
	toks, err := omemoChildren(x, "oid")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	r := xmpp.Tokens(toks...)
	for {
		tok, err := r.Token()
		if err != nil {
			break
		}
		enc.EncodeToken(tok)
	}
	enc.Flush()
	out := b.String()
	for _, want := range []string{noticeOMEMO, `<encrypted xmlns="eu.siacs.conversations.axolotl">`, `namespace="eu.siacs.conversations.axolotl"`, `prekey="true"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in %s", want, out)
		}
	}
}
