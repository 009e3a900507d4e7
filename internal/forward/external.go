package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"go.uber.org/zap"

	"passerelle/bridge/payload"
	"passerelle/gateway/smtpd"
)

// Uploader stores an encrypted blob with XEP-0363 HTTP File Upload and
// returns its GET URL (bridge/upload.Uploader).
type Uploader interface {
	Upload(ctx context.Context, r io.Reader, size int64) (string, error)
}

// maxExternalText bounds the text rendition carried next to an external
// mail, so the stanza stays small whatever the mail's size.
const maxExternalText = 64 << 10

var (
	errTooLargeForXMPP = &smtpd.Reject{Code: 552, Enhanced: [3]int{5, 3, 4}, Msg: "Message too large for the XMPP route"}
	errUploadFailed    = &smtpd.Reject{Code: 451, Enhanced: [3]int{4, 4, 0}, Msg: "Large-message storage unavailable, please try again later"}
)

// overhead is what a signcrypt adds to its payload, generously: the
// envelope elements, rpad, signature and encryption packets.
const overhead = 2048

// fits reports whether a payload of n bytes, sealed, fits one stanza.
func (f *Forward) fits(n int) bool { return stanzaSize(n+overhead) <= f.cfg.MaxStanzaBytes }

// external moves the full mail out of the stanza: it is encrypted with a
// fresh AES-256-GCM key (XEP-0454 style), uploaded, and the payload keeps
// only the URL, the key and the hash, all inside the OpenPGP encryption.
// It runs before the 250, so a failed upload is a temporary SMTP error and
// nothing is lost.
func (f *Forward) external(ctx context.Context, p *payload.Payload, raw []byte) ([]byte, error) {
	if f.cfg.Uploader == nil {
		return nil, errTooLargeForXMPP
	}
	// What can be carried in XML is checked before anything is uploaded:
	// the payload as it will be, the mail replaced by a reference.
	probe := *p
	probe.Body = truncateText(p.Body, maxExternalText)
	probe.Mail = &payload.Mail{External: &payload.External{URL: "https://upload.invalid/probe"}, MessageID: p.Mail.MessageID, InReplyTo: p.Mail.InReplyTo}
	if _, err := payload.BuildInner(&probe); err != nil {
		f.log.Info("refused message that cannot be carried in XML", zap.Error(err))
		return nil, errMalformed
	}
	ext, blob, size, err := payload.SealExternalStream(raw) // encrypted as it is sent
	if err != nil {
		return nil, wrap("seal external mail", err)
	}
	url, err := f.cfg.Uploader.Upload(ctx, blob, size)
	if err != nil {
		f.log.Warn("upload of a large mail failed", zap.Int64("bytes", size), zap.Error(err))
		var tmp interface{ Temporary() bool }
		if errors.As(err, &tmp) && !tmp.Temporary() {
			return nil, errTooLargeForXMPP
		}
		return nil, errUploadFailed
	}
	ext.URL = url
	p.Mail = &payload.Mail{External: ext, MessageID: p.Mail.MessageID, InReplyTo: p.Mail.InReplyTo}
	p.Body = truncateText(p.Body, maxExternalText)
	p.Body += externalLink(ext, f.log)
	inner, err := payload.BuildInner(p)
	if err != nil {
		return nil, errMalformed
	}
	return inner, nil
}

// externalLink is the text that gives the uploaded mail as an XEP-0454
// aesgcm:// link, so that a client that knows nothing of
// urn:passerelle:mail:0 but opens encrypted uploads (Conversations,
// Gajim, Dino, Monal) can fetch and open the whole mail. It goes only into
// the encrypted payload: the link carries the key. The signed <external/>
// stays the authoritative reference (it also binds the SHA-256).
func externalLink(x *payload.External, log *zap.Logger) string {
	link, err := x.AESGCMURL()
	if err != nil {
		log.Warn("no aesgcm link for an uploaded mail", zap.Error(err))
		return ""
	}
	return fmt.Sprintf("\n\n[The whole message (%s, with its attachments) as an .eml file: %s ]", humanSize(x.Size), link)
}

// humanSize is n bytes for people: 512 bytes, 3.4 MB.
func humanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d bytes", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// truncateText cuts s to at most n bytes on a rune boundary, with a marker.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "\n[… text truncated; the full message is attached]"
}
