package reverse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"passerelle/bridge/payload"
	"passerelle/bridge/upload"
	"passerelle/gateway/compose"
	"passerelle/internal/netguard"
	"passerelle/internal/offheap"
)

const blobURL = "https://upload.example.org/slot/s3cr3t-capability/mail.bin"

// fakeFetcher serves one blob, or fails with err.
type fakeFetcher struct {
	mu    sync.Mutex
	blob  []byte
	err   error
	calls int
	max   int64
	url   string
	hold  func(ctx context.Context) error // if set, runs first (a slow download)
}

func (f *fakeFetcher) Fetch(ctx context.Context, u string, maxSize int64) ([]byte, error) {
	if f.hold != nil {
		if err := f.hold(ctx); err != nil {
			return nil, &upload.Error{Op: "get", Kind: upload.ErrTransport, Transient: true, Err: err}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.max, f.url = maxSize, u
	if f.err != nil {
		return nil, f.err
	}
	if int64(len(f.blob)) > maxSize {
		return nil, &upload.Error{Op: "get", Kind: upload.ErrTooLarge, MaxSize: maxSize}
	}
	return f.blob, nil
}

// bufferFetcher is a fakeFetcher that also downloads into a buffer outside
// the heap, as bridge/upload.Uploader does (BufferFetcher).
type bufferFetcher struct {
	*fakeFetcher
	bufs []*offheap.Buffer
}

func (b *bufferFetcher) FetchBuffer(ctx context.Context, u string, maxSize int64) (*offheap.Buffer, error) {
	blob, err := b.Fetch(ctx, u, maxSize)
	if err != nil {
		return nil, err
	}
	buf := offheap.New(int(maxSize))
	if _, err := buf.Write(blob); err != nil {
		return nil, err
	}
	b.bufs = append(b.bufs, buf)
	return buf, nil
}

// externalMail seals a mail with a marker in its body as an upload.
func externalMail(t *testing.T, marker string) (*payload.External, []byte) {
	t.Helper()
	raw := "From: someone@client.example\r\nSubject: big " + marker + "\r\n\r\n" +
		strings.Repeat("line of a large mail\r\n", 1000) + "end " + marker + "\r\n"
	x, blob, err := payload.SealExternal([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	x.URL = blobURL
	return x, blob
}

func TestExternal(t *testing.T) {
	x, blob := externalMail(t, "marker-ext")
	tampered := bytes.Clone(blob)
	tampered[10] ^= 1
	_, otherBlob := externalMail(t, "marker-oth") // same size, another mail
	ox := func(x *payload.External) string {
		return sealed(t, bobPuppet, keyset.alice, &payload.Payload{Body: "text", Mail: &payload.Mail{External: x}})
	}
	plainMail, err := payload.MailTokens(&payload.Mail{External: x})
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	enc := xml.NewEncoder(&plain)
	for _, tok := range plainMail {
		enc.EncodeToken(tok)
	}
	enc.Flush()

	for _, tc := range []struct {
		name       string
		children   string
		fetcher    *fakeFetcher // nil: no Fetcher configured
		offHeap    bool         // the fetcher is a BufferFetcher
		compose    compose.Limits
		wantType   string // error type; "" : spooled
		wantCond   string
		wantText   string
		wantNot    string // must not be in the reply
		wantFetch  bool
		wantInBody string
	}{
		{name: "ok, off-heap download", children: ox(x), fetcher: &fakeFetcher{blob: bytes.Clone(blob)}, offHeap: true,
			wantFetch: true, wantInBody: "end marker-ext"},
		{name: "tampered blob, off-heap download", children: ox(x), fetcher: &fakeFetcher{blob: bytes.Clone(tampered)},
			offHeap: true, wantFetch: true, wantType: "modify", wantCond: "not-acceptable", wantText: "does not match"},
		{name: "ok", children: ox(x), fetcher: &fakeFetcher{blob: blob}, wantFetch: true,
			wantInBody: "end marker-ext"},
		{name: "temporary failure", children: ox(x), wantFetch: true, fetcher: &fakeFetcher{
			err: &upload.Error{Op: "get", Kind: upload.ErrTransport, Transient: true,
				Err: &url.Error{Op: "Get", URL: blobURL, Err: errors.New("connection refused")}}},
			wantType: "wait", wantCond: "remote-server-timeout", wantText: "again later"},
		{name: "HTTP 503", children: ox(x), wantFetch: true, fetcher: &fakeFetcher{
			err: &upload.Error{Op: "get", Kind: upload.ErrHTTP, Status: 503, Transient: true}},
			wantType: "wait", wantCond: "remote-server-timeout"},
		{name: "HTTP 404", children: ox(x), wantFetch: true, fetcher: &fakeFetcher{
			err: &upload.Error{Op: "get", Kind: upload.ErrHTTP, Status: 404}},
			wantType: "modify", wantCond: "not-acceptable", wantText: "could not download", wantNot: "404"},
		{name: "tampered blob", children: ox(x), fetcher: &fakeFetcher{blob: tampered}, wantFetch: true,
			wantType: "modify", wantCond: "not-acceptable", wantText: "does not match"},
		{name: "another blob", children: ox(x), fetcher: &fakeFetcher{blob: otherBlob}, wantFetch: true,
			wantType: "modify", wantCond: "not-acceptable", wantText: "does not match"},
		{name: "server sends too much", children: ox(x), fetcher: &fakeFetcher{blob: append(bytes.Clone(blob), 0)},
			wantFetch: true, wantType: "modify", wantCond: "not-acceptable", wantText: "could not download"},
		{name: "declared size over the limit", children: ox(x), fetcher: &fakeFetcher{blob: blob},
			compose:  compose.Limits{MaxEmbeddedBytes: int(x.Size) - 1},
			wantType: "modify", wantCond: "not-acceptable", wantText: "larger than this gateway sends"},
		{name: "URL refused", children: ox(x), wantFetch: true, fetcher: &fakeFetcher{
			err: &upload.Error{Op: "url", Kind: upload.ErrBadURL}},
			wantType: "modify", wantCond: "not-acceptable", wantText: "could not download the uploaded mail"},
		{name: "address refused", children: ox(x), wantFetch: true, fetcher: &fakeFetcher{
			err: &upload.Error{Op: "get", Kind: upload.ErrBadURL, Err: &netguard.RefusedError{
				Addr: netip.MustParseAddr("10.0.0.5")}}},
			wantType: "modify", wantCond: "not-acceptable", wantText: "could not download the uploaded mail", wantNot: "10.0.0.5"},
		{name: "plaintext body refused", children: "<body>text</body>" + plain.String(),
			fetcher: &fakeFetcher{blob: blob}, wantType: "modify", wantCond: "not-acceptable", wantText: "only inside an OX"},
		{name: "no fetcher", children: ox(x),
			wantType: "cancel", wantCond: "feature-not-implemented", wantText: "HTTP upload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			f := newFixture(t, Limits{}, nil, func(c *Config) {
				c.Log, c.Compose = zap.New(core), tc.compose
				switch {
				case tc.offHeap:
					c.Fetcher = &bufferFetcher{fakeFetcher: tc.fetcher}
				case tc.fetcher != nil:
					c.Fetcher = tc.fetcher
				}
			})
			f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "x1", tc.children))
			if tc.fetcher != nil && (tc.fetcher.calls > 0) != tc.wantFetch {
				t.Errorf("fetched %d times, want fetch %v", tc.fetcher.calls, tc.wantFetch)
			}
			if tc.wantFetch && (tc.fetcher.max != x.Size+payload.TagSize || tc.fetcher.url != blobURL) {
				t.Errorf("Fetch(%q, %d), want (%q, %d)", tc.fetcher.url, tc.fetcher.max, blobURL, x.Size+payload.TagSize)
			}
			for _, e := range logs.All() {
				if line := e.Message + " " + strings.Join(fieldValues(e.ContextMap()), " "); strings.Contains(line, "s3cr3t") {
					t.Errorf("log %q reveals the URL's path", line)
				}
			}
			if tc.wantCond != "" {
				got := f.last(t)
				if got.Type != "error" || !strings.Contains(got.xml, "<"+tc.wantCond+" ") ||
					!strings.Contains(got.xml, `type="`+tc.wantType+`"`) || !strings.Contains(got.xml, tc.wantText) {
					t.Fatalf("reply = %+v %s, want %s %s %q", got.Message, got.xml, tc.wantType, tc.wantCond, tc.wantText)
				}
				if tc.wantNot != "" && strings.Contains(got.xml, tc.wantNot) {
					t.Errorf("reply %s tells the sender %q", got.xml, tc.wantNot)
				}
				if len(f.spool.envs) != 0 {
					t.Fatal("refused message was spooled")
				}
				return
			}
			if len(f.spool.envs) != 1 {
				t.Fatalf("spooled %d messages; replies %+v", len(f.spool.envs), f.sender.sent)
			}
			body := f.spool.bodies[0]
			if !bytes.Contains(body, []byte(tc.wantInBody)) || !bytes.Contains(body, []byte("From: <alice@example.org>\r\n")) {
				t.Errorf("spooled mail lacks %q or alice as From:\n%.500s", tc.wantInBody, body)
			}
		})
	}
}

