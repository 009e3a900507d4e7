package mime

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestParseAttachmentsGivesDecodedContent(t *testing.T) {
	blob := []byte("\x00\x01binary\xffdata")
	raw := "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
		"Content-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf\r\n" +
		"Content-Disposition: attachment; filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(blob) + "\r\n--b--\r\n"
	var got []Attachment
	var data [][]byte
	m, err := ParseAttachments([]byte(raw), Limits{}, func(a Attachment, d []byte) error {
		got, data = append(got, a), append(data, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Filename != "r.pdf" || !bytes.Equal(data[0], blob) || len(m.Attachments) != 1 || m.Text != "hello" {
		t.Fatalf("%+v %q %+v", got, data, m)
	}
}
