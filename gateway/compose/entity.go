package compose

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// opener writes an entity's header and returns the writer for its body.
type opener func(textproto.Header) (io.Writer, error)

// copier re-emits the MIME tree of an embedded message. Each leaf is
// decoded and re-encoded: text/* in canonical CRLF form as 7bit or
// quoted-printable, message/* as 7bit/8bit, anything else byte-exact as
// 7bit or base64. Part headers keep their Content-* fields only.
type copier struct {
	lim   Limits
	parts int
}

// writeEmbedded writes the embedded message under the composed header.
func (c *composition) writeEmbedded(w io.Writer) error {
	cp := &copier{lim: c.lim}
	open := func(h textproto.Header) (io.Writer, error) {
		return w, textproto.WriteHeader(w, h)
	}
	return cp.entity(open, c.fields(), c.emb.h, c.emb.body, 0, "text/plain")
}

// entity copies one entity at depth; top are the message fields written
// before its content fields; def is the default media type (RFC 2046
// §5.1.5).
func (cp *copier) entity(open opener, top []field, h textproto.Header, body io.Reader, depth int, def string) error {
	if err := cp.admit(h, depth); err != nil {
		return err
	}
	mt, params := contentType(h, def)
	fs := append(top, contentFields(h)...)
	if strings.HasPrefix(mt, "multipart/") {
		return cp.multipart(open, fs, mt, params, body, depth)
	}
	dec, err := decoder(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "message/") {
		return cp.binary(open, fs, mt, params, dec)
	}
	data, err := readBody(dec)
	if err != nil {
		return err
	}
	data, cte := encodeLeaf(mt, params, data)
	fs = append(fs, field{"Content-Type", formatType(mt, params)},
		field{"Content-Transfer-Encoding", cte})
	return writeEntity(open, fs, data, cte)
}

func writeEntity(open opener, fs []field, data []byte, cte string) error {
	h, err := buildHeader(fs)
	if err != nil {
		return err
	}
	w, err := open(h)
	if err != nil {
		return err
	}
	return writeBody(w, data, cte)
}

func (cp *copier) admit(h textproto.Header, depth int) error {
	if cp.parts++; cp.parts > cp.lim.MaxParts {
		return tooLarge("more than %d parts", cp.lim.MaxParts)
	}
	if depth > cp.lim.MaxDepth {
		return tooLarge("nesting deeper than %d", cp.lim.MaxDepth)
	}
	return checkHeader(h, cp.lim)
}

// multipart copies the parts of a multipart entity under a new boundary.
func (cp *copier) multipart(open opener, fs []field, mt string, params map[string]string, body io.Reader, depth int) error {
	in := params["boundary"]
	if in == "" {
		return malformed(mt, errors.New("no boundary"))
	}
	out := newBoundary()
	params["boundary"] = out
	h, err := buildHeader(append(fs, field{"Content-Type", formatType(mt, params)}))
	if err != nil {
		return err
	}
	w, err := open(h)
	if err != nil {
		return err
	}
	mw := textproto.NewMultipartWriter(w)
	if err := mw.SetBoundary(out); err != nil {
		return err
	}
	if err := cp.copyParts(mw, textproto.NewMultipartReader(body, in), mt, depth); err != nil {
		return err
	}
	return mw.Close()
}

// copyParts copies every part read from mr into mw.
func (cp *copier) copyParts(mw *textproto.MultipartWriter, mr *textproto.MultipartReader, mt string, depth int) error {
	def := "text/plain"
	if mt == "multipart/digest" {
		def = "message/rfc822"
	}
	open := func(h textproto.Header) (io.Writer, error) { return mw.CreatePart(h) }
	n := 0
	for ; ; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return malformed(mt, err)
		}
		if err := cp.entity(open, nil, p.Header, p, depth+1, def); err != nil {
			return err
		}
	}
	if n == 0 {
		return malformed(mt, errors.New("no parts"))
	}
	return nil
}

// decodeBody undoes the transfer encoding (RFC 2045 §6).
func decoder(cte string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(cleanText(cte)) {
	case "", cte7bit, cte8bit, "binary":
		return r, nil
	case cteQP:
		return quotedprintable.NewReader(r), nil
	case cteB64:
		return base64.NewDecoder(base64.StdEncoding, &spaceSkipper{r: r}), nil
	}
	return nil, malformed("body", fmt.Errorf("unknown transfer encoding %.40q", cte))
}

func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, malformed("body", err)
	}
	return b, nil
}

// streamMin is the decoded size from which a binary leaf is re-encoded
// as it is read instead of whole: such a leaf is always base64 (a large
// attachment that would pass as 7bit is rare, and base64 keeps it
// byte-exact), and only streamMin bytes of it are ever held.
const streamMin = 1 << 20

// binary copies a leaf that is neither text/* nor message/*: decoded and
// held whole when small (7bit if it can be, else base64), streamed into
// base64 when larger than streamMin.
func (cp *copier) binary(open opener, fs []field, mt string, params map[string]string, dec io.Reader) error {
	head, err := io.ReadAll(io.LimitReader(dec, streamMin+1))
	if err != nil {
		return malformed("body", err)
	}
	if len(head) <= streamMin {
		data, cte := encodeLeaf(mt, params, head)
		fs = append(fs, field{"Content-Type", formatType(mt, params)}, field{"Content-Transfer-Encoding", cte})
		return writeEntity(open, fs, data, cte)
	}
	fs = append(fs, field{"Content-Type", formatType(mt, params)}, field{"Content-Transfer-Encoding", cteB64})
	h, err := buildHeader(fs)
	if err != nil {
		return err
	}
	w, err := open(h)
	if err != nil {
		return err
	}
	return streamBase64(w, head, dec)
}

// encodeLeaf puts data in the form and transfer encoding its media type
// calls for.
func encodeLeaf(mt string, params map[string]string, data []byte) ([]byte, string) {
	cs := strings.ToLower(params["charset"])
	wide := strings.HasPrefix(cs, "utf-16") || strings.HasPrefix(cs, "utf-32") ||
		strings.HasPrefix(cs, "ucs-")
	switch {
	case strings.HasPrefix(mt, "text/") && !wide:
		data = normaliseLines(data)
		return data, textEncoding(data)
	case strings.HasPrefix(mt, "message/"):
		data = normaliseLines(data)
		return data, messageEncoding(data)
	}
	return data, binaryEncoding(data)
}

// spaceSkipper drops the spaces and tabs some mailers put in base64, which
// encoding/base64 does not skip (it skips CR and LF).
type spaceSkipper struct{ r io.Reader }

func (s *spaceSkipper) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, c := range p[:n] {
		if c != ' ' && c != '\t' {
			p[j] = c
			j++
		}
	}
	return j, err
}
