package xmpp

import (
	"context"
	"encoding/xml"
	"sync"

	"mellium.im/xmpp/stanza"
)

// IQHandler answers an inbound IQ get or set. payload reads the request's
// first child element (start to end). It returns the result's payload (nil
// for an empty result) or an error: a stanza.Error is sent as is, any other
// error as internal-server-error.
type IQHandler func(ctx context.Context, iq stanza.IQ, payload xml.TokenReader) (xml.TokenReader, error)

// MessageHandler receives an inbound <message/>; r reads the whole element,
// start to end, and must be consumed before returning if needed later.
// Bounces of messages sent with Send are not passed to it.
type MessageHandler func(ctx context.Context, msg stanza.Message, r xml.TokenReader) error

type iqKey struct {
	typ     stanza.IQType
	payload xml.Name
}

// Mux routes inbound IQ requests by type and payload name (XEP-0030
// disco#info, XEP-0060 pubsub for XEP-0373 key queries, ...) and messages
// to one handler. It is safe for concurrent use.
type Mux struct {
	mu  sync.RWMutex
	iq  map[iqKey]IQHandler
	msg MessageHandler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{iq: make(map[iqKey]IQHandler)} }

// HandleIQ registers h for IQs of typ (get or set) whose first child is
// named payload, e.g. {http://jabber.org/protocol/disco#info query}.
func (m *Mux) HandleIQ(typ stanza.IQType, payload xml.Name, h IQHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.iq[iqKey{typ, payload}] = h
}

// HandleMessage sets the handler for inbound messages.
func (m *Mux) HandleMessage(h MessageHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msg = h
}

func (m *Mux) iqHandler(typ stanza.IQType, payload xml.Name) IQHandler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.iq[iqKey{typ, payload}]
}

func (m *Mux) messageHandler() MessageHandler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.msg
}
