package xmpp

import (
	"net"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// traceConn logs the raw XML stream at debug level only (the TeeIn/TeeOut
// idea of mellium's StreamConfig, which component sessions lack), each
// direction through a redactor: the structure of every stanza, never the
// content of bodies, encrypted payloads, the handshake or SASL.
type traceConn struct {
	net.Conn
	log     *zap.Logger
	in, out *redactor
}

func newTraceConn(c net.Conn, log *zap.Logger) net.Conn {
	if !log.Core().Enabled(zapcore.DebugLevel) {
		return c
	}
	return traceConn{Conn: c, log: log.Named("trace"), in: &redactor{}, out: &redactor{}}
}

func (t traceConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 {
		t.log.Debug("recv", zap.String("xml", t.in.redact(b[:n])))
	}
	return n, err
}

func (t traceConn) Write(b []byte) (int, error) {
	t.log.Debug("send", zap.String("xml", t.out.redact(b)))
	return t.Conn.Write(b)
}
