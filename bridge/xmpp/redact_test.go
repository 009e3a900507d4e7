package xmpp

import (
	"strings"
	"testing"
)

const traceStream = `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='s1'>` +
	`<handshake>deadbeefSECRET0</handshake>` +
	`<message from='bob\40x.example@mail.example.org' to='alice@example.org' id='m1' type='chat'>` +
	`<body>SECRET1 a &lt; b &amp; c</body><subject>SECRET2</subject>` +
	`<openpgp xmlns='urn:xmpp:openpgp:0'>SECRET3base64==</openpgp>` +
	`<mail xmlns='urn:passerelle:mail:0'><part a='x>y'>SECRET4<![CDATA[</mail> SECRET5]]></part><!-- </mail> --></mail>` +
	`<store xmlns='urn:xmpp:hints'/><x:body xmlns:x='jabber:client'>SECRET6</x:body><body/>` +
	`</message><iq type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>` +
	`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>SECRET7</auth>`

// TestRedactor: the trace keeps every tag and hides the content of the
// redacted elements however the stream is cut into reads and writes.
func TestRedactor(t *testing.T) {
	for _, size := range []int{1, 2, 3, 7, 64, len(traceStream)} {
		var r redactor
		var got strings.Builder
		for i := 0; i < len(traceStream); i += size {
			got.WriteString(r.redact([]byte(traceStream[i:min(i+size, len(traceStream))])))
		}
		out := got.String()
		if strings.Contains(out, "SECRET") {
			t.Fatalf("chunks of %d: content leaked:\n%s", size, out)
		}
		for _, want := range []string{"<handshake>", "</handshake>", "<message from=", "<body>", "</body>",
			"<openpgp xmlns='urn:xmpp:openpgp:0'>", "<store xmlns='urn:xmpp:hints'/>", "</mail>", "<body/>",
			"<iq type='get' id='q1'><ping xmlns='urn:xmpp:ping'/></iq>", "</x:body>", "[redacted", "mechanism='SCRAM-SHA-1'"} {
			if !strings.Contains(out, want) {
				t.Fatalf("chunks of %d: %q missing from the trace:\n%s", size, want, out)
			}
		}
	}
}

func FuzzRedactor(f *testing.F) {
	f.Add([]byte(traceStream), 5)
	f.Add([]byte("<body><body></body>x</body>SECRET"), 1)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		if size <= 0 {
			size = 1
		}
		var r redactor
		for i := 0; i < len(b); i += size {
			_ = r.redact(b[i:min(i+size, len(b))])
		}
		if len(r.pending) > maxPendingMarkup+size {
			t.Fatalf("pending grew to %d", len(r.pending))
		}
	})
}
