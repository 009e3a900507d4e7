package payload

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
)

// ErrAESGCMURL is wrapped by every failure to make or read an aesgcm URL.
var ErrAESGCMURL = errors.New("payload: bad aesgcm URL")

// AESGCMURL returns the blob's XEP-0454 link: the GET URL with the scheme
// aesgcm and the fragment the hex of the 12-octet IV followed by the
// 32-octet key (88 hex digits), as Conversations, Dino and Gajim read it
// (Gajim's get_aes_key_data: 44 octets, IV first). A client that opens it
// fetches https://host/path, decrypts with AES-256-GCM (tag appended) and
// gets the mail as an .eml file. The link carries the key, so it may only
// appear inside the encrypted payload.
//
// An http URL (only with a receiver's loopback test switch) maps to
// aesgcm too; XEP-0454 clients will fetch it over https.
func (x *External) AESGCMURL() (string, error) {
	u, err := url.Parse(x.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", fmt.Errorf("%w: %q is not an https URL without a fragment", ErrAESGCMURL, redactPath(x.URL))
	}
	u.Scheme = "aesgcm"
	frag := make([]byte, 0, IVSize+KeySize)
	frag = append(append(frag, x.IV[:]...), x.Key[:]...)
	u.Fragment, u.RawFragment = hex.EncodeToString(frag), ""
	return u.String(), nil
}

// ParseAESGCMURL splits an XEP-0454 link into the https URL to fetch and
// the key and IV. It accepts only the 12-octet IV form this package
// writes.
func ParseAESGCMURL(s string) (httpsURL string, key [KeySize]byte, iv [IVSize]byte, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "aesgcm" || u.Host == "" {
		return "", key, iv, fmt.Errorf("%w: not an aesgcm URL", ErrAESGCMURL)
	}
	frag, err := hex.DecodeString(u.Fragment)
	if err != nil || len(frag) != IVSize+KeySize {
		return "", key, iv, fmt.Errorf("%w: fragment is not %d hex digits", ErrAESGCMURL, 2*(IVSize+KeySize))
	}
	copy(iv[:], frag[:IVSize])
	copy(key[:], frag[IVSize:])
	u.Scheme, u.Fragment, u.RawFragment = "https", "", ""
	return u.String(), key, iv, nil
}

// redactPath keeps only the scheme and host of a URL for an error text:
// the path of an upload URL is a capability.
func redactPath(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
