package upload_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/upload"
)

func TestPutStatus(t *testing.T) {
	tests := []struct {
		status        int
		wantErr       error
		wantTemporary bool
	}{
		{http.StatusCreated, nil, false},
		{http.StatusOK, nil, false},
		{http.StatusInternalServerError, upload.ErrHTTP, true},
		{http.StatusServiceUnavailable, upload.ErrHTTP, true},
		{http.StatusTooManyRequests, upload.ErrHTTP, true},
		{http.StatusUnauthorized, upload.ErrHTTP, true}, // token expired: new slot
		{http.StatusGone, upload.ErrHTTP, true},
		{http.StatusRequestEntityTooLarge, upload.ErrHTTP, false},
		{http.StatusForbidden, upload.ErrHTTP, false},
		{http.StatusConflict, upload.ErrHTTP, false},
		{http.StatusFound, upload.ErrHTTP, false}, // PUT redirects are not followed
	}
	for i, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			u, _, _ := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if tc.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
			}, nil)
			getURL, err := u.Upload(context.Background(), strings.NewReader("blob"), 4)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("%d: err = %v, want %v", i, err, tc.wantErr)
			}
			if upload.IsTemporary(err) != tc.wantTemporary {
				t.Errorf("%d: temporary = %v, want %v", i, upload.IsTemporary(err), tc.wantTemporary)
			}
			if err == nil && !strings.HasSuffix(getURL, "/get/x.bin") {
				t.Errorf("GET URL %q", getURL)
			}
		})
	}
}

// TestPutRequest checks what reaches the HTTP server: only the XEP-0363 §5
// headers, the declared length and the bytes; and the slot request: a
// random name and the neutral content type.
func TestPutRequest(t *testing.T) {
	type seen struct {
		header http.Header
		length int64
		body   string
	}
	got := make(chan seen, 1)
	u, iq, base := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Header.Clone(), r.ContentLength, string(b)}
		w.WriteHeader(http.StatusCreated)
	}, nil)
	iq.answer = func(jid.JID, request) ([]byte, error) {
		return slotXML(base+"/p", base+"/g", "Authorization", "Bearer a\nb", "Cookie", "c=1",
			"Expires", "Tue, 01 Jan 2030 00:00:00 GMT", "X-Evil", "1", "Host", "evil.example"), nil
	}
	if _, err := u.Upload(context.Background(), strings.NewReader("0123456789extra"), 10); err != nil {
		t.Fatalf("Upload: %v", err)
	}
	s := <-got
	if s.body != "0123456789" || s.length != 10 {
		t.Errorf("body %q length %d, want the first 10 bytes", s.body, s.length)
	}
	if s.header.Get("Authorization") != "Bearer ab" || s.header.Get("Cookie") != "c=1" ||
		s.header.Get("Expires") == "" || s.header.Get("X-Evil") != "" {
		t.Errorf("headers %v", s.header)
	}
	if s.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("Content-Type %q", s.header.Get("Content-Type"))
	}
	if _, err := u.Upload(context.Background(), strings.NewReader("x"), 1); err != nil {
		t.Fatalf("second Upload: %v", err)
	}
	<-got
	checkRequests(t, iq.requests, 10, 1)
}

func checkRequests(t *testing.T, reqs []request, sizes ...int64) {
	t.Helper()
	if len(reqs) != len(sizes) {
		t.Fatalf("%d slot requests, want %d", len(reqs), len(sizes))
	}
	for i, r := range reqs {
		if r.XMLName.Space != upload.NS || r.Size != sizes[i] || r.ContentType != "application/octet-stream" {
			t.Errorf("request %d: %+v", i, r)
		}
		if len(r.Filename) != 36 || !strings.HasSuffix(r.Filename, ".eml") {
			t.Errorf("request %d: filename %q, want 32 hex digits and .eml", i, r.Filename)
		}
	}
	if reqs[0].Filename == reqs[1].Filename {
		t.Error("file names repeat")
	}
}

func TestUploadLimits(t *testing.T) {
	u, iq, _ := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}, func(c *upload.Config) { c.MaxSize = 100 })
	for _, size := range []int64{0, -1, 101} {
		_, err := u.Upload(context.Background(), strings.NewReader(""), size)
		var e *upload.Error
		if !errors.As(err, &e) || upload.IsTemporary(err) {
			t.Errorf("size %d: err = %v, want a permanent *Error", size, err)
		}
		if size == 101 && (!errors.Is(err, upload.ErrTooLarge) || e.MaxSize != 100) {
			t.Errorf("size 101: err = %v, want ErrTooLarge max 100", err)
		}
	}
	if len(iq.requests) != 0 {
		t.Errorf("%d slot requests for refused sizes", len(iq.requests))
	}
}

func TestPutTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	u, _, _ := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
	}, func(c *upload.Config) { c.Timeout = 200 * time.Millisecond })
	began := time.Now()
	_, err := u.Upload(context.Background(), strings.NewReader("blob"), 4)
	if !errors.Is(err, upload.ErrTransport) || !upload.IsTemporary(err) || time.Since(began) > 3*time.Second {
		t.Fatalf("err = %v after %v, want a temporary transport error after 200ms", err, time.Since(began))
	}
}

func TestURLPolicy(t *testing.T) {
	u, iq, base := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}, func(c *upload.Config) { c.AllowLoopbackHTTP = false })
	iq.answer = func(jid.JID, request) ([]byte, error) { return slotXML(base+"/p", base+"/g"), nil }
	if _, err := u.Upload(context.Background(), strings.NewReader("x"), 1); !errors.Is(err, upload.ErrBadURL) {
		t.Errorf("loopback http without AllowLoopbackHTTP: %v, want ErrBadURL", err)
	}
	for _, raw := range []string{base + "/g", "http://example.org/x", "ftp://example.org/x",
		"https://user:pw@example.org/x", "file:///etc/passwd", "/relative"} {
		if _, err := u.Fetch(context.Background(), raw, 10); !errors.Is(err, upload.ErrBadURL) {
			t.Errorf("Fetch(%q): %v, want ErrBadURL", raw, err)
		}
	}
}

// TestIQerStanzaError: an IQer may return an error reply as a mellium
// stanza.Error instead of XML.
func TestIQerStanzaError(t *testing.T) {
	u, iq, _ := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {}, nil)
	iq.answer = func(jid.JID, request) ([]byte, error) {
		return nil, fmt.Errorf("iq: %w", stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint})
	}
	_, err := u.Upload(context.Background(), strings.NewReader("x"), 1)
	if !errors.Is(err, upload.ErrQuota) || !upload.IsTemporary(err) {
		t.Fatalf("err = %v, want temporary ErrQuota", err)
	}
	iq.answer = func(jid.JID, request) ([]byte, error) { return nil, context.DeadlineExceeded }
	_, err = u.Upload(context.Background(), strings.NewReader("x"), 1)
	if !errors.Is(err, upload.ErrTransport) || !upload.IsTemporary(err) {
		t.Fatalf("err = %v, want temporary ErrTransport", err)
	}
}
