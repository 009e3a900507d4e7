package mime

import (
	"path/filepath"
	"testing"
)

func TestAttachmentSummary(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"plain.eml", ""},
		{"nested.eml", "2 attachments: pic.png (image/png, 48 B), photo.jpg (image/jpeg, 13 B)"},
		{"attachments.eml", "4 attachments: report.pdf (application/pdf, 2.0 KiB), " +
			"Résumé de l'année.txt (application/octet-stream, 12 B), notes été.txt (text/plain, 28 B), " +
			"unnamed (message/rfc822, 53 B)"},
	}
	for i, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m, err := Parse(readFile(t, filepath.Join(mailDir, tc.file)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.AttachmentSummary(); got != tc.want {
				t.Errorf("case %d: got %q, want %q", i, got, tc.want)
			}
		})
	}
}

func TestHumanSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {25 << 20, "25.0 MiB"}, {3 << 30, "3.0 GiB"}}
	for i, tc := range tests {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("case %d: humanSize(%d) = %q, want %q", i, tc.n, got, tc.want)
		}
	}
}
