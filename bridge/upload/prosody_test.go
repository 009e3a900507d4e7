package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"passerelle/bridge/payload"
	"passerelle/bridge/upload"
)

const mib = 1 << 20

// TestRoundTripProsody uploads a 25 MiB mail sealed as in XEP-0454 through
// a discovered service and fetches it back byte-exact.
func TestRoundTripProsody(t *testing.T) {
	srv := startProsody(t, 0, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := newUploader(t, srv, connectComponent(t, srv), "")
	raw := make([]byte, 25*mib)
	rand.Read(raw)
	x, blob, err := payload.SealExternal(raw)
	if err != nil {
		t.Fatalf("SealExternal: %v", err)
	}
	getURL, err := u.Upload(ctx, bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if !strings.HasPrefix(getURL, "http://"+srv.HTTPAddr+"/") || !strings.HasSuffix(getURL, ".eml") {
		t.Errorf("GET URL %q: want a random .bin name on %s", getURL, srv.HTTPAddr)
	}
	x.URL = getURL
	got, err := u.Fetch(ctx, x.URL, x.Size+payload.TagSize)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	plain, err := x.Open(got)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(plain, raw) {
		t.Fatal("round trip changed the mail")
	}
	if _, err := u.Fetch(ctx, x.URL, x.Size); !errors.Is(err, upload.ErrTooLarge) {
		t.Errorf("Fetch with a cap below the blob: %v, want ErrTooLarge", err)
	}
}

func TestDiscoverProsody(t *testing.T) {
	srv := startProsody(t, 3*mib, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := newUploader(t, srv, connectComponent(t, srv), "")
	svc, err := u.Service(ctx)
	if err != nil {
		t.Fatalf("Service: %v", err)
	}
	if svc.JID.String() != srv.UploadComponent || svc.MaxSize != 3*mib {
		t.Fatalf("found %s max %d, want %s max %d", svc.JID, svc.MaxSize, srv.UploadComponent, 3*mib)
	}
}

// TestRefusalsProsody records what Prosody 0.12's mod_http_file_share
// answers and how each answer is classified.
func TestRefusalsProsody(t *testing.T) {
	const limit = 4 << 10 // prosodytest sets the daily quota to 100 times this
	quota := make([]int64, 101)
	for i := range quota {
		quota[i] = limit
	}
	tests := []struct {
		name          string
		extra         string // appended inside the upload Component block
		service       string // "" discovers
		hideMax       bool   // do not let the Uploader learn max-file-size
		sizes         []int64
		wantKind      error
		wantTemporary bool
		wantMax       int64
	}{
		{name: "file-too-large from the slot", service: "upload.example.org", hideMax: true,
			sizes: []int64{limit + 1}, wantKind: upload.ErrTooLarge, wantMax: limit},
		{name: "too large for the advertised max-file-size",
			sizes: []int64{limit + 1}, wantKind: upload.ErrTooLarge, wantMax: limit},
		{name: "too large for the configured service's max-file-size", service: "upload.example.org",
			sizes: []int64{limit + 1}, wantKind: upload.ErrTooLarge, wantMax: limit},
		{name: "daily quota", service: "upload.example.org",
			sizes: quota, wantKind: upload.ErrQuota, wantTemporary: true},
		{name: "access list without the component",
			extra: "  http_file_share_access = { \"alice@example.org\" }\n", service: "upload.example.org",
			sizes: []int64{1000}, wantKind: upload.ErrForbidden},
		// Without s2s Prosody answers not-allowed for an unknown domain.
		{name: "no such service", service: "nothing.example.org",
			sizes: []int64{1000}, wantKind: upload.ErrForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startProsody(t, limit, tc.extra)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var iq upload.IQer = connectComponent(t, srv)
			if tc.hideMax {
				iq = hideMax{iq}
			}
			u := newUploader(t, srv, iq, tc.service)
			var err error
			for _, size := range tc.sizes {
				if _, err = u.Upload(ctx, bytes.NewReader(make([]byte, size)), size); err != nil {
					break
				}
			}
			checkRefusal(t, err, tc.wantKind, tc.wantTemporary, tc.wantMax)
		})
	}
}

func checkRefusal(t *testing.T, err, wantKind error, wantTemporary bool, wantMax int64) {
	t.Helper()
	var e *upload.Error
	if !errors.As(err, &e) || !errors.Is(err, wantKind) {
		t.Fatalf("err = %v, want *Error of kind %v", err, wantKind)
	}
	if upload.IsTemporary(err) != wantTemporary || e.MaxSize != wantMax {
		t.Fatalf("err = %v: temporary %v max %d, want %v max %d", err, upload.IsTemporary(err), e.MaxSize, wantTemporary, wantMax)
	}
	t.Logf("classified: %v", err)
}

// TestAccessListWithComponent proves the operator knob: once
// http_file_share_access lists anything, listing the component's domain
// lets it upload.
func TestAccessListWithComponent(t *testing.T) {
	srv := startProsody(t, 0, "  http_file_share_access = { \"alice@example.org\", \"mail.example.org\" }\n")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	u := newUploader(t, srv, connectComponent(t, srv), "upload.example.org")
	if _, err := u.Upload(ctx, strings.NewReader("hello"), 5); err != nil {
		t.Fatalf("Upload: %v", err)
	}
}
