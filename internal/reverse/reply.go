package reverse

import (
	"context"
	"encoding/xml"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
)

// refusal is the XMPP error a sender gets back (RFC 6120 §8.3); Text says
// why in words a user can act on.
type refusal struct {
	Type      stanza.ErrorType
	Condition stanza.Condition
	Text      string
}

func refuse(typ stanza.ErrorType, cond stanza.Condition, text string) *refusal {
	return &refusal{Type: typ, Condition: cond, Text: text}
}

func (r *refusal) Error() string {
	return "reverse: refused: " + string(r.Condition) + ": " + r.Text
}

// replyRefusal sends in.refusal back to the sender, from the puppet, with
// the stanza's id (RFC 6120 §8.3.1).
func (rv *Reverse) replyRefusal(ctx context.Context, in *inbound) {
	rv.writeRefusal(ctx, in)
}

// writeRefusal writes the error without waiting for the server's ack: an
// error reply needs no delivery guarantee, and the repliers keep pace with
// a flood of refusals at the speed of writes, not of round trips.
func (rv *Reverse) writeRefusal(ctx context.Context, in *inbound) {
	ref := in.refusal
	rv.cfg.Metrics.Refusal(string(ref.Condition))
	se := stanza.Error{Type: ref.Type, Condition: ref.Condition, Text: map[string]string{"": ref.Text}}
	err := rv.cfg.XMPP.Write(ctx, xmpp.Message{ID: in.ID, From: in.To, To: in.From,
		Type: stanza.ErrorMessage, Payload: se.TokenReader()})
	log := rv.log.With(zap.String("id", in.ID), rv.hash("from", in.From.Bare().String()),
		zap.String("condition", string(ref.Condition)))
	if err != nil {
		log.Warn("error reply not sent", zap.Error(err))
		return
	}
	log.Info("refused", zap.String("reason", ref.Text))
}

// sendReceipt acknowledges a spooled message (XEP-0184 §5).
func (rv *Reverse) sendReceipt(ctx context.Context, in *inbound) {
	if !in.Receipt || in.ID == "" {
		return
	}
	start := xml.StartElement{Name: xml.Name{Space: nsReceipts, Local: "received"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "id"}, Value: in.ID}}}
	err := rv.cfg.XMPP.Send(ctx, xmpp.Message{From: in.To, To: in.From, Type: in.Type,
		Payload: xmlstream.Wrap(nil, start)})
	if err != nil {
		rv.log.Info("receipt not sent", zap.String("id", in.ID), zap.Error(err))
	}
}
