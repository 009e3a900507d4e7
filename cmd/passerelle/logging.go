package main

import (
	"fmt"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"passerelle/bridge/keys"
)

// newLogger builds the process logger from [log]; it writes to w. The
// level can be changed later (a reload).
func newLogger(c LogConfig, w io.Writer) (*zap.Logger, zap.AtomicLevel, error) {
	l, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("log.level: %w", err)
	}
	lvl := zap.NewAtomicLevelAt(l)
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(w))), lvl, nil
}

// addressHasher returns the function every package uses to put an address in
// the log: unchanged at debug level or when clear_addresses is set, otherwise
// a short hash keyed with the per-install secret (keys.dir/install.secret),
// which correlates lines without revealing who wrote to whom, and which a
// dictionary of likely addresses cannot reverse without keys.dir (L2).
func addressHasher(c LogConfig, secret *keys.InstallSecret) func(string) string {
	if c.ClearAddresses || c.Level == "debug" {
		return func(a string) string { return a }
	}
	h := secret.AddressHasher("log-address")
	return func(a string) string { return "h:" + h(a) }
}
