package xmpp

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
)

// redactedElements are the elements whose content the protocol trace
// never shows, wherever they occur in the stream: mail text and the
// encrypted forms of it (XEP-0373 <openpgp/>, the signcrypt <payload/>,
// urn:passerelle:mail:0 <mail/>, the peer route's <envelope/>), the
// component handshake digest (XEP-0114) and SASL exchanges on client
// links (RFC 6120 §6.4). Their tags and attributes stay, so the trace
// still shows which stanza carried what.
var redactedElements = map[string]bool{
	"body": true, "subject": true, "openpgp": true, "payload": true, "mail": true, "envelope": true,
	"handshake": true, "auth": true, "response": true, "challenge": true, "success": true,
}

// maxPendingMarkup bounds a tag kept across chunks; anything longer is
// treated as content.
const maxPendingMarkup = 16 << 10

// redactor rewrites one direction of the raw stream for the trace: a
// streaming scanner (tags and text may be split across reads and writes
// anywhere) that replaces the content of redactedElements with
// "[redacted N bytes]".
type redactor struct {
	mu      sync.Mutex
	pending []byte // markup split across chunks
	depth   int    // > 0: inside a redacted element, at this nesting depth
	hidden  int    // bytes hidden since the last marker
}

func (r *redactor) redact(b []byte) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	data := b
	if len(r.pending) > 0 {
		data = append(r.pending, b...)
		r.pending = nil
	}
	var out strings.Builder
	for i := 0; i < len(data); {
		if data[i] != '<' {
			j := bytes.IndexByte(data[i:], '<')
			if j < 0 {
				j = len(data) - i
			}
			r.text(&out, data[i:i+j])
			i += j
			continue
		}
		n := markupEnd(data[i:])
		if n < 0 {
			if len(data)-i > maxPendingMarkup {
				r.text(&out, data[i:])
				break
			}
			r.pending = append([]byte(nil), data[i:]...)
			break
		}
		r.markup(&out, data[i:i+n])
		i += n
	}
	r.marker(&out)
	return out.String()
}

func (r *redactor) text(out *strings.Builder, t []byte) {
	if r.depth > 0 {
		r.hidden += len(t)
		return
	}
	out.Write(t)
}

func (r *redactor) marker(out *strings.Builder) {
	if r.hidden > 0 {
		fmt.Fprintf(out, "[redacted %d bytes]", r.hidden)
		r.hidden = 0
	}
}

// markup handles one complete tag, comment, CDATA section or PI.
func (r *redactor) markup(out *strings.Builder, m []byte) {
	kind, name := classify(m)
	if r.depth > 0 {
		switch kind {
		case tagStart:
			r.depth++
		case tagEnd:
			r.depth--
		}
		if r.depth > 0 {
			r.hidden += len(m)
			return
		}
		r.marker(out) // the end of the redacted element
		out.Write(m)
		return
	}
	out.Write(m)
	if kind == tagStart && redactedElements[name] {
		r.depth = 1
	}
}

const (
	tagOther = iota // self-closing tag, comment, CDATA, PI, declaration
	tagStart
	tagEnd
)

// classify returns a markup construct's kind and, for tags, the local
// name (without prefix).
func classify(m []byte) (int, string) {
	switch {
	case bytes.HasPrefix(m, []byte("</")):
		return tagEnd, localName(m[2:])
	case bytes.HasPrefix(m, []byte("<!")), bytes.HasPrefix(m, []byte("<?")):
		return tagOther, ""
	case bytes.HasSuffix(m, []byte("/>")):
		return tagOther, localName(m[1:])
	}
	return tagStart, localName(m[1:])
}

func localName(b []byte) string {
	end := bytes.IndexAny(b, " \t\r\n/>")
	if end < 0 {
		end = len(b)
	}
	name := b[:end]
	if i := bytes.LastIndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	return string(name)
}

// markupEnd returns the length of the markup construct at the start of b
// (b[0] == '<'), or -1 if b ends before it does.
func markupEnd(b []byte) int {
	for _, d := range []struct{ open, close string }{{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}} {
		if bytes.HasPrefix(b, []byte(d.open)) {
			if i := bytes.Index(b[len(d.open):], []byte(d.close)); i >= 0 {
				return len(d.open) + i + len(d.close)
			}
			return -1
		}
		if len(b) < len(d.open) && bytes.HasPrefix([]byte(d.open), b) {
			return -1 // could still become one
		}
	}
	var quote byte
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i + 1
		}
	}
	return -1
}
