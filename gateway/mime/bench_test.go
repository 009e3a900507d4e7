package mime

import (
	"fmt"
	"strings"
	"testing"
)

// benchMessage builds a multipart/alternative mail with an attachment,
// about size bytes long.
func benchMessage(size int) []byte {
	line := "The quick brown fox jumps over the lazy dog, caf\u00e9 cr\u00e8me.\r\n"
	n := size / 4 / len(line)
	plain := strings.Repeat(line, n)
	html := strings.Repeat("<p>"+strings.TrimSpace(line)+` <a href="https://example.org/">link</a></p>`+"\r\n", n)
	att := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5\r\n", size/4/70)
	return fmt.Appendf(nil, "From: A <a@example.org>\r\nTo: b@example.net\r\nSubject: =?UTF-8?Q?bench_=C3=A9?=\r\n"+
		"Date: Tue, 03 Jun 2025 10:15:00 +0200\r\nMessage-ID: <bench@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n"+
		"--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n%s\r\n--a--\r\n"+
		"--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=x.bin\r\n"+
		"Content-Transfer-Encoding: base64\r\n\r\n%s--m--\r\n", plain, html, att)
}

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		raw := benchMessage(size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(raw, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
