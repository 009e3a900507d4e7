package upload

import (
	"strings"
	"testing"
)

func TestRandomNameExtension(t *testing.T) {
	for ext, want := range map[string]string{".pdf": ".pdf", ".EML": ".eml", "": ".bin", "./../x y": ".xy", ".verylongextension": ".verylong"} {
		if got := randomName(ext); !strings.HasSuffix(got, want) || len(got) != 32+len(want) {
			t.Errorf("%q: %s, want ...%s", ext, got, want)
		}
	}
}
