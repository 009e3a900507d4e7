package peermsg

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTransferRoundTrip(t *testing.T) {
	in := Transfer{ID: "abc.b.example", Data: []byte("\xc1\x00openpgp")}
	s := encode(t, in.Tokens())
	got, err := ParseTransfer(decoder(s), 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, in) {
		t.Errorf("got %+v", got)
	}
	if in.StanzaSize() < len(s) {
		t.Errorf("StanzaSize %d < encoded %d", in.StanzaSize(), len(s))
	}
}

func TestParseTransferErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"wrong element", `<mail xmlns="urn:passerelle:mail:0" id="a">QQ==</mail>`, ErrMalformed},
		{"bad id", `<mail xmlns="urn:passerelle:peer:0" id="a b">QQ==</mail>`, ErrMalformed},
		{"empty", `<mail xmlns="urn:passerelle:peer:0" id="a"></mail>`, ErrMalformed},
		{"bad base64", `<mail xmlns="urn:passerelle:peer:0" id="a">Q</mail>`, ErrMalformed},
		{"child", `<mail xmlns="urn:passerelle:peer:0" id="a"><x/></mail>`, ErrMalformed},
		{"over limit", `<mail xmlns="urn:passerelle:peer:0" id="a">` + strings.Repeat("QUFB", 300) + `</mail>`, ErrTooLarge},
		{"truncated", `<mail xmlns="urn:passerelle:peer:0" id="a">QQ==`, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseTransfer(decoder(tc.in), 1<<10); !errors.Is(err, tc.want) {
				t.Errorf("ParseTransfer: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAckRoundTrip(t *testing.T) {
	in := Ack{ID: "abc", Results: []RcptResult{{Addr: "bob@b.example", Status: StatusOK},
		{Addr: "nobody@b.example", Status: "5.1.1", Text: "no such user here"}}}
	got, err := ParseAck(decoder(encode(t, in.Tokens())), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, in) {
		t.Errorf("got %+v", got)
	}
	if r, ok := got.Result("NOBODY@b.example"); !ok || !r.Permanent() {
		t.Errorf("Result: %+v %v", r, ok)
	}
	if _, ok := got.Result("eve@b.example"); ok {
		t.Error("result for a recipient not in the ack")
	}
}

func TestParseAckErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"temporary status", `<ack xmlns="urn:passerelle:peer:0" id="a"><rcpt to="b@b" status="4.2.1"/></ack>`, ErrMalformed},
		{"garbage status", `<ack xmlns="urn:passerelle:peer:0" id="a"><rcpt to="b@b" status="ok"/></ack>`, ErrMalformed},
		{"no id", `<ack xmlns="urn:passerelle:peer:0"/>`, ErrMalformed},
		{"too many", `<ack xmlns="urn:passerelle:peer:0" id="a">` + strings.Repeat(`<rcpt to="b@b" status="2.0.0"/>`, 3) + `</ack>`, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseAck(decoder(tc.in), 2); !errors.Is(err, tc.want) {
				t.Errorf("ParseAck: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{ErrorText("5.7.1", "sender domain not held by the sending gateway"), "5.7.1", true},
		{"4.7.0 key change held", "4.7.0", true},
		{"forbidden", "", false},
		{"6.0.0 x", "", false},
		{"5.1234.0 x", "", false},
	} {
		got, ok := StatusOf(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("StatusOf(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

func TestKeyRoundTrip(t *testing.T) {
	fp, pub, err := ParseKey(decoder(encode(t, KeyTokens("ABCD", []byte{1, 2, 3}))), 100)
	if err != nil || fp != "ABCD" || !reflect.DeepEqual(pub, []byte{1, 2, 3}) {
		t.Errorf("ParseKey = %q %v %v", fp, pub, err)
	}
}

func TestInfoForm(t *testing.T) {
	in := Info{Fingerprint: "ABCDEF", Domains: []string{"a.example", "a2.example"}}
	query := `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="gateway" type="smtp"/>` +
		`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>urn:other</value></field><field var="fingerprint"><value>WRONG</value></field></x>` +
		encode(t, in.FormTokens()) + `</query>`
	got, err := ParseInfo(decoder(query))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, in) {
		t.Errorf("got %+v", got)
	}
	if _, err := ParseInfo(decoder(`<query xmlns="http://jabber.org/protocol/disco#info"/>`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("no form: %v", err)
	}
}
