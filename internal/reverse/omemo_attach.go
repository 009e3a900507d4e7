package reverse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"net/url"
	"path"
	"regexp"
	"strings"

	"go.uber.org/zap"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/payload"
	"passerelle/policy"
)

// maxOMEMOAttachments bounds the aesgcm:// links of one message fetched.
const maxOMEMOAttachments = 8

var aesgcmLink = regexp.MustCompile(`aesgcm://[^\s<>"]+`)

// omemoAttachments turns the XEP-0454 aesgcm:// links in an OMEMO
// message's text (how OMEMO clients send files) into MIME attachments:
// each is fetched with the Fetcher (internal/netguard: public addresses,
// https redirects only), decrypted with the key in its fragment (GCM
// authenticates it: the link came inside the OMEMO encryption), and the
// mail becomes multipart/mixed, the text first. Without a Fetcher the
// links stay text.
func (rv *Reverse) omemoAttachments(ctx context.Context, in *inbound, p *payload.Payload, d policy.Decision) *refusal {
	if rv.cfg.Fetcher == nil {
		return nil
	}
	links := aesgcmLink.FindAllString(p.Body, maxOMEMOAttachments)
	if len(links) == 0 {
		return nil
	}
	limit := rv.maxExternal(d)
	extendBudget(ctx, rv.cfg.DownloadTimeout+rv.cfg.Timeout)
	fctx, cancel := context.WithTimeout(ctx, rv.cfg.DownloadTimeout)
	defer cancel()
	type file struct {
		name string
		data []byte
	}
	var files []file
	total := int64(0)
	for _, l := range links {
		u, key, iv, err := payload.ParseAESGCMURL(l)
		if err != nil {
			continue // not a link we can open: it stays in the text
		}
		blob, err := rv.cfg.Fetcher.Fetch(fctx, u, limit-total+payload.TagSize)
		if err != nil {
			rv.log.Info("OMEMO attachment not fetched", zap.String("id", in.ID), zap.String("host", urlHost(u)),
				zap.String("error", redactURL(err, u)))
			return fetchRefusal(err)
		}
		data, err := payload.OpenBlob(key, iv, blob)
		if err != nil {
			return refuse(stanza.Modify, stanza.NotAcceptable, "An attached file does not decrypt with the key in its link; nothing was sent.")
		}
		total += int64(len(data))
		files = append(files, file{name: fileName(u), data: data})
	}
	if len(files) == 0 {
		return nil
	}
	var b bytes.Buffer
	boundary := "passerelle-" + newBoundary()
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=%q\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
		boundary, wrapBase64([]byte(p.Body)))
	for _, f := range files {
		ct := mime.TypeByExtension(path.Ext(f.name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Disposition: %s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			boundary, ct, mime.FormatMediaType("attachment", map[string]string{"filename": f.name}), wrapBase64(f.data))
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	rv.log.Info("OMEMO attachments fetched", zap.String("id", in.ID), zap.Int("files", len(files)), zap.Int64("bytes", total))
	p.Mail = &payload.Mail{Raw: b.Bytes()}
	return nil
}

// fileName is the last path element of an upload URL, or "attachment".
func fileName(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "attachment"
	}
	name := path.Base(pu.Path)
	if name == "." || name == "/" || name == "" || strings.ContainsAny(name, "\r\n\"\\") {
		return "attachment"
	}
	return name
}

func wrapBase64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76])
		b.WriteString("\r\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func newBoundary() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
