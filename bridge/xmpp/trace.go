package xmpp

import (
	"bytes"
	"net"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// traceConn logs the raw XML stream at debug level only (the TeeIn/TeeOut
// idea of mellium's StreamConfig, which component sessions lack). The
// handshake digest is redacted.
type traceConn struct {
	net.Conn
	log *zap.Logger
}

func newTraceConn(c net.Conn, log *zap.Logger) net.Conn {
	if !log.Core().Enabled(zapcore.DebugLevel) {
		return c
	}
	return traceConn{Conn: c, log: log.Named("trace")}
}

func (t traceConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 {
		t.log.Debug("recv", zap.ByteString("xml", b[:n]))
	}
	return n, err
}

func (t traceConn) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("<handshake>")) {
		t.log.Debug("send", zap.String("xml", "<handshake>[redacted]</handshake>"))
	} else {
		t.log.Debug("send", zap.ByteString("xml", b))
	}
	return t.Conn.Write(b)
}
