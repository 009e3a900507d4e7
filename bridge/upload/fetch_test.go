package upload_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"passerelle/bridge/upload"
)

func TestFetch(t *testing.T) {
	blob := bytes.Repeat([]byte("x"), 100)
	u, _, base := httpFixture(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok", "/chunked":
			if r.URL.Path == "/ok" {
				w.Header().Set("Content-Length", strconv.Itoa(len(blob)))
			}
			_, _ = w.Write(blob)
			w.(http.Flusher).Flush()
		case "/redirect-loopback":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/redirect-plain":
			http.Redirect(w, r, "http://example.org/ok", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}, nil)
	tests := []struct {
		path          string
		max           int64
		wantErr       error
		wantTemporary bool
	}{
		{path: "/ok", max: 100},
		{path: "/ok", max: 99, wantErr: upload.ErrTooLarge},      // by Content-Length
		{path: "/chunked", max: 99, wantErr: upload.ErrTooLarge}, // by counting
		{path: "/chunked", max: 1000},
		{path: "/redirect-loopback", max: 100},
		{path: "/redirect-plain", max: 100, wantErr: upload.ErrBadURL},
		{path: "/missing", max: 100, wantErr: upload.ErrHTTP},
	}
	for i, tc := range tests {
		got, err := u.Fetch(context.Background(), base+tc.path, tc.max)
		if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
			t.Errorf("%d %s max %d: err = %v, want %v", i, tc.path, tc.max, err, tc.wantErr)
			continue
		}
		if upload.IsTemporary(err) != tc.wantTemporary {
			t.Errorf("%d: temporary = %v", i, upload.IsTemporary(err))
		}
		if err == nil && !bytes.Equal(got, blob) {
			t.Errorf("%d: got %d bytes", i, len(got))
		}
	}
}
