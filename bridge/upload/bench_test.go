package upload_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
)

// minWait lowers Prosody's event-loop minimum sleep (default 1 ms). Its
// HTTP server reads 8 KiB per loop turn and waits a timer turn whenever
// LuaSocket holds more, which caps uploads near 4 MB/s; this makes them
// about ten times faster.
const minWait = "network_settings = { min_wait = 0.00001 }\n"

// BenchmarkUpload measures slot request plus PUT against Prosody's
// http_file_share on loopback, with the default event loop and with
// minWait; MB/s is the blob rate.
func BenchmarkUpload(b *testing.B) {
	for _, cfg := range []struct{ name, global string }{{"default", ""}, {"min_wait", minWait}} {
		b.Run(cfg.name, func(b *testing.B) { benchUpload(b, cfg.global) })
	}
}

func benchUpload(b *testing.B, global string) {
	srv := startProsody(b, 0, "", global)
	u := newUploader(b, srv, connectComponent(b, srv), srv.UploadComponent)
	for _, size := range []int{1 << 20, 25 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			blob := make([]byte, size)
			rand.Read(blob)
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := u.Upload(context.Background(), bytes.NewReader(blob), int64(size)); err != nil {
					b.Fatalf("Upload: %v", err)
				}
			}
		})
	}
}

// BenchmarkFetch measures a GET of a 25 MiB blob from Prosody.
func BenchmarkFetch(b *testing.B) {
	srv := startProsody(b, 0, "")
	u := newUploader(b, srv, connectComponent(b, srv), srv.UploadComponent)
	blob := make([]byte, 25<<20)
	rand.Read(blob)
	getURL, err := u.Upload(context.Background(), bytes.NewReader(blob), int64(len(blob)))
	if err != nil {
		b.Fatalf("Upload: %v", err)
	}
	b.SetBytes(int64(len(blob)))
	for b.Loop() {
		if _, err := u.Fetch(context.Background(), getURL, int64(len(blob))); err != nil {
			b.Fatalf("Fetch: %v", err)
		}
	}
}
