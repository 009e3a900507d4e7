package peer

import (
	"context"
	"fmt"

	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/payload"
)

// UploadExternal moves a mail too large for one stanza out of a transfer
// (XEP-0363): it encrypts raw under a fresh AES-256-GCM key, uploads the
// blob and returns the <external/> whose key and hash travel inside the
// signed and encrypted envelope. The peer route and both ends of the relay
// link use it. Errors are SMTP replies for the client at DATA: 552 without
// an uploader, 451 when the upload fails.
func UploadExternal(ctx context.Context, up Uploader, raw []byte, log *zap.Logger) (*payload.External, error) {
	if up == nil {
		return nil, errTooLargePeer
	}
	ext, blob, size, err := payload.SealExternalStream(raw) // encrypted as it is sent
	if err != nil {
		return nil, fmt.Errorf("peer: seal external mail: %w", err)
	}
	url, err := up.Upload(ctx, blob, size)
	if err != nil {
		log.Warn("upload of a large mail failed", zap.Int64("bytes", size), zap.Error(err))
		return nil, errUploadFailed
	}
	ext.URL = url
	return ext, nil
}

// OpenExternal returns the RFC 5322 message of an envelope: inline, or
// downloaded and checked against the key and hash the signed envelope
// carries. Its errors are the stanza errors to answer the transfer with.
func OpenExternal(ctx context.Context, dl Downloader, m *payload.Mail, log *zap.Logger) ([]byte, error) {
	if m.External == nil {
		return m.Raw, nil
	}
	x := m.External
	if dl == nil {
		return nil, refusal(stanza.Modify, stanza.NotAcceptable, "5.3.4", "large mail over upload is not accepted here")
	}
	blob, err := dl.Fetch(ctx, x.URL, x.Size+16) // GCM's tag
	if err != nil {
		log.Warn("download of a large mail failed", zap.Error(err))
		return nil, refusal(stanza.Wait, stanza.RemoteServerTimeout, "4.4.0", "could not download the mail")
	}
	raw, err := x.Open(blob)
	if err != nil {
		return nil, refusal(stanza.Modify, stanza.BadRequest, "5.6.0", "downloaded mail fails its integrity check")
	}
	return raw, nil
}
