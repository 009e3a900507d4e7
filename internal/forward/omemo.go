package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/omemo"
	"passerelle/bridge/payload"
	"passerelle/gateway/mime"
	"passerelle/gateway/smtpd"
)

// OMEMO delivers to recipients' OMEMO 0.3 devices (OMEMOVia).
type OMEMO interface {
	// Devices returns the device ids j publishes; errors wrap
	// keys.ErrNoKey (none published or readable) or are temporary.
	Devices(ctx context.Context, j jid.JID) ([]uint32, error)
	// Encrypt encrypts body from puppet to the devices of to, durably
	// advancing the sessions before it returns.
	Encrypt(ctx context.Context, puppet string, to jid.JID, devices []uint32, body []byte) (*omemo.Encrypted, error)
	// Introduce returns, when puppet has no session yet with one of the
	// devices (the start of a conversation), the text appended to tell
	// the reader the puppet device's fingerprint; "" otherwise.
	Introduce(ctx context.Context, puppet string, to jid.JID, devices []uint32) string
}

// OMEMOSource reads a user's OMEMO device list and bundles from PEP
// (bridge/pep.Source).
type OMEMOSource interface {
	OMEMODeviceList(ctx context.Context, j jid.JID) ([]uint32, error)
	OMEMOBundle(ctx context.Context, j jid.JID, id uint32) (*omemo.Bundle, error)
}

// OMEMOVia implements OMEMO with the puppet devices of Store and the
// recipients' PEP nodes read through Source.
type OMEMOVia struct {
	Store  *omemo.Store
	Source OMEMOSource
}

func (o OMEMOVia) Devices(ctx context.Context, j jid.JID) ([]uint32, error) {
	return o.Source.OMEMODeviceList(ctx, j)
}

func (o OMEMOVia) Encrypt(ctx context.Context, puppet string, to jid.JID, devices []uint32, body []byte) (*omemo.Encrypted, error) {
	fetch := func(ctx context.Context, id uint32) (*omemo.Bundle, error) { return o.Source.OMEMOBundle(ctx, to, id) }
	return o.Store.Encrypt(ctx, puppet, to.String(), devices, fetch, body)
}

func (o OMEMOVia) Introduce(ctx context.Context, puppet string, to jid.JID, devices []uint32) string {
	if o.Store.HasSessions(ctx, puppet, to.String(), devices) {
		return ""
	}
	info, err := o.Store.Device(ctx, puppet)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("\n\n[Passerelle: this contact's OMEMO device fingerprint is %s; compare it with "+
		"`passerelle keys lookup` on the gateway to verify it.]", info.Fingerprint)
}

// noticeOMEMO is the <body/> a client without OMEMO shows.
const noticeOMEMO = "This mail was forwarded by Passerelle and is end-to-end encrypted " +
	"with OMEMO. Use an OMEMO-capable client (e.g. Conversations, Monal, Dino, Gajim) to read it."

// omemoText is what an OMEMO recipient reads: OMEMO 0.3 encrypts only the
// <body/>, so the headers a reader needs come first, then the text
// rendition (bounded), then, when an upload service is configured, the
// whole message as an XEP-0454 aesgcm:// link to an encrypted .eml
// upload, so the client can open the original and its attachments.
func (f *Forward) omemoText(ctx context.Context, m *mime.Message, p *payload.Payload, raw []byte) ([]byte, error) {
	var b strings.Builder
	if len(m.From) > 0 {
		fmt.Fprintf(&b, "From: %s\n", formatAddr(m.From[0]))
	}
	if m.Subject != "" {
		fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	}
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.Date.Format(time.RFC1123Z))
	}
	b.WriteString("\n")
	b.WriteString(strings.TrimSpace(truncateText(p.Body, maxExternalText)))
	if f.cfg.Uploader != nil {
		ext, blob, size, err := payload.SealExternalStream(raw)
		if err != nil {
			return nil, wrap("seal external mail", err)
		}
		url, err := f.cfg.Uploader.Upload(ctx, blob, size)
		if err != nil {
			f.log.Warn("upload of the original mail for OMEMO failed", zap.Int64("bytes", size), zap.Error(err))
			var tmp interface{ Temporary() bool }
			if errors.As(err, &tmp) && !tmp.Temporary() {
				return nil, errTooLargeForXMPP
			}
			return nil, errUploadFailed
		}
		ext.URL = url
		b.WriteString(externalLink(ext, f.log))
		if err := f.attachmentLinks(ctx, &b, raw); err != nil {
			return nil, err
		}
	} else if len(m.Attachments) > 0 {
		b.WriteString("\n\n[The attachments cannot be shown over OMEMO: this gateway has no upload service configured.]")
	}
	return []byte(b.String()), nil
}

