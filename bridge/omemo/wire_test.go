package omemo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func TestPayloadKeyTagLayout(t *testing.T) {
	keyTag, iv, ct, err := sealPayload([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if len(keyTag) != 32 || len(iv) != 12 || len(ct) != 5 {
		t.Fatalf("key||tag %d, iv %d, ct %d", len(keyTag), len(iv), len(ct))
	}
	// Independent check of the layout with the standard library: key is
	// the first 16 bytes, the GCM tag the last 16, appended to ct.
	g, _ := gcm(keyTag[:16])
	pt, err := g.Open(nil, iv, append(append([]byte{}, ct...), keyTag[16:]...), nil)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("%q %v", pt, err)
	}
	if _, err := openPayload(keyTag[:16], iv, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a key without tag: %v", err)
	}
	bad := append([]byte{}, keyTag...)
	bad[31] ^= 1
	if _, err := openPayload(bad, iv, ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a bad tag: %v", err)
	}
}

func TestParseWireFormat(t *testing.T) {
	// As Conversations writes it (XmppAxolotlMessage.toElement).
	const in = `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='27183'>` +
		`<key rid='31415' prekey='true'>AAEC</key><key rid='12'>AwQ=</key>` +
		`<iv>AAECAwQFBgcICQoL</iv></header><payload>aGk=</payload></encrypted>`
	e, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if e.SID != 27183 || len(e.Keys) != 2 || !e.Keys[0].PreKey || e.Keys[1].PreKey ||
		e.Keys[0].RID != 31415 || !bytes.Equal(e.Keys[1].Data, []byte{3, 4}) || string(e.Payload) != "hi" {
		t.Fatalf("%+v", e)
	}
	out, _ := e.Marshal()
	e2, err := Parse(out)
	if err != nil || e2.SID != e.SID || len(e2.Keys) != 2 || string(e2.Payload) != "hi" {
		t.Fatalf("round trip: %+v %v\n%s", e2, err, out)
	}
	if !strings.Contains(string(out), `prekey="true"`) {
		t.Errorf("no prekey attribute: %s", out)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"no keys":    `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><iv>AAECAwQFBgcICQoL</iv></header></encrypted>`,
		"sid zero":   `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='0'><key rid='2'>AA==</key><iv>AAECAwQFBgcICQoL</iv></header></encrypted>`,
		"short iv":   `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AA==</key><iv>AAEC</iv></header></encrypted>`,
		"bad base64": `<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>*</key><iv>AAECAwQFBgcICQoL</iv></header></encrypted>`,
		"other ns":   `<encrypted xmlns='urn:xmpp:omemo:2'><header sid='1'><key rid='2'>AA==</key><iv>AAECAwQFBgcICQoL</iv></header></encrypted>`,
	} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Key transport: no payload.
	e, err := Parse([]byte(`<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'><key rid='2'>AA==</key><iv>AAECAwQFBgcICQoL</iv></header></encrypted>`))
	if err != nil || e.Payload != nil {
		t.Fatalf("key transport: %+v %v", e, err)
	}
}

func TestBundleAndDeviceListRoundTrip(t *testing.T) {
	s := newTestStore(t, t.TempDir())
	info, err := s.Device(t.Context(), "p@m.org")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Bundle.PreKeys) != numPreKeys {
		t.Fatalf("%d prekeys", len(info.Bundle.PreKeys))
	}
	b := decodeTokens(t, info.Bundle.Tokens(), func(d *xml.Decoder, s *xml.StartElement) (any, error) { return DecodeBundle(d, s) }).(*Bundle)
	if !bytes.Equal(b.IdentityKey, info.Bundle.IdentityKey) || len(b.PreKeys) != numPreKeys || b.SignedPreKeyID != 1 {
		t.Fatalf("%+v", b)
	}
	ids := decodeTokens(t, DeviceListTokens([]uint32{5, 9, 5}), func(d *xml.Decoder, s *xml.StartElement) (any, error) { return DecodeDeviceList(d, s) }).([]uint32)
	if len(ids) != 2 || ids[0] != 5 || ids[1] != 9 {
		t.Fatalf("%v", ids)
	}
}

func decodeTokens(t *testing.T, toks []xml.Token, dec func(*xml.Decoder, *xml.StartElement) (any, error)) any {
	t.Helper()
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	for _, tok := range toks {
		if err := enc.EncodeToken(tok); err != nil {
			t.Fatal(err)
		}
	}
	enc.Flush()
	d := xml.NewDecoder(&buf)
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	start := tok.(xml.StartElement)
	v, err := dec(d, &start)
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	return v
}
