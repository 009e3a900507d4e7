package upload_test

import (
	"net/url"
	"strings"
	"testing"

	"passerelle/bridge/upload"
)

func FuzzParseSlot(f *testing.F) {
	for _, s := range []string{replyProsody, replyTooLarge, replyQuota, replyNotAllowed, replyForbidden, replyInternal,
		string(slotXML("https://u.example/p", "https://u.example/g", "Authorization", "x", "Cookie", "y", "X", "z")),
		`<slot xmlns='urn:xmpp:http:upload:0'><put url='https://a/'><header name='cookie'>a&#13;&#10;b</header></put><get url='https://a/'/></slot>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := upload.ParseSlot(data)
		if err != nil {
			if _, ok := err.(*upload.Error); !ok {
				t.Fatalf("error %T is not *upload.Error", err)
			}
			return
		}
		for _, raw := range []string{s.PutURL, s.GetURL} {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				t.Fatalf("accepted URL %q", raw)
			}
		}
		for name, vals := range s.Header {
			if name != "Authorization" && name != "Cookie" && name != "Expires" {
				t.Fatalf("accepted header %q", name)
			}
			for _, v := range vals {
				if strings.ContainsAny(v, "\r\n") {
					t.Fatalf("header %s value %q has a newline", name, v)
				}
			}
		}
	})
}
