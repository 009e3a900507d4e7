package upload

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"mellium.im/xmlstream"
)

// contentType is what every blob is declared as: the server learns nothing
// from it and, in Prosody, serves it as an attachment.
const contentType = "application/octet-stream"

// Slot is where to PUT a blob and where it will be served from
// (XEP-0363 §3).
type Slot struct {
	PutURL string
	GetURL string
	Header http.Header // only Authorization, Cookie and Expires (§5)
}

// ParseSlot decodes the answer to a slot request: a whole <iq/>, or its
// <slot/> or <error/> child. An error reply is returned as *Error.
func ParseSlot(resp []byte) (Slot, error) {
	d, start, se, err := openResponse(resp)
	switch {
	case err != nil:
		return Slot{}, &Error{Op: "slot", Kind: ErrBadSlot, Err: err}
	case se != nil:
		return Slot{}, stanzaError("slot", *se)
	case start.Name != xml.Name{Space: NS, Local: "slot"}:
		return Slot{}, &Error{Op: "slot", Kind: ErrBadSlot,
			Err: fmt.Errorf("unexpected <%s xmlns=%q>", start.Name.Local, start.Name.Space)}
	}
	s, err := decodeSlot(d, start)
	if err != nil {
		return Slot{}, &Error{Op: "slot", Kind: ErrBadSlot, Err: err}
	}
	return s, nil
}

type xmlSlot struct {
	Put []struct {
		URL    string `xml:"url,attr"`
		Header []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:",chardata"`
		} `xml:"header"`
	} `xml:"put"`
	Get []struct {
		URL string `xml:"url,attr"`
	} `xml:"get"`
}

func decodeSlot(d *xml.Decoder, start xml.StartElement) (Slot, error) {
	var x xmlSlot
	if err := d.DecodeElement(&x, &start); err != nil {
		return Slot{}, err
	}
	if len(x.Put) != 1 || len(x.Get) != 1 {
		return Slot{}, fmt.Errorf("%d <put/> and %d <get/>, want one each", len(x.Put), len(x.Get))
	}
	s := Slot{PutURL: x.Put[0].URL, GetURL: x.Get[0].URL, Header: make(http.Header)}
	for _, u := range []string{s.PutURL, s.GetURL} {
		if err := checkSyntax(u); err != nil {
			return Slot{}, err
		}
	}
	for _, h := range x.Put[0].Header {
		name := http.CanonicalHeaderKey(stripNewlines(h.Name))
		if name == "Authorization" || name == "Cookie" || name == "Expires" { // §5
			s.Header.Add(name, stripNewlines(h.Value))
		}
	}
	return s, nil
}

// stripNewlines removes CR and LF: XEP-0363 §5 has clients strip them so
// a slot cannot inject headers.
func stripNewlines(s string) string {
	return strings.NewReplacer("\r", "", "\n", "").Replace(strings.TrimSpace(s))
}

// checkSyntax accepts absolute http and https URLs with a host; which of
// them may be used is URLPolicy's business.
func checkSyntax(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("url %q: want an absolute http(s) URL with a host", raw)
	}
	return nil
}

// requestPayload is the slot request (XEP-0363 §3).
func requestPayload(filename string, size int64) xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{
		Name: xml.Name{Space: NS, Local: "request"},
		Attr: []xml.Attr{
			{Name: xml.Name{Local: "filename"}, Value: filename},
			{Name: xml.Name{Local: "size"}, Value: strconv.FormatInt(size, 10)},
			{Name: xml.Name{Local: "content-type"}, Value: contentType},
		},
	})
}

// randomName returns a file name that says nothing about the mail: the
// server stores it and it shows in the GET URL. The .eml extension is all
// it reveals (the blob is a mail, which the server knows from the
// requester): XEP-0454 clients take the type of an aesgcm:// link from
// it, so the decrypted mail opens as message/rfc822.
func randomName(ext string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:]) + cleanExt(ext)
}

// cleanExt keeps at most 8 lower-case ASCII letters and digits of ext.
func cleanExt(ext string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimPrefix(ext, ".")) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
		if b.Len() == 8 {
			break
		}
	}
	if b.Len() == 0 {
		return ".bin"
	}
	return "." + b.String()
}
