package ox

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

type xmlSigncrypt struct {
	XMLName xml.Name  `xml:"urn:xmpp:openpgp:0 signcrypt"`
	To      []xmlTo   `xml:"urn:xmpp:openpgp:0 to"`
	Time    []xmlTime `xml:"urn:xmpp:openpgp:0 time"`
	Payload []xmlPay  `xml:"urn:xmpp:openpgp:0 payload"`
}

type xmlTo struct {
	JID string `xml:"jid,attr"`
}

type xmlTime struct {
	Stamp string `xml:"stamp,attr"`
}

type xmlPay struct {
	Inner []byte `xml:",innerxml"`
}

// parseSigncrypt decodes exactly one <signcrypt/> element with at least
// one <to/>, exactly one <time/> and exactly one <payload/>.
func parseSigncrypt(body []byte) (*Signcrypt, error) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	var x xmlSigncrypt
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := onlyTrailingSpace(dec); err != nil {
		return nil, err
	}
	switch {
	case len(x.To) == 0:
		return nil, fmt.Errorf("%w: no <to/>", ErrMalformed)
	case len(x.Time) != 1:
		return nil, fmt.Errorf("%w: %d <time/> elements", ErrMalformed, len(x.Time))
	case len(x.Payload) != 1:
		return nil, fmt.Errorf("%w: %d <payload/> elements", ErrMalformed, len(x.Payload))
	}
	t, err := time.Parse(time.RFC3339, x.Time[0].Stamp) // XEP-0082 DateTime
	if err != nil {
		return nil, fmt.Errorf("%w: time stamp: %w", ErrMalformed, err)
	}
	sc := &Signcrypt{Time: t, Payload: x.Payload[0].Inner}
	for _, to := range x.To {
		sc.To = append(sc.To, to.JID)
	}
	return sc, nil
}

func onlyTrailingSpace(dec *xml.Decoder) error {
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
			return fmt.Errorf("%w: content after </signcrypt>", ErrMalformed)
		}
	}
}

// checkEnvelope applies XEP-0373 §3.1's recipient and time checks.
func checkEnvelope(sc *Signcrypt, cfg *OpenConfig) error {
	if !addressedTo(sc.To, cfg.Recipient) {
		return fmt.Errorf("%w: <to/> %q, expected %q", ErrWrongRecipient, sc.To, cfg.Recipient)
	}
	if sc.Time.After(cfg.Now.Add(cfg.MaxFuture)) {
		return fmt.Errorf("%w: %s is in the future", ErrBadTime, sc.Time.UTC().Format(time.RFC3339))
	}
	if cfg.MaxAge > 0 && sc.Time.Before(cfg.Now.Add(-cfg.MaxAge)) {
		return fmt.Errorf("%w: %s is older than %s", ErrBadTime, sc.Time.UTC().Format(time.RFC3339), cfg.MaxAge)
	}
	return nil
}

// addressedTo compares bare JIDs; localpart and domain compare without
// case (a simplification of PRECIS case mapping).
func addressedTo(tos []string, want string) bool {
	want = bareJID(want)
	for _, to := range tos {
		if strings.EqualFold(bareJID(to), want) {
			return true
		}
	}
	return false
}

func bareJID(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
