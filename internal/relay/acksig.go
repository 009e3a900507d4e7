package relay

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
	"passerelle/bridge/relaymsg"
	"passerelle/bridge/xmpp"
)

// SignAcks wraps the client's transfer handler (peer.Receiver.Handle): the
// ack it returns gets a signature by the client's key over the hub's JID,
// the transfer id and the results (relaymsg.AckSignedText). The hub
// believes no ack without it: whoever holds only the account's password
// can log in as the client but cannot make the hub drop mail.
func (c *Client) SignAcks(h xmpp.IQHandler) xmpp.IQHandler {
	return func(ctx context.Context, iq stanza.IQ, p xml.TokenReader) (xml.TokenReader, error) {
		r, err := h(ctx, iq, p)
		if err != nil || r == nil {
			return r, err
		}
		toks, err := collectTokens(r)
		if err != nil {
			return nil, err
		}
		ack, err := peermsg.ParseAck(xmpp.Tokens(append([]xml.Token(nil), toks...)...), 1000)
		if err != nil {
			return nil, fmt.Errorf("relay: own ack: %w", err)
		}
		var sig bytes.Buffer
		if err := openpgp.DetachSign(&sig, []*openpgp.Entity{c.cfg.Key}, bytes.NewReader(relaymsg.AckSignedText(c.hub.String(), ack)), nil); err != nil {
			return nil, fmt.Errorf("relay: sign ack: %w", err)
		}
		return xmpp.Tokens(relaymsg.WithSig(toks, sig.Bytes())...), nil
	}
}

// verifyAck checks the client's signature on an ack (toks: the IQ
// result's children).
func verifyAck(hub string, key *openpgp.Entity, toks []xml.Token) error {
	sig, err := relaymsg.FindSig(toks)
	if err != nil {
		return err
	}
	ack, err := peermsg.ParseAck(xmpp.Tokens(append([]xml.Token(nil), toks...)...), 1000)
	if err != nil {
		return err
	}
	_, _, err = openpgp.VerifyDetachedSignature(openpgp.EntityList{key}, bytes.NewReader(relaymsg.AckSignedText(hub, ack)),
		bytes.NewReader(sig), nil)
	if err != nil {
		return fmt.Errorf("relay: ack signature: %w", err)
	}
	return nil
}

func collectTokens(r xml.TokenReader) ([]xml.Token, error) {
	var toks []xml.Token
	for {
		t, err := r.Token()
		if err != nil {
			if err == io.EOF {
				return toks, nil
			}
			return nil, err
		}
		toks = append(toks, xml.CopyToken(t))
	}
}
