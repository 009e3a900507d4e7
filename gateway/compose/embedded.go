package compose

import (
	"bufio"
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/charset"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

const maxCc = 100

// embedded is the parsed header of Input.Embedded and what Compose keeps
// of it.
type embedded struct {
	h         textproto.Header
	body      *bufio.Reader
	subject   string // decoded
	date      time.Time
	id        string
	inReplyTo []string
	refs      []string
	cc        []mail.Address
	extra     []field
}

func readEmbedded(raw []byte, lim Limits) (*embedded, error) {
	if len(raw) > lim.MaxEmbeddedBytes {
		return nil, tooLarge("%d bytes", len(raw))
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, malformed("header", err)
	}
	if err := checkHeader(h, lim); err != nil {
		return nil, err
	}
	e := &embedded{h: h, body: br}
	e.subject, _ = decodeText(h.Get("Subject"))
	e.date, _ = mail.ParseDate(cleanText(h.Get("Date")))
	if ids := msgIDs(angleIDs(h.Get("Message-Id"))); len(ids) > 0 {
		e.id = ids[0]
	}
	e.inReplyTo = msgIDs(angleIDs(strings.Join(h.Values("In-Reply-To"), " ")))
	e.refs = msgIDs(angleIDs(strings.Join(h.Values("References"), " ")))
	e.cc = ccList(h.Values("Cc"))
	e.extra = keptFields(h)
	return e, nil
}

// checkHeader applies MaxHeaderFields and MaxHeaderBytes to one block.
func checkHeader(h textproto.Header, lim Limits) error {
	if h.Len() > lim.MaxHeaderFields {
		return tooLarge("%d header fields", h.Len())
	}
	n := 0
	for f := h.Fields(); f.Next(); {
		raw, _ := f.Raw()
		n += len(raw)
	}
	if n > lim.MaxHeaderBytes {
		return tooLarge("header of %d bytes", n)
	}
	return nil
}

// angleIDs returns what sits between "<" and ">" in s.
func angleIDs(s string) []string {
	var ids []string
	for {
		i := strings.IndexByte(s, '<')
		j := strings.IndexByte(s[i+1:], '>')
		if i < 0 || j < 0 {
			return ids
		}
		ids = append(ids, s[i+1:i+1+j])
		s = s[i+2+j:]
	}
}

// ccList parses Cc fields for display; unparsable fields and invalid
// addresses are dropped.
func ccList(values []string) []mail.Address {
	var out []mail.Address
	for _, v := range values {
		list, err := gomail.ParseAddressList(cleanText(v))
		if err != nil {
			continue
		}
		for _, a := range list {
			if c, ok := checkAddress(*a); ok && len(out) < maxCc {
				out = append(out, c)
			}
		}
	}
	return out
}

func (e *embedded) ccList() []mail.Address {
	if e == nil {
		return nil
	}
	return e.cc
}

func (e *embedded) extraFields() []field {
	if e == nil {
		return nil
	}
	return e.extra
}

// decodeText decodes RFC 2047 encoded words (any charset go-message
// knows) and cleans the result.
func decodeText(v string) (string, error) {
	d := mime.WordDecoder{CharsetReader: charset.Reader}
	s, err := d.DecodeHeader(v)
	if err != nil {
		return cleanText(v), err
	}
	return cleanText(s), nil
}
