package upload

import (
	"context"
	"encoding/xml"
	"errors"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// IQer sends an IQ request from the gateway's component and waits for the
// answer. bridge/xmpp's Component satisfies it through a small adapter.
type IQer interface {
	// IQ sends <iq type='get' to=to from=component> with payload as its
	// only child and returns the answer as XML: preferably the whole <iq/>
	// (type result or error); the payload or <error/> alone is accepted
	// too. An error return means no answer (link down, timeout, ctx done);
	// an error reply may also come back this way as a stanza.Error.
	IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error)
}

// iqError classifies an error returned by an IQer.
func iqError(op string, err error) *Error {
	var se stanza.Error
	var pse *stanza.Error
	switch {
	case errors.As(err, &se):
	case errors.As(err, &pse) && pse != nil:
		se = *pse
	default:
		return &Error{Op: op, Kind: ErrTransport, Transient: true, Err: err}
	}
	e := stanzaError(op, stanzaErr{Condition: string(se.Condition), Type: string(se.Type)})
	e.Text = se.Text[""]
	return e
}
