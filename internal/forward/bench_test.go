package forward

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"passerelle/gateway/smtpd"
)

// BenchmarkAccept measures the forward path's per-message work at end of
// DATA: MIME parsing, payload building and sealing for one recipient (the
// spool is a fake, so fsync is not counted).
func BenchmarkAccept(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			sp := &fakeSpool{}
			f := newTestForward(&testing.T{}, fakeKeys{"alice@example.org": nil}, sp)
			route, _ := f.Rcpt(context.Background(), &smtpd.Info{}, "bob@remote.example", "alice@example.org")
			raw := make([]byte, size*3/4)
			rand.Read(raw)
			enc := base64.StdEncoding.EncodeToString(raw)
			var body strings.Builder
			for len(enc) > 76 {
				body.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			mail := []byte(testMail[:strings.Index(testMail, "\r\n\r\n")] + "\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body.String())
			env := &smtpd.Envelope{From: "bob@remote.example", Recipients: []smtpd.Recipient{{Addr: "alice@example.org", Route: route}}}
			b.SetBytes(int64(len(mail)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sp.bodies = sp.bodies[:0]
				if err := f.Accept(context.Background(), env, mail); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
