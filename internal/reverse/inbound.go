package reverse

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/omemo"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
)

// Namespaces read from inbound stanzas.
const (
	nsReceipts  = "urn:xmpp:receipts" // XEP-0184
	nsSID       = "urn:xmpp:sid:0"    // XEP-0359
	nsComponent = "jabber:component:accept"
)

// maxStanzaBytes bounds what is kept of one stanza: Prosody caps client
// stanzas at 256 KiB and component ones at 512 KiB.
const maxStanzaBytes = 1 << 20

var errStanzaTooLarge = errors.New("reverse: stanza too large")

// inbound is one message to a puppet, read off the link.
type inbound struct {
	ID       string
	OriginID string  // XEP-0359 <origin-id/>: the client's id, kept across resends
	From     jid.JID // the sender's full JID, as the server stamped it
	To       jid.JID // the puppet
	Type     stanza.MessageType
	OpenPGP  []byte // character data of <openpgp/>; nil without one
	OMEMO    []byte // the OMEMO 0.3 <encrypted/> element, re-encoded; nil without one
	Plain    []byte // <body/>, <subject/>, <thread/>, <mail/>, re-encoded as a <payload/>
	Content  bool   // a <body/> or <mail/> was present
	Receipt  bool   // XEP-0184 <request/>

	sender    string // the sender's email address (policy directory)
	senderJID string // the sender's bare JID, as the server stamped it
	rcpt      string // the puppet's email address
	key       string // duplicate-suppression key; "" without any id
	local     bool   // the sender is a local user (admit)
	refusal   *refusal
}

// Handle is the component's message handler (bridge/xmpp.MessageHandler).
// It runs on the link's Serve goroutine: it only reads the stanza, checks
// the sender and the limits, and hands the message to a worker.
func (rv *Reverse) Handle(_ context.Context, msg stanza.Message, r xml.TokenReader) error {
	switch msg.Type {
	case stanza.ChatMessage, stanza.NormalMessage, "":
	default:
		return nil // errors, groupchat and headlines are not mail
	}
	in, err := readInbound(msg, r)
	if err != nil {
		rv.log.Info("unreadable message", zap.String("id", msg.ID), zap.Error(err))
		if errors.Is(err, errStanzaTooLarge) {
			in.refusal = refuse(stanza.Modify, stanza.PolicyViolation, "The message is too large.")
			_, in.local = rv.cfg.Policy.Email(in.From.Bare().String())
			rv.enqueue(in)
		}
		return nil
	}
	if in.OpenPGP == nil && in.OMEMO == nil && !in.Content {
		return nil // chat states, receipts, markers: nothing to mail
	}
	in.key = in.dedupKey()
	// A copy of a message already spooled is not charged to the
	// sender's limits: a client resending after a reconnect must not be
	// refused for messages that were sent.
	in.refusal = rv.admit(in, !rv.dedup.seen(in.key))
	rv.enqueue(in)
	return nil
}

