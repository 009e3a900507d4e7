package payload

import (
	"bytes"
	"fmt"
	"testing"
)

func BenchmarkBuild(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		raw := bytes.Repeat([]byte("Line of mail text, caf\xc3\xa9.\r\n"), size/29)
		p := &Payload{Subject: "Subject", Body: string(raw[:1024]), Mail: &Mail{Raw: raw, MessageID: "id@example.org"}}
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	for _, size := range []int{4 << 10, 100 << 10} {
		raw := bytes.Repeat([]byte("Line of mail text, caf\xc3\xa9.\r\n"), size/29)
		x, err := Build(&Payload{Subject: "Subject", Body: "body", Mail: &Mail{Raw: raw}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(x, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
