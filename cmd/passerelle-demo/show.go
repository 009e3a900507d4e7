package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/jidesc"
	"passerelle/bridge/keys"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/pep"
	"passerelle/gateway/mime"
)

const rule = "────────────────────────────────────────────────────────────────────"

// show prints one arrival: what travelled in the clear, then what alice's
// key decrypts, with the signature checked against the sender's puppet key.
func (c *client) show(ctx context.Context, w io.Writer, n int, m stanza) error {
	fmt.Fprintf(w, "\n%s\n[alice] mail #%d arrived at %s\n%s\n", rule, n, m.arrived.Format("15:04:05.000"), rule)
	fmt.Fprintf(w, "Outside the encryption (what Prosody and a non-OX client see):\n")
	fmt.Fprintf(w, "  from:         %s\n", m.From)
	fmt.Fprintf(w, "  notice body:  %q\n", m.Body)
	if m.EME != nil {
		fmt.Fprintf(w, "  encryption:   <encryption xmlns='urn:xmpp:eme:0' namespace='%s'/> (XEP-0380)\n", m.EME.Namespace)
	}
	if m.OriginID != nil {
		fmt.Fprintf(w, "  origin-id:    %s (XEP-0359, for de-duplication)\n", m.OriginID.ID)
	}
	fmt.Fprintf(w, "  store hint:   %v (XEP-0334)\n", m.Store != nil)
	if m.OpenPGP == nil {
		return fmt.Errorf("no <openpgp/> element: this mail was not end-to-end encrypted")
	}
	fmt.Fprintf(w, "  <openpgp/>:   %d characters of base64 (an OpenPGP message, XEP-0373)\n", len(strings.TrimSpace(m.OpenPGP.Data)))

	from, err := jid.Parse(m.From)
	if err != nil {
		return fmt.Errorf("sender JID %q: %w", m.From, err)
	}
	from = from.Bare()
	puppet, err := c.puppetKey(ctx, from)
	if err != nil {
		return err
	}
	sc, err := c.open(m, puppet)
	if err != nil {
		return err
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		return fmt.Errorf("parse the decrypted payload: %w", err)
	}
	c.printInside(w, from, sc, p)
	if p.Mail == nil {
		return nil
	}
	return c.printMail(w, n, p.Mail)
}

// puppetKey fetches the sender's key over PEP, as an OX client does: the
// gateway's component answers for its puppet JIDs (XEP-0373 §4).
func (c *client) puppetKey(ctx context.Context, from jid.JID) (*openpgp.Entity, error) {
	if e, ok := c.puppets[from.String()]; ok {
		return e, nil
	}
	src := pep.NewSource(pep.SourceConfig{Client: c.querier, JIDOf: func(string) (jid.JID, error) { return from, nil }})
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := src.Lookup(lctx, from.String())
	if err != nil {
		return nil, fmt.Errorf("fetch the sender's key over PEP from %s: %w", from, err)
	}
	c.puppets[from.String()] = e
	return e, nil
}

// open decrypts with alice's key and requires a valid signature by puppet.
func (c *client) open(m stanza, puppet *openpgp.Entity) (*ox.Signcrypt, error) {
	ct, err := ox.DecodeElement([]byte(m.OpenPGP.Data), 0)
	if err != nil {
		return nil, fmt.Errorf("decode <openpgp/>: %w", err)
	}
	sc, err := ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{c.key}, Senders: openpgp.EntityList{puppet},
		Recipient: c.me.String()})
	if err != nil {
		return nil, fmt.Errorf("decrypt and verify: %w", err)
	}
	return sc, nil
}