// enqueue hands in to the workers or, refused, to an error replier. A
// local sender never loses a stanza silently: work that finds the workers
// behind becomes a wait/resource-constraint refusal, and a refusal that
// finds its queue full is written at once (a small write, no ack awaited).
// A foreign sender's refusal (nothing it sends is ever mail) is rate
// limited per domain and in total and has its own smaller queue; past
// either it is dropped, counted and reported once per interval, so a
// flood neither crowds out local users nor turns the gateway into a
// reflector.
func (rv *Reverse) enqueue(in *inbound) {
	if in.refusal == nil {
		select {
		case rv.jobs <- in:
			return
		default: // the workers are behind: say so rather than drop silently
			in.refusal = refuse(stanza.Wait, stanza.ResourceConstraint, "The gateway is busy; send the message again later.")
		}
	}
	if !in.local {
		rv.enqueueForeign(in)
		return
	}
	select {
	case rv.refuseLocal <- in:
	default:
		rv.log.Warn("reverse path overloaded: refusal written at once", zap.String("id", in.ID),
			rv.hash("from", in.From.Bare().String()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		rv.writeRefusal(ctx, in)
	}
}

func (rv *Reverse) enqueueForeign(in *inbound) {
	if !rv.foreign.allow(in.From.Domainpart()) {
		rv.foreign.drop()
		return
	}
	select {
	case rv.refuseForeign <- in:
	default:
		rv.foreign.drop()
	}
}

// readInbound reads the whole <message/> from r (start element first).
func readInbound(msg stanza.Message, r xml.TokenReader) (*inbound, error) {
	in := &inbound{ID: msg.ID, From: msg.From, To: msg.To, Type: msg.Type}
	if _, err := r.Token(); err != nil { // the <message> start
		return in, fmt.Errorf("read message: %w", err)
	}
	var plain bytes.Buffer
	enc := xml.NewEncoder(&plain)
	size := 0
	for {
		tok, err := r.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return in, fmt.Errorf("read message: %w", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue // text between children, or the end of the message
		}
		n, err := in.child(start, r, enc)
		if err != nil {
			return in, err
		}
		if size += n; size > maxStanzaBytes {
			return in, errStanzaTooLarge
		}
	}
	if err := enc.Flush(); err != nil {
		return in, err
	}
	if plain.Len() > 0 {
		in.Plain = append(append([]byte("<payload xmlns='"+payload.NSOpenPGP+"'>"), plain.Bytes()...), "</payload>"...)
	}
	return in, nil
}

// child reads one child element of the message and returns its size.
func (in *inbound) child(start xml.StartElement, r xml.TokenReader, enc *xml.Encoder) (int, error) {
	switch {
	case start.Name == xml.Name{Space: ox.NS, Local: "openpgp"}:
		data, err := charData(r)
		in.OpenPGP = append(in.OpenPGP[:0], data...)
		return len(data), err
	case start.Name == xml.Name{Space: omemo.NS, Local: "encrypted"} && in.OMEMO == nil:
		var buf bytes.Buffer
		e := xml.NewEncoder(&buf)
		n, err := copyElement(e, start, r)
		if err == nil {
			err = e.Flush()
		}
		in.OMEMO = buf.Bytes()
		return n, err
	case start.Name == xml.Name{Space: nsSID, Local: "origin-id"}:
		for _, a := range start.Attr {
			if a.Name.Local == "id" && a.Name.Space == "" && in.OriginID == "" {
				in.OriginID = a.Value
			}
		}
		return skipElement(r)
	case start.Name == xml.Name{Space: nsReceipts, Local: "request"}:
		in.Receipt = true
		return skipElement(r)
	case start.Name == xml.Name{Space: payload.NS, Local: "mail"}:
		in.Content = true
		return copyElement(enc, start, r)
	case clientNS(start.Name.Space) && (start.Name.Local == "body" || start.Name.Local == "subject" || start.Name.Local == "thread"):
		in.Content = in.Content || start.Name.Local == "body"
		start = xml.StartElement{Name: xml.Name{Space: payload.NSClient, Local: start.Name.Local}}
		return copyElement(enc, start, r)
	}
	return skipElement(r)
}

func clientNS(s string) bool { return s == "" || s == payload.NSClient || s == nsComponent }

// charData collects the text of a leaf element up to its end.
func charData(r xml.TokenReader) ([]byte, error) {
	b, _, err := readElement(r, true)
	return b, err
}

// skipElement reads past an element and returns how much text it held.
func skipElement(r xml.TokenReader) (int, error) {
	_, n, err := readElement(r, false)
	return n, err
}

// readElement reads to the end of the element whose start was read,
// counting its text; with keep it also returns the element's own text
// (not its children's), bounded by maxStanzaBytes.
func readElement(r xml.TokenReader, keep bool) ([]byte, int, error) {
	var b []byte
	n := 0
	for depth := 1; depth > 0; {
		tok, err := r.Token()
		if err != nil {
			return nil, n, fmt.Errorf("read element: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			n += len(t)
			if keep && depth == 1 {
				if len(b)+len(t) > maxStanzaBytes {
					return nil, n, errStanzaTooLarge
				}
				b = append(b, t...)
			}
		}
	}
	return b, n, nil
}

// copyElement re-encodes the element whose start was read, dropping
// namespace declarations (the encoder writes its own) and prefixed
// attributes.
func copyElement(enc *xml.Encoder, start xml.StartElement, r xml.TokenReader) (int, error) {
	n := 0
	if err := enc.EncodeToken(cleanStart(start)); err != nil {
		return n, err
	}
	for depth := 1; depth > 0; {
		tok, err := r.Token()
		if err != nil {
			return n, fmt.Errorf("read element: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			tok = cleanStart(t)
		case xml.EndElement:
			depth--
			tok = xml.EndElement{Name: t.Name}
			if depth == 0 {
				tok = start.End()
			}
		case xml.CharData:
			n += len(t)
			if n > maxStanzaBytes {
				return n, errStanzaTooLarge
			}
		default:
			continue // comments, processing instructions
		}
		if err := enc.EncodeToken(tok); err != nil {
			return n, err
		}
	}
	return n, nil
}

func cleanStart(s xml.StartElement) xml.StartElement {
	out := xml.StartElement{Name: s.Name}
	for _, a := range s.Attr {
		if a.Name.Space == "" && a.Name.Local != "xmlns" {
			out.Attr = append(out.Attr, a)
		}
	}
	return out
}
