package reverse

import (
	"context"
	"encoding/xml"
	"errors"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/keys"
	"passerelle/bridge/omemo"
	"passerelle/bridge/ox"
	"passerelle/bridge/payload"
	"passerelle/bridge/xmpp"
	"passerelle/policy"
)

// forgetter drops a cached key (bridge/keys.Resolver), so a sender who
// just changed keys is not refused until the cache expires.
type forgetter interface{ Forget(addr string) }

var errTryLater = refuse(stanza.Wait, stanza.InternalServerError,
	"The gateway could not process the message just now; send it again later.")

// content returns the message's payload: the opened OX signcrypt, or the
// plaintext children where policy allows plaintext. senderKey is the
// sender's published key when known (for the Autocrypt header).
func (rv *Reverse) content(ctx context.Context, in *inbound, d policy.Decision) (*payload.Payload, *openpgp.Entity, *refusal) {
	if in.OMEMO != nil && in.OpenPGP == nil && rv.cfg.OMEMO != nil {
		return rv.openOMEMO(ctx, in)
	}
	if in.OpenPGP == nil {
		if !d.ReversePlaintext {
			return nil, nil, refuse(stanza.Modify, stanza.NotAcceptable, "This gateway only sends mail written "+
				"with OpenPGP for XMPP (OX, XEP-0373) encryption: enable OX in your client and send the message again.")
		}
		p, err := payload.Parse(in.Plain, payload.Limits{})
		if err != nil {
			rv.log.Info("unreadable plaintext message", zap.String("id", in.ID), zap.Error(err))
			return nil, nil, refuse(stanza.Modify, stanza.BadRequest, "The message could not be read.")
		}
		key, _ := rv.senderKey(ctx, in) // only for the Autocrypt header
		return p, key, nil
	}
	return rv.open(ctx, in)
}

// open decrypts and verifies an OX message to the puppet.
func (rv *Reverse) open(ctx context.Context, in *inbound) (*payload.Payload, *openpgp.Entity, *refusal) {
	ct, err := ox.DecodeElement(in.OpenPGP, 0)
	if err != nil {
		return nil, nil, refuse(stanza.Modify, stanza.BadRequest, "The <openpgp/> element is not valid base64.")
	}
	puppet, err := rv.cfg.Keys.PuppetKey(ctx, in.To.Bare().String())
	if err != nil {
		rv.log.Error("puppet key", zap.Error(err))
		return nil, nil, errTryLater
	}
	sender, ref := rv.senderKey(ctx, in)
	if ref != nil {
		return nil, nil, ref
	}
	sc, err := rv.openWith(ct, puppet, sender, in)
	if errors.Is(err, ox.ErrWrongSigner) || errors.Is(err, ox.ErrBadSignature) {
		if f, ok := rv.cfg.SenderKeys.(forgetter); ok { // a new key? look again once
			f.Forget(in.sender)
			if sender, ref = rv.senderKey(ctx, in); ref != nil {
				return nil, nil, ref
			}
			sc, err = rv.openWith(ct, puppet, sender, in)
		}
	}
	if err != nil {
		rv.log.Info("OX message refused", zap.String("id", in.ID), rv.hash("from", in.sender), zap.Error(err))
		return nil, nil, openRefusal(err)
	}
	p, err := payload.ParseInner(sc.Payload, payload.Limits{})
	if err != nil {
		rv.log.Info("unreadable OX payload", zap.String("id", in.ID), zap.Error(err))
		return nil, nil, refuse(stanza.Modify, stanza.BadRequest, "The encrypted payload could not be read.")
	}
	return p, sender, nil
}

func (rv *Reverse) openWith(ct []byte, puppet, sender *openpgp.Entity, in *inbound) (*ox.Signcrypt, error) {
	return ox.Open(ct, ox.OpenConfig{Keyring: openpgp.EntityList{puppet}, Senders: openpgp.EntityList{sender},
		Recipient: in.To.Bare().String(), Now: rv.cfg.Now()})
}

// senderKey resolves the sender's published key.
func (rv *Reverse) senderKey(ctx context.Context, in *inbound) (*openpgp.Entity, *refusal) {
	res, err := rv.cfg.SenderKeys.Resolve(ctx, in.sender)
	switch {
	case err == nil:
		return res.Key, nil
	case errors.Is(err, keys.ErrNoKey):
		return nil, refuse(stanza.Modify, stanza.NotAcceptable, "The gateway cannot find your published OpenPGP "+
			"key to check your signature: publish it over PEP with the open access model (XEP-0373 §4.1).")
	}
	rv.log.Warn("sender key lookup failed", rv.hash("from", in.sender), zap.Error(err))
	return nil, errTryLater
}

