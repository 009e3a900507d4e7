package upload_test

import (
	"errors"
	"strings"
	"testing"

	"passerelle/bridge/upload"
)

// Error replies as XEP-0363 §4 shows them and as Prosody 0.12 sends them.
const (
	replyTooLarge = `<iq type='error' xmlns='jabber:component:accept'><request xmlns='urn:xmpp:http:upload:0' filename='a' size='9'/>` +
		`<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>File too large</text>` +
		`<file-too-large xmlns='urn:xmpp:http:upload:0'><max-file-size>20000</max-file-size></file-too-large></error></iq>`
	replyQuota = `<iq type='error'><error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Quota reached. You can only upload 5 files in 5 minutes</text>` +
		`<retry xmlns='urn:xmpp:http:upload:0' stamp='2017-12-03T23:42:05Z'/></error></iq>`
	replyNotAllowed = `<iq type='error'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>` +
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Only premium members are allowed to upload files</text></error></iq>`
	replyForbidden = `<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`
	replyInternal  = `<iq type='error'><error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`
	replyProsody   = `<iq xmlns="jabber:component:accept" type="result" id="x" from="upload.example.org" to="mail.example.org">` +
		`<slot xmlns="urn:xmpp:http:upload:0" xmlns="urn:xmpp:http:upload:0"><get xmlns="urn:xmpp:http:upload:0" url="http://127.0.0.1:1/file_share/S/n.bin"></get>` +
		`<put xmlns="urn:xmpp:http:upload:0" url="http://127.0.0.1:1/file_share/S/n.bin"><header xmlns="urn:xmpp:http:upload:0" name="Authorization">Bearer eyJ</header></put></slot></iq>`
)

func TestParseSlotErrors(t *testing.T) {
	tests := []struct {
		name          string
		resp          string
		wantKind      error
		wantCondition string
		wantTemporary bool
		wantMax       int64
	}{
		{"file too large", replyTooLarge, upload.ErrTooLarge, "not-acceptable", false, 20000},
		{"quota", replyQuota, upload.ErrQuota, "resource-constraint", true, 0},
		{"not allowed", replyNotAllowed, upload.ErrForbidden, "not-allowed", false, 0},
		{"bare forbidden", replyForbidden, upload.ErrForbidden, "forbidden", false, 0},
		{"server trouble", replyInternal, upload.ErrTransport, "internal-server-error", true, 0},
		{"empty result", `<iq type='result'/>`, upload.ErrBadSlot, "", false, 0},
		{"other payload", `<iq type='result'><query xmlns='jabber:iq:version'/></iq>`, upload.ErrBadSlot, "", false, 0},
		{"two puts", `<slot xmlns='urn:xmpp:http:upload:0'><put url='https://a/'/><put url='https://b/'/><get url='https://a/'/></slot>`, upload.ErrBadSlot, "", false, 0},
		{"no get", `<slot xmlns='urn:xmpp:http:upload:0'><put url='https://a/'/></slot>`, upload.ErrBadSlot, "", false, 0},
		{"bad url", `<slot xmlns='urn:xmpp:http:upload:0'><put url='javascript:alert(1)'/><get url='https://a/'/></slot>`, upload.ErrBadSlot, "", false, 0},
		{"old namespace", `<slot xmlns='urn:xmpp:http:upload'><put>https://a/</put><get>https://a/</get></slot>`, upload.ErrBadSlot, "", false, 0},
		{"not xml", `<iq`, upload.ErrBadSlot, "", false, 0},
		{"too long", `<slot xmlns='urn:xmpp:http:upload:0'>` + strings.Repeat(" ", 70000) + `</slot>`, upload.ErrBadSlot, "", false, 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := upload.ParseSlot([]byte(tc.resp))
			var e *upload.Error
			if !errors.As(err, &e) || !errors.Is(err, tc.wantKind) {
				t.Fatalf("%d: err = %v, want kind %v", i, err, tc.wantKind)
			}
			if e.Condition != tc.wantCondition || e.Temporary() != tc.wantTemporary || e.MaxSize != tc.wantMax {
				t.Errorf("%d: %+v", i, e)
			}
		})
	}
}

// TestParseSlotProsody reads a slot as Prosody sends it, re-encoded by Go's
// xml.Encoder (which repeats xmlns attributes).
func TestParseSlotProsody(t *testing.T) {
	s, err := upload.ParseSlot([]byte(replyProsody))
	if err != nil {
		t.Fatalf("ParseSlot: %v", err)
	}
	if s.PutURL != "http://127.0.0.1:1/file_share/S/n.bin" || s.GetURL != s.PutURL ||
		s.Header.Get("Authorization") != "Bearer eyJ" || len(s.Header) != 1 {
		t.Fatalf("slot %+v", s)
	}
}
