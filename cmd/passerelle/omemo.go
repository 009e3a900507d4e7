package main

import (
	"context"

	"go.mau.fi/libsignal/logger"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/omemo"
	"passerelle/bridge/pep"
	"passerelle/internal/forward"
	"passerelle/internal/reverse"
)

// forwardOMEMO is the forward path's OMEMO delivery: the puppet devices
// and the recipients' PEP nodes, read through the component.
func (g *gateway) forwardOMEMO() forward.OMEMO {
	if g.omemo == nil || g.pepSource == nil {
		return nil
	}
	return forward.OMEMOVia{Store: g.omemo, Source: g.pepSource}
}

// reverseOMEMO opens OMEMO messages to puppets and repairs sessions from
// the sender's published bundle.
type reverseOMEMO struct {
	store *omemo.Store
	src   *pep.Source
}

func (r reverseOMEMO) Decrypt(ctx context.Context, puppet, from string, e *omemo.Encrypted) ([]byte, error) {
	return r.store.Decrypt(ctx, puppet, from, e)
}

func (r reverseOMEMO) Repair(ctx context.Context, puppet string, from jid.JID, sid uint32) (*omemo.Encrypted, error) {
	fetch := func(ctx context.Context, id uint32) (*omemo.Bundle, error) { return r.src.OMEMOBundle(ctx, from, id) }
	return r.store.KeyTransport(ctx, puppet, from.String(), []uint32{sid}, fetch)
}

// reverseOMEMO is the reverse path's OMEMO, nil without a component.
func (g *gateway) reverseOMEMO() reverse.OMEMO {
	if g.omemo == nil || g.pepSource == nil {
		return nil
	}
	return reverseOMEMO{store: g.omemo, src: g.pepSource}
}

// zapSignal routes go.mau.fi/libsignal's logging (by default fmt.Println
// to stdout) to the gateway's log. Its messages carry errors only, never
// key material or plaintext.
type zapSignal struct{ log *zap.Logger }

func (z zapSignal) Debug(caller, msg string)   {}
func (z zapSignal) Info(caller, msg string)    { z.log.Debug(msg, zap.String("caller", caller)) }
func (z zapSignal) Warning(caller, msg string) { z.log.Info(msg, zap.String("caller", caller)) }
func (z zapSignal) Error(caller, msg string)   { z.log.Warn(msg, zap.String("caller", caller)) }
func (z zapSignal) Configure(string)           {}

// quietLibsignal installs zapSignal. libsignal keeps its logger in a
// package variable: this is the one place that sets it.
func quietLibsignal(log *zap.Logger) {
	var l logger.Loggable = zapSignal{log: log.Named("libsignal")}
	logger.Setup(&l)
}
