package xmpp

import (
	"context"
	"encoding/xml"
	"errors"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// handler is the mellium Handler for one link: it catches bounces of
// messages Send is waiting on and dispatches the rest through the Mux.
type handler struct {
	c    *Component
	ctx  context.Context
	pool *iqPool
}

func (h *handler) HandleXMPP(t xmlstream.TokenReadEncoder, start *xml.StartElement) (err error) {
	defer func() {
		if r := recover(); r != nil {
			h.c.log.Error("panic in stanza handler", zap.Any("panic", r), zap.Stack("stack"))
			err = nil // Serve drains the rest of the stanza and carries on
		}
	}()
	switch start.Name.Local {
	case "message":
		return h.message(t, start)
	case "iq":
		return h.iq(t, start)
	}
	return nil
}

func (h *handler) message(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	msg, err := stanza.NewMessage(*start)
	if err != nil {
		h.c.log.Debug("dropping malformed message", zap.Error(err))
		return nil
	}
	if msg.Type == stanza.ErrorMessage {
		if h.c.deliverBounce(msg.ID, msg.From, t) {
			return nil
		}
		h.c.log.Info("bounce for a message no Send awaits (or not from its recipient)", zap.String("id", msg.ID))
	}
	mh := h.c.cfg.Mux.messageHandler()
	if mh == nil {
		return nil
	}
	r := xmlstream.MultiReader(xmlstream.Token(*start), t)
	if err := mh(h.ctx, msg, r); err != nil {
		h.c.log.Warn("message handler failed", zap.String("id", msg.ID), zap.Error(err))
	}
	return nil
}

// iq reads the request on the Serve goroutine (bounded: the server caps a
// stanza, and copyTokens caps the tokens) and hands it to the link's IQ
// pool; unknown requests and a full pool are answered here at once.
func (h *handler) iq(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	iq, err := stanza.NewIQ(*start)
	if err != nil || (iq.Type != stanza.GetIQ && iq.Type != stanza.SetIQ) {
		return nil // unmatched result or error: nobody is waiting for it
	}
	iq.XMLName = xml.Name{}
	if iq.To.String() == "" {
		iq.To = h.c.domain
	}
	child, err := firstChild(t)
	if err != nil {
		return err
	}
	var ie iqEntry
	if child != nil {
		ie = h.c.cfg.Mux.iqHandler(iq.Type, child.Name)
	}
	if ie.h == nil {
		return writeIQError(t, iq, stanza.Error{Type: stanza.Cancel, Condition: stanza.ServiceUnavailable})
	}
	payload, err := copyTokens(xmlstream.MultiReader(xmlstream.Token(*child), xmlstream.InnerElement(t)))
	if err != nil {
		var se *Error
		if errors.As(err, &se) { // too large
			return writeIQError(t, iq, stanza.Error{Type: stanza.Modify, Condition: stanza.NotAcceptable})
		}
		return err
	}
	j := iqJob{async: ie.async, h: ie.h, iq: iq, payload: payload}
	if h.c.cfg.Client != nil {
		return h.pool.inline(t, j)
	}
	if !h.pool.offer(j) {
		h.c.log.Debug("IQ refused: workers busy", zap.String("id", iq.ID))
		return writeIQError(t, iq, stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint})
	}
	return nil
}

func toStanzaError(err error) stanza.Error {
	var se stanza.Error
	if errors.As(err, &se) {
		return se
	}
	return stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
}

func writeIQError(w xmlstream.TokenWriter, iq stanza.IQ, se stanza.Error) error {
	_, err := xmlstream.Copy(w, iq.Error(se))
	return err
}

// firstChild returns the first child element of the stanza being read, or
// nil if it has none.
func firstChild(r xml.TokenReader) (*xml.StartElement, error) {
	for {
		tok, err := r.Token()
		if err != nil {
			return nil, err
		}
		switch tt := tok.(type) {
		case xml.StartElement:
			return &tt, nil
		case xml.EndElement:
			return nil, nil
		}
	}
}