func (c *client) printInside(w io.Writer, from jid.JID, sc *ox.Signcrypt, p *payload.Payload) {
	email, err := jidesc.EmailFromPuppet(from)
	if err != nil {
		email = "(not a puppet JID)"
	}
	fmt.Fprintf(w, "Inside (decrypted with alice's secret key):\n")
	fmt.Fprintf(w, "  sender:       %s  = email %s\n", from, email)
	fmt.Fprintf(w, "  signature:    GOOD, by the puppet key %s\n", keys.FingerprintOf(sc.Signer))
	fmt.Fprintf(w, "                (that key was fetched over PEP from the gateway's component%s)\n", certifiers(sc.Signer))
	fmt.Fprintf(w, "  signcrypt:    to %s, signed at %s\n", strings.Join(sc.To, ", "), sc.Time.Format(time.RFC3339))
	fmt.Fprintf(w, "  subject:      %s\n", p.Subject)
	fmt.Fprintf(w, "  body:\n%s", indent(p.Body, "    | ", 15))
}

// printMail describes the <mail xmlns='urn:passerelle:mail:0'/> element:
// the original RFC 5322 message, byte-exact, with the gateway's Received:
// header field on top.
func (c *client) printMail(w io.Writer, n int, mail *payload.Mail) error {
	if mail.External != nil {
		fmt.Fprintf(w, "  <mail>:       external blob at %s, %d bytes, sha256 %x (not fetched by the demo)\n\n",
			mail.External.URL, mail.External.Size, mail.External.SHA256)
		return nil
	}
	raw := mail.Raw
	fmt.Fprintf(w, "  <mail>:       the full RFC 5322 message, %d bytes, sha256 %x\n", len(raw), sha256.Sum256(raw))
	if orig, ok := withoutReceived(raw); ok {
		fmt.Fprintf(w, "                as the sender sent it (without the gateway's Received: field): %d bytes, sha256 %x\n",
			len(orig), sha256.Sum256(orig))
	}
	msg, err := mime.Parse(raw, mime.Limits{})
	if err != nil {
		return fmt.Errorf("parse the RFC 5322 message: %w", err)
	}
	if len(msg.Attachments) == 0 {
		fmt.Fprintf(w, "  attachments:  none\n")
	}
	for _, a := range msg.Attachments {
		fmt.Fprintf(w, "  attachment:   %s (%s, %d bytes)\n", a.Filename, a.ContentType, a.Size)
	}
	if c.o.Inbox != "" {
		name := filepath.Join(c.o.Inbox, fmt.Sprintf("%03d.eml", n))
		if err := os.WriteFile(name, raw, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(w, "  saved:        %s\n", name)
	}
	fmt.Fprintln(w)
	return nil
}

// certifiers names the keys that certified e's user IDs (the gateway's
// domain key certifies every puppet key). It reports the issuer only; the
// demo does not verify those certifications.
func certifiers(e *openpgp.Entity) string {
	seen := map[string]bool{}
	var names []string
	for _, id := range e.Identities {
		for _, s := range id.OtherCertifications {
			if s.Packet == nil || s.Packet.IssuerFingerprint == nil {
				continue
			}
			f := strings.ToUpper(hex.EncodeToString(s.Packet.IssuerFingerprint))
			if !seen[f] {
				seen[f] = true
				names = append(names, f)
			}
		}
	}
	if len(names) == 0 {
		return ""
	}
	return "; certified by key " + strings.Join(names, ", ")
}

// withoutReceived strips the first header field if it is a Received:
// field (RFC 5322 §3.6.7), including its folded continuation lines.
func withoutReceived(raw []byte) ([]byte, bool) {
	if !bytes.HasPrefix(bytes.ToLower(raw[:min(len(raw), 9)]), []byte("received:")) {
		return nil, false
	}
	rest := raw
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			return nil, false
		}
		rest = rest[i+2:]
		if len(rest) == 0 || (rest[0] != ' ' && rest[0] != '\t') {
			return rest, true
		}
	}
}

// indent prefixes each line of s, showing at most max lines.
func indent(s, prefix string, max int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		if i == max {
			fmt.Fprintf(&b, "%s[... %d more lines]\n", prefix, len(lines)-max)
			break
		}
		b.WriteString(prefix + l + "\n")
	}
	return b.String()
}
