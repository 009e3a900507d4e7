package compose

import (
	"fmt"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func benchText(size int) string {
	line := "The quick brown fox jumps over the lazy dog, café crème.\n"
	return strings.Repeat(line, size/len(line)+1)[:size]
}

func BenchmarkCompose(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("text/%dKiB", size>>10), func(b *testing.B) {
			in := baseInput()
			in.Text = benchText(size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compose(in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("embedded/%dKiB", size>>10), func(b *testing.B) {
			in := embeddedInput("Subject: bench\r\nContent-Type: text/plain; charset=utf-8\r\n" +
				"Content-Transfer-Encoding: 8bit\r\n\r\n" + strings.ReplaceAll(benchText(size), "\n", "\r\n"))
			b.SetBytes(int64(len(in.Embedded)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compose(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncryptPGPMIME(b *testing.B) {
	signer, bob := newKey(b, "Alice", "alice@example.org"), newKey(b, "Bob", "bob@example.net")
	for _, size := range []int{4 << 10, 100 << 10} {
		in := baseInput()
		in.Text = benchText(size)
		msg := mustCompose(b, in)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := EncryptPGPMIME(msg, signer, []*openpgp.Entity{bob}, EncryptOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