// NamedUploader uploads under a name with the given extension
// (bridge/upload.Uploader.UploadAs), so a client opens an attachment's
// aesgcm:// link as its type.
type NamedUploader interface {
	UploadAs(ctx context.Context, r io.Reader, size int64, ext string) (string, error)
}

// maxAttachmentLinks bounds the attachments uploaded one by one.
const maxAttachmentLinks = 16

// attachmentLinks uploads each attachment (up to maxAttachmentLinks),
// encrypted with its own key, and writes one aesgcm:// link a line, so
// the client shows and opens each file; the .eml link has them all.
func (f *Forward) attachmentLinks(ctx context.Context, b *strings.Builder, raw []byte) error {
	nu, ok := f.cfg.Uploader.(NamedUploader)
	if !ok {
		return nil
	}
	n := 0
	_, err := mime.ParseAttachments(raw, f.cfg.MIMELimits, func(a mime.Attachment, data []byte) error {
		if n++; n > maxAttachmentLinks || len(data) == 0 {
			return nil
		}
		ext, blob, size, err := payload.SealExternalStream(data)
		if err != nil {
			return wrap("seal attachment", err)
		}
		url, err := nu.UploadAs(ctx, blob, size, path.Ext(a.Filename))
		if err != nil {
			f.log.Warn("upload of an attachment for OMEMO failed", zap.Int64("bytes", size), zap.Error(err))
			return errUploadFailed
		}
		ext.URL = url
		link, err := ext.AESGCMURL()
		if err != nil {
			return wrap("attachment link", err)
		}
		name := a.Filename
		if name == "" {
			name = a.ContentType
		}
		fmt.Fprintf(b, "\n[Attachment %s (%s): %s ]", name, humanSize(int64(len(data))), link)
		return nil
	})
	return err
}

func formatAddr(a mime.Address) string {
	if a.Name == "" {
		return a.Addr
	}
	return fmt.Sprintf("%s <%s>", a.Name, a.Addr)
}

// sealOMEMO encrypts text to dec's devices and returns the spooled form
// of the <encrypted/> element.
func (f *Forward) sealOMEMO(ctx context.Context, dec *decision, puppet string, text []byte) ([]byte, error) {
	to, err := jid.Parse(dec.JID)
	if err != nil {
		return nil, wrap("recipient JID", err)
	}
	if intro := f.cfg.OMEMO.Introduce(ctx, puppet, to, dec.OMEMO); intro != "" {
		text = append(text[:len(text):len(text)], intro...) // a copy: text is shared
	}
	e, err := f.cfg.OMEMO.Encrypt(ctx, puppet, to, dec.OMEMO, text)
	if err != nil {
		f.log.Warn("omemo encrypt", f.hash(dec.Address), zap.Error(err))
		return nil, smtpd.TemporaryFailure
	}
	x, err := e.Marshal()
	if err != nil {
		return nil, wrap("omemo element", err)
	}
	if stanzaSize(len(x)) > f.cfg.MaxStanzaBytes {
		return nil, errTooLargeForXMPP
	}
	return x, nil
}
