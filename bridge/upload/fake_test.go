package upload_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/upload"
)

// fakeIQ answers slot requests with a slot on an httptest server and
// records the requests.
type fakeIQ struct {
	mu       sync.Mutex
	requests []request
	answer   func(to jid.JID, r request) ([]byte, error)
}

type request struct {
	XMLName     xml.Name
	Filename    string `xml:"filename,attr"`
	Size        int64  `xml:"size,attr"`
	ContentType string `xml:"content-type,attr"`
}

func (f *fakeIQ) IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error) {
	var r request
	if err := xml.NewTokenDecoder(payload).Decode(&r); err != nil {
		return nil, err
	}
	if r.XMLName.Local == "query" { // disco#info of the configured service
		return []byte(infoError), nil
	}
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
	return f.answer(to, r)
}

// slotXML is a result as bridge/xmpp would hand it over.
func slotXML(put, get string, headers ...string) []byte {
	var h strings.Builder
	for i := 0; i+1 < len(headers); i += 2 {
		fmt.Fprintf(&h, "<header name=%q>%s</header>", headers[i], headers[i+1])
	}
	return fmt.Appendf(nil, `<iq xmlns="jabber:component:accept" type="result" id="1" from="upload.example.org">`+
		`<slot xmlns="urn:xmpp:http:upload:0"><put url=%q>%s</put><get url=%q/></slot></iq>`, put, h.String(), get)
}

// httpFixture is an httptest server with a fixed handler and an Uploader
// whose slots point at it.
func httpFixture(t *testing.T, h http.HandlerFunc, mutate func(*upload.Config)) (*upload.Uploader, *fakeIQ, string) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	iq := &fakeIQ{answer: func(jid.JID, request) ([]byte, error) {
		return slotXML(ts.URL+"/put/x.bin", ts.URL+"/get/x.bin", "Authorization", "Bearer t"), nil
	}}
	cfg := upload.Config{IQ: iq, Service: jid.MustParse("upload.example.org"),
		AllowLoopbackHTTP: true, FetchGuard: loopbackGuard, Timeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	u, err := upload.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return u, iq, ts.URL
}
