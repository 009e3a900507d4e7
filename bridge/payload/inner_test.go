package payload

import (
	"bytes"
	"testing"
)

func TestInnerRoundTrip(t *testing.T) {
	p := &Payload{Subject: "Grüße <&>", Body: "line 1\nline 2", Thread: "t1",
		Mail: &Mail{Raw: []byte("Subject: x\r\n\r\nbody\r\n.\r\n"), MessageID: "a@b"}}
	inner, err := BuildInner(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(inner, []byte("<payload")) {
		t.Fatalf("inner XML still has the root: %s", inner)
	}
	got, err := ParseInner(inner, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != p.Subject || got.Body != p.Body || got.Thread != p.Thread ||
		!bytes.Equal(got.Mail.Raw, p.Mail.Raw) || got.Mail.MessageID != "a@b" {
		t.Fatalf("round trip: got %+v", got)
	}
}