// TestExternalRetryAfterTemporaryFailure: the same stanza sent again once
// the upload server is back is delivered, once.
func TestExternalRetryAfterTemporaryFailure(t *testing.T) {
	x, blob := externalMail(t, "marker-retry")
	ff := &fakeFetcher{err: &upload.Error{Op: "get", Kind: upload.ErrHTTP, Status: 502, Transient: true}}
	f := newFixture(t, Limits{}, nil, func(c *Config) { c.Fetcher = ff })
	msg := stanzaXML("alice@example.org/a", bobPuppet, "r1",
		sealed(t, bobPuppet, keyset.alice, &payload.Payload{Mail: &payload.Mail{External: x}})+
			"<origin-id xmlns='urn:xmpp:sid:0' id='retry-1'/>")
	f.deliver(t, msg)
	if got := f.last(t); !strings.Contains(got.xml, "remote-server-timeout") || len(f.spool.envs) != 0 {
		t.Fatalf("first attempt: %s, %d spooled", got.xml, len(f.spool.envs))
	}
	ff.mu.Lock()
	ff.err, ff.blob = nil, blob
	ff.mu.Unlock()
	f.deliver(t, msg)
	if len(f.spool.envs) != 1 || !bytes.Contains(f.spool.bodies[0], []byte("end marker-retry")) {
		t.Fatalf("retry: %d spooled; replies %+v", len(f.spool.envs), f.sender.sent)
	}
}

