package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// ErrIQTimeout means an IQ sent with Component.IQ got no answer in time.
var ErrIQTimeout = errors.New("xmpp: IQ response timed out")

// maxResponseTokens bounds what IQ copies out of one response; the server
// already caps a stanza (Prosody: 512 KiB on component links).
const maxResponseTokens = 1 << 17

// IQ sends an IQ get or set with payload as its child and waits for the
// answer (RFC 6120 §8.2.3). It returns the children of the result, copied
// into memory so the caller never holds up the link's Serve loop (an empty
// reader for an empty result). An error answer is returned as *Error,
// classified like a bounce; link trouble as a temporary error wrapping
// ErrNotConnected, ErrLinkLost or ErrIQTimeout. The wait is bounded by ctx
// and by Config.AckTimeout. An empty iq.ID is generated; an empty iq.From
// is the component's domain.
func (c *Component) IQ(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	if c.cfgErr != nil {
		return nil, c.cfgErr
	}
	if iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ {
		return nil, fmt.Errorf("xmpp: IQ of type %q: want get or set", iq.Type)
	}
	if iq.To.String() == "" {
		return nil, errors.New("xmpp: IQ without recipient")
	}
	iq = c.fillIQ(iq)
	l, err := c.waitLink(ctx)
	if err != nil {
		return nil, err
	}
	return c.roundTrip(ctx, l, iq, payload)
}

func (c *Component) fillIQ(iq stanza.IQ) stanza.IQ {
	iq.XMLName = xml.Name{}
	if iq.ID == "" {
		iq.ID = randomID()
	}
	if iq.From.String() == "" {
		iq.From = c.from()
	}
	return iq
}

func (c *Component) roundTrip(ctx context.Context, l *link, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error) {
	iqCtx, cancel := context.WithTimeout(ctx, c.cfg.AckTimeout)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()
	if payload == nil {
		payload = xmlstream.MultiReader()
	}
	resp, err := l.sess.SendIQ(iqCtx, iq.Wrap(payload))
	if err != nil {
		return nil, c.iqFailure(ctx, l, err)
	}
	defer resp.Close()
	return readIQResponse(resp)
}

func (c *Component) iqFailure(ctx context.Context, l *link, err error) error {
	switch {
	case l.ctx.Err() != nil:
		return tempErr(ErrLinkLost, nil)
	case ctx.Err() != nil:
		return tempErr(ErrIQTimeout, ctx.Err())
	case errors.Is(err, context.DeadlineExceeded):
		return tempErr(ErrIQTimeout, fmt.Errorf("no answer in %v", c.cfg.AckTimeout))
	}
	return tempErr(ErrLinkLost, err)
}

// readIQResponse turns a response <iq/> into its copied children or, for
// type error, an *Error.
func readIQResponse(resp xml.TokenReader) (xml.TokenReader, error) {
	tok, err := resp.Token()
	if err != nil {
		return nil, tempErr(ErrLinkLost, err)
	}
	start, ok := tok.(xml.StartElement)
	if !ok {
		return nil, tempErr(ErrLinkLost, fmt.Errorf("unexpected response token %T", tok))
	}
	iq, err := stanza.NewIQ(start)
	if err != nil {
		return nil, Classify("", "", fmt.Sprintf("malformed IQ response: %v", err))
	}
	if iq.Type == stanza.ErrorIQ {
		return nil, decodeBounce(xmlstream.Inner(resp))
	}
	return copyTokens(xmlstream.Inner(resp))
}

func copyTokens(r xml.TokenReader) (xml.TokenReader, error) {
	var toks tokens
	for {
		tok, err := r.Token() // a reader may return its last token with io.EOF
		if tok != nil {
			if len(toks) >= maxResponseTokens {
				return nil, Classify("not-acceptable", string(stanza.Cancel), "IQ response too large")
			}
			toks = append(toks, xml.CopyToken(tok))
		}
		if err == io.EOF {
			return &toks, nil
		}
		if err != nil {
			return nil, tempErr(ErrLinkLost, err)
		}
	}
}

// tokens is an xml.TokenReader over copied tokens.
type tokens []xml.Token

func (t *tokens) Token() (xml.Token, error) {
	if len(*t) == 0 {
		return nil, io.EOF
	}
	tok := (*t)[0]
	*t = (*t)[1:]
	return tok, nil
}
