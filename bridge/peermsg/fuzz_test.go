package peermsg

import (
	"testing"
)

// The receiver parses these from the network (the envelope only after
// decryption and signature check, but a peer is still untrusted input).

func FuzzParseEnvelope(f *testing.F) {
	good, err := BuildEnvelope(sampleEnvelope())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`<envelope xmlns="urn:passerelle:peer:0" id="i" sender-domain="a.example" mail-from=""><rcpt to="b@b.example"/><sealed rcpt="b@b.example">QQ==</sealed></envelope>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEnvelope(b, Limits{})
		if err != nil {
			return
		}
		// What parses must build again and parse to the same.
		out, err := BuildEnvelope(e)
		if err != nil {
			t.Fatalf("parsed envelope does not build: %v", err)
		}
		if _, err := ParseEnvelope(out, Limits{}); err != nil {
			t.Fatalf("rebuilt envelope does not parse: %v\n%s", err, out)
		}
	})
}

func FuzzParseTransfer(f *testing.F) {
	f.Add(`<mail xmlns="urn:passerelle:peer:0" id="abc">QUJD</mail>`)
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTransfer(decoder(s), 1<<16)
		if err == nil && (!ValidID(tr.ID) || len(tr.Data) == 0) {
			t.Fatalf("accepted %+v", tr)
		}
	})
}

func FuzzParseAck(f *testing.F) {
	f.Add(`<ack xmlns="urn:passerelle:peer:0" id="a"><rcpt to="b@b.example" status="2.0.0"/><rcpt to="c@b.example" status="5.1.1">no</rcpt></ack>`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAck(decoder(s), 100)
		if err != nil {
			return
		}
		for _, r := range a.Results {
			if r.Status[0] == '4' {
				t.Fatalf("temporary status accepted: %+v", r)
			}
		}
	})
}