// openRefusal explains why an OX message could not be opened.
func openRefusal(err error) *refusal {
	na := func(text string) *refusal { return refuse(stanza.Modify, stanza.NotAcceptable, text) }
	switch {
	case errors.Is(err, ox.ErrNoDecryptionKey), errors.Is(err, ox.ErrNotEncrypted):
		return na("The message is not encrypted to this contact's key: refresh its OX key and send again.")
	case errors.Is(err, ox.ErrNotProtected):
		return na("The message is not integrity-protected (no MDC or AEAD), so the gateway refuses it.")
	case errors.Is(err, ox.ErrUnsigned), errors.Is(err, ox.ErrBadSignature), errors.Is(err, ox.ErrWrongSigner):
		return na("The message's signature does not verify against your published OpenPGP key.")
	case errors.Is(err, ox.ErrWrongRecipient):
		return na("The encrypted message is addressed to someone else.")
	case errors.Is(err, ox.ErrBadTime):
		return na("The encrypted message's timestamp is too far from the gateway's clock.")
	case errors.Is(err, ox.ErrTooLarge):
		return refuse(stanza.Modify, stanza.PolicyViolation, "The message is too large.")
	}
	return refuse(stanza.Modify, stanza.BadRequest, "The encrypted message could not be read.")
}

// OMEMO opens OMEMO 0.3 messages to puppet devices (*omemo.Store).
type OMEMO interface {
	Decrypt(ctx context.Context, puppet, from string, e *omemo.Encrypted) ([]byte, error)
	// Repair rebuilds the puppet's session with the sender's device sid
	// from its published bundle and returns the key transport message
	// that carries it (omemo.Store.KeyTransport).
	Repair(ctx context.Context, puppet string, from jid.JID, sid uint32) (*omemo.Encrypted, error)
}

// openOMEMO decrypts an OMEMO message to the puppet's device. OMEMO 0.3
// carries only the body: it becomes the mail's text. A key transport
// message (no payload: session setup or repair) mails nothing: nil
// payload, no refusal.
func (rv *Reverse) openOMEMO(ctx context.Context, in *inbound) (*payload.Payload, *openpgp.Entity, *refusal) {
	e, err := omemo.Parse(in.OMEMO)
	if err != nil {
		return nil, nil, refuse(stanza.Modify, stanza.BadRequest, "The OMEMO element is malformed.")
	}
	body, err := rv.cfg.OMEMO.Decrypt(ctx, in.To.Bare().String(), in.From.Bare().String(), e)
	switch {
	case errors.Is(err, omemo.ErrNotForUs):
		return nil, nil, refuse(stanza.Modify, stanza.NotAcceptable, "The OMEMO message was not encrypted for "+
			"this contact's device; refresh its devices in your client and send it again.")
	case errors.Is(err, omemo.ErrDecrypt), errors.Is(err, omemo.ErrMalformed):
		rv.log.Info("OMEMO message not decrypted", zap.String("id", in.ID), zap.Error(err))
		rv.repairOMEMO(ctx, in, e.SID)
		return nil, nil, refuse(stanza.Modify, stanza.NotAcceptable, "The gateway could not decrypt the OMEMO message; send it again.")
	case err != nil:
		rv.log.Error("OMEMO decrypt", zap.String("id", in.ID), zap.Error(err))
		return nil, nil, errTryLater
	case body == nil:
		return nil, nil, nil
	}
	key, _ := rv.senderKey(ctx, in) // only for the Autocrypt header
	return &payload.Payload{Body: string(body)}, key, nil
}

// repairOMEMO answers a message the puppet's device could not decrypt (a
// session the gateway lost or that broke) with a key transport message
// that builds a new one, so the sender's next message decrypts.
func (rv *Reverse) repairOMEMO(ctx context.Context, in *inbound, sid uint32) {
	kt, err := rv.cfg.OMEMO.Repair(ctx, in.To.Bare().String(), in.From.Bare(), sid)
	if err != nil {
		rv.log.Warn("OMEMO session not repaired", zap.String("id", in.ID), zap.Error(err))
		return
	}
	toks := kt.Tokens()
	hint := xml.StartElement{Name: xml.Name{Space: "urn:xmpp:hints", Local: "store"}}
	toks = append(toks, hint, hint.End())
	if err := rv.cfg.XMPP.Send(ctx, xmpp.Message{From: in.To.Bare(), To: in.From.Bare(), Type: stanza.ChatMessage,
		Payload: xmpp.Tokens(toks...)}); err != nil {
		rv.log.Warn("OMEMO key transport not sent", zap.String("id", in.ID), zap.Error(err))
	}
}
