package main

import (
	"go.mau.fi/libsignal/logger"
	"go.uber.org/zap"

	"passerelle/internal/forward"
)

// forwardOMEMO is the forward path's OMEMO delivery: the puppet devices
// and the recipients' PEP nodes, read through the component.
func (g *gateway) forwardOMEMO() forward.OMEMO {
	if g.omemo == nil || g.pepSource == nil {
		return nil
	}
	return forward.OMEMOVia{Store: g.omemo, Source: g.pepSource}
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
