package keys

import (
	"context"
	"fmt"
	"testing"

	"go.uber.org/zap"
)

func BenchmarkPuppetKeyGen(b *testing.B) {
	dom, err := GenerateDomainKey("mail.example.org", testNow)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := GeneratePuppetKey(`bob\40gmail.com@mail.example.org`, dom, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStorePuppetKeyFirstUse includes armoring, fsync and link.
func BenchmarkStorePuppetKeyFirstUse(b *testing.B) {
	s, err := OpenStore(b.TempDir(), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.InitDomainKey("mail.example.org", testNow); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.PuppetKey(context.Background(), fmt.Sprintf("u%d@mail.example.org", i)); err != nil {
			b.Fatal(err)
		}
	}
}
