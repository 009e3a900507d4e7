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

type iqEntry struct {
	h     IQHandler
	async bool
}

type iqKey struct {
	typ     stanza.IQType
	payload xml.Name
}

// Mux routes inbound IQ requests by type and payload name (XEP-0030
// disco#info, XEP-0060 pubsub for XEP-0373 key queries, ...) and messages
// to one handler. It is safe for concurrent use.
type Mux struct {
	mu  sync.RWMutex
	iq  map[iqKey]iqEntry
	msg MessageHandler
}

// NewMux returns an empty Mux.
func NewMux() *Mux { return &Mux{iq: make(map[iqKey]iqEntry)} }

// HandleIQ registers h for IQs of typ (get or set) whose first child is
// named payload, e.g. {http://jabber.org/protocol/disco#info query}. h runs
// on the link's IQ worker pool with a copy of the payload, never on the
// Serve goroutine, under Config.IQTimeout; it should answer promptly (a
// slow one holds up the other quick handlers, not the link).
func (m *Mux) HandleIQ(typ stanza.IQType, payload xml.Name, h IQHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.iq[iqKey{typ, payload}] = iqEntry{h: h}
}

// HandleIQAsync registers h like HandleIQ, but h runs on a goroutine of
// its own (not one of the pool's), so it may block (send IQs of its
// own and wait for their answers, write to disk) without holding up the
// link's Serve loop, which delivers those answers. The response goes out on
// the link the request came in on; if that link is gone by then, it is
// dropped and the requester's timeout applies. At most MaxAsyncIQ run at
// once; beyond that a request gets a wait/resource-constraint error. On a
// client link (Config.Client) h runs inline, like HandleIQ (see handler.go).
func (m *Mux) HandleIQAsync(typ stanza.IQType, payload xml.Name, h IQHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.iq[iqKey{typ, payload}] = iqEntry{h: h, async: true}
}

// HandleMessage sets the handler for inbound messages.
func (m *Mux) HandleMessage(h MessageHandler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msg = h
}

func (m *Mux) iqHandler(typ stanza.IQType, payload xml.Name) iqEntry {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.iq[iqKey{typ, payload}]
}

func (m *Mux) messageHandler() MessageHandler {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.msg
}
