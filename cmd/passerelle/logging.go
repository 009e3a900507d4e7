package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the process logger from [log]; it writes to w.
func newLogger(c LogConfig, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	ec := zap.NewProductionEncoderConfig()
	ec.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if c.Format == "console" {
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(w))), nil
}

// addressHasher returns the function every package uses to put an address in
// the log: unchanged at debug level or when clear_addresses is set, otherwise
// a short salted hash that correlates lines without revealing who wrote to
// whom.
func addressHasher(c LogConfig, salt string) func(string) string {
	if c.ClearAddresses || c.Level == "debug" {
		return func(a string) string { return a }
	}
	return func(a string) string {
		h := sha256.Sum256([]byte(salt + "\x00" + strings.ToLower(a)))
		return "h:" + hex.EncodeToString(h[:6])
	}
}