// TestExternalDownloadTimeout: the download of an upload is bounded by
// DownloadTimeout, not by the message's Timeout (L5). A download that
// outlasts Timeout (here 20 ms; the fake waits 10 times that) but not
// DownloadTimeout is delivered, and the composing and spooling after it
// still have their time; one that never ends is cut at DownloadTimeout
// and refused with a temporary error.
func TestExternalDownloadTimeout(t *testing.T) {
	x, blob := externalMail(t, "marker-slow")
	const timeout = 20 * time.Millisecond
	slow := &fakeFetcher{blob: blob, hold: func(ctx context.Context) error {
		select {
		case <-time.After(10 * timeout):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}
	stuck := &fakeFetcher{blob: blob, hold: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	for _, tc := range []struct {
		name      string
		fetcher   *fakeFetcher
		download  time.Duration
		wantSpool bool
	}{
		{name: "slow download within download_timeout", fetcher: slow, download: time.Minute, wantSpool: true},
		{name: "download never ends", fetcher: stuck, download: 10 * timeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Limits{}, nil, func(c *Config) {
				c.Fetcher, c.Timeout, c.DownloadTimeout = tc.fetcher, timeout, tc.download
			})
			f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "s1",
				sealed(t, bobPuppet, keyset.alice, &payload.Payload{Mail: &payload.Mail{External: x}})))
			if tc.wantSpool {
				if len(f.spool.envs) != 1 {
					t.Fatalf("%d spooled; replies %+v", len(f.spool.envs), f.sender.sent)
				}
				return
			}
			if got := f.last(t); !strings.Contains(got.xml, "remote-server-timeout") || len(f.spool.envs) != 0 {
				t.Fatalf("reply %s, %d spooled", got.xml, len(f.spool.envs))
			}
		})
	}
}

func fieldValues(m map[string]any) []string {
	var out []string
	for k, v := range m {
		if s, ok := v.(string); ok {
			out = append(out, k+"="+s)
		}
	}
	return out
}

// TestExternalLargeOffHeap: an uploaded mail over offheapMin, fetched into
// a buffer outside the heap and composed into one, is spooled whole: its
// 2 MiB attachment byte-exact.
func TestExternalLargeOffHeap(t *testing.T) {
	att := make([]byte, 2<<20)
	rand.Read(att)
	enc := base64.StdEncoding.EncodeToString(att)
	var b strings.Builder
	b.WriteString("From: someone@client.example\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain\r\n\r\nmarker-large\r\n--zz\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--zz--\r\n")
	x, blob, err := payload.SealExternal([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	x.URL = blobURL
	bf := &bufferFetcher{fakeFetcher: &fakeFetcher{blob: blob}}
	f := newFixture(t, Limits{}, nil, func(c *Config) { c.Fetcher = bf })
	f.deliver(t, stanzaXML("alice@example.org/a", bobPuppet, "x1",
		sealed(t, bobPuppet, keyset.alice, &payload.Payload{Body: "text", Mail: &payload.Mail{External: x}})))
	if len(f.spool.envs) != 1 || len(bf.bufs) != 1 {
		t.Fatalf("spooled %d messages, %d downloads; replies %+v", len(f.spool.envs), len(bf.bufs), f.sender.sent)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(f.spool.bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no attachment in the spooled mail: %v", err)
		}
		if p.Header.Get("Content-Type") != "application/octet-stream" {
			continue
		}
		got, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil || !bytes.Equal(got, att) {
			t.Fatalf("attachment: %v, %d bytes, equal %v", err, len(got), bytes.Equal(got, att))
		}
		return
	}
}
