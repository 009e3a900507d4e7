package mime

import (
	"fmt"
	"strings"
)

// AttachmentSummary is one line naming the attachments for a chat client,
// e.g. `2 attachments: report.pdf (application/pdf, 2.0 KiB), photo.jpg
// (image/jpeg, 13 B)`. It is empty when there are none.
func (m *Message) AttachmentSummary() string {
	if len(m.Attachments) == 0 {
		return ""
	}
	items := make([]string, len(m.Attachments))
	for i, a := range m.Attachments {
		name := a.Filename
		if name == "" {
			name = "unnamed"
		}
		items[i] = fmt.Sprintf("%s (%s, %s)", name, a.ContentType, humanSize(a.Size))
	}
	noun := "attachments"
	if len(items) == 1 {
		noun = "attachment"
	}
	return fmt.Sprintf("%d %s: %s", len(items), noun, strings.Join(items, ", "))
}

// humanSize formats n bytes with binary units.
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}
