package upload

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
)

// ComponentIQ adapts the component link to IQer.
type ComponentIQ struct{ C *xmpp.Component }

// IQ implements IQer: a get to `to`, the answer's payload as XML, and error
// replies as a stanza.Error.
func (a ComponentIQ) IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error) {
	r, err := a.C.IQ(ctx, stanza.IQ{To: to, Type: stanza.GetIQ}, payload)
	if err != nil {
		var xe *xmpp.Error
		if errors.As(err, &xe) {
			return nil, stanza.Error{Condition: stanza.Condition(xe.Condition), Type: stanza.ErrorType(xe.Type),
				Text: map[string]string{"": xe.Text}}
		}
		return nil, err
	}
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, r); err != nil {
		return nil, err
	}
	if err := enc.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
