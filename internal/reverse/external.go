package reverse

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/payload"
	"passerelle/bridge/upload"
	"passerelle/gateway/compose"
	"passerelle/internal/offheap"
	"passerelle/policy"
)

// Fetcher downloads an HTTP File Upload blob of at most maxSize bytes
// (bridge/upload.Uploader). Errors with a Temporary() true method are
// worth a retry; errors.Is(err, upload.ErrTooLarge) means the server sent
// more than maxSize.
type Fetcher interface {
	Fetch(ctx context.Context, url string, maxSize int64) ([]byte, error)
}

// BufferFetcher is a Fetcher that also downloads into a buffer outside the
// Go heap (bridge/upload.Uploader.FetchBuffer); an uploaded mail is then
// fetched that way, held once and freed as soon as it is composed.
type BufferFetcher interface {
	FetchBuffer(ctx context.Context, url string, maxSize int64) (*offheap.Buffer, error)
}

// external replaces p.Mail.External by the mail it points at: downloaded
// with the Fetcher, decrypted, and checked against the size and SHA-256 of
// the payload. It is only called for an OX payload, whose signcrypt
// authenticates the URL, key, size and hash: GCM and the hash then
// authenticate the blob whatever server sent it.
//
// The mail may sit in a buffer outside the Go heap (BufferFetcher): the
// caller calls free once it no longer uses p.Mail.Raw.
func (rv *Reverse) external(ctx context.Context, in *inbound, p *payload.Payload, d policy.Decision) (free func(), ref *refusal) {
	free = func() {}
	x := p.Mail.External
	if limit := rv.maxExternal(d); x.Size > limit {
		rv.log.Info("external mail over the limit", zap.String("id", in.ID), rv.hash("from", in.sender),
			zap.Int64("size", x.Size), zap.Int64("limit", limit))
		return free, refuse(stanza.Modify, stanza.NotAcceptable, fmt.Sprintf("The uploaded mail (%d bytes) "+
			"is larger than this gateway sends (%d bytes); nothing was sent.", x.Size, limit))
	}
	// The download has its own bound, independent of the message's
	// (L5: a 36 MiB upload from a slow server needs more than 2 minutes);
	// what follows it gets a fresh Timeout.
	extendBudget(ctx, rv.cfg.DownloadTimeout+rv.cfg.Timeout)
	fctx, cancel := context.WithTimeout(ctx, rv.cfg.DownloadTimeout)
	blob, free, err := rv.fetch(fctx, x.URL, x.Size+payload.TagSize)
	cancel()
	if err != nil {
		rv.log.Info("external mail not fetched", zap.String("id", in.ID), rv.hash("from", in.sender),
			zap.String("host", urlHost(x.URL)), zap.Int64("size", x.Size),
			zap.Bool("temporary", upload.IsTemporary(err)), zap.String("error", redactURL(err, x.URL)))
		return free, fetchRefusal(err)
	}
	raw, err := x.OpenInPlace(blob) // blob is not used again
	if err != nil {
		rv.log.Info("external mail fails its integrity check", zap.String("id", in.ID),
			rv.hash("from", in.sender), zap.String("host", urlHost(x.URL)), zap.Error(err))
		free()
		return func() {}, refuse(stanza.Modify, stanza.NotAcceptable, "The uploaded mail does not match the size and "+
			"SHA-256 in your message or does not decrypt with its key; nothing was sent.")
	}
	rv.log.Info("external mail fetched", zap.String("id", in.ID), rv.hash("from", in.sender),
		zap.String("host", urlHost(x.URL)), zap.Int("bytes", len(raw)))
	m := *p.Mail
	m.Raw, m.External = raw, nil
	p.Mail = &m
	return free, nil
}

// fetch downloads a blob, outside the Go heap if the Fetcher can.
func (rv *Reverse) fetch(ctx context.Context, url string, maxSize int64) ([]byte, func(), error) {
	if bf, ok := rv.cfg.Fetcher.(BufferFetcher); ok {
		buf, err := bf.FetchBuffer(ctx, url, maxSize)
		if err != nil {
			return nil, func() {}, err
		}
		return buf.Bytes(), buf.Free, nil
	}
	blob, err := rv.cfg.Fetcher.Fetch(ctx, url, maxSize)
	return blob, func() {}, err
}

// maxExternal is the largest mail accepted as an upload: what compose
// embeds and what policy lets the gateway send, whichever is smaller.
func (rv *Reverse) maxExternal(d policy.Decision) int64 {
	limit := int64(rv.cfg.Compose.MaxEmbeddedBytes)
	if limit <= 0 {
		limit = compose.DefaultMaxEmbeddedBytes
	}
	if d.MaxMessageBytes > 0 {
		limit = min(limit, d.MaxMessageBytes)
	}
	return limit
}

// fetchRefusal explains a failed download: a temporary failure asks the
// client to send the message again later; nothing was spooled. The text
// is the same whatever went wrong (an address refused by the filter, an
// HTTP status, a body too large): the URL is the sender's choice, so the
// reply must not tell them what the gateway found there (H2: no port or
// status oracle into the gateway's network). The log has the detail.
func fetchRefusal(err error) *refusal {
	if upload.IsTemporary(err) {
		return refuse(stanza.Wait, stanza.RemoteServerTimeout, "The gateway could not download the "+
			"uploaded mail just now; send the message again later.")
	}
	return refuse(stanza.Modify, stanza.NotAcceptable, "The gateway could not download the uploaded "+
		"mail; upload it again with your own server's upload service (https) and send a new message. "+
		"Nothing was sent.")
}

// urlHost is the host of a blob URL: the path is a capability and is
// never logged.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Host
}

// redactURL is err's text without the blob URL's path and query, which
// *url.Error and others quote.
func redactURL(err error, raw string) string {
	s := err.Error()
	urls := []string{raw}
	var ue *url.Error
	if errors.As(err, &ue) {
		urls = append(urls, ue.URL)
	}
	if u, perr := url.Parse(raw); perr == nil {
		urls = append(urls, u.String())
	}
	for _, v := range urls {
		if v == "" {
			continue
		}
		red := "<url>"
		if u, perr := url.Parse(v); perr == nil && u.Host != "" {
			red = u.Scheme + "://" + u.Host + "/…"
		}
		s = strings.ReplaceAll(s, v, red)
	}
	return s
}
