package smtpd

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestScanLine(t *testing.T) {
	cases := []struct {
		in             string
		max            int
		partial, start bool
		wantN          int
		wantFull       bool
		wantErr        error
	}{
		{in: "NOOP\r\n", wantN: 6, wantFull: true},
		{in: "NOOP\r\nQUIT\r\n", wantN: 6, wantFull: true},
		{in: "NOOP\r", wantN: 0},
		{in: "NOOP", wantN: 0},
		{in: "NO\nOP\r\n", wantErr: errBareLF},
		{in: "NO\rOP\r\n", wantErr: errBareCR},
		{in: "NO\x00P\r\n", wantErr: errNUL},
		{in: "NOOPX\r\n", max: 6, wantErr: errLongLine},
		{in: "NOOP\r\n", max: 6, wantN: 6, wantFull: true},
		{in: "NOOPXX", max: 6, wantErr: errLongLine},
		{in: "abc", partial: true, wantN: 3},
		{in: "abc\r", partial: true, wantN: 3},
		{in: ".", partial: true, start: true, wantN: 0},
		{in: ".\r", partial: true, start: true, wantN: 0},
		{in: ".\r\n", partial: true, start: true, wantN: 3, wantFull: true},
		{in: "..x", partial: true, start: true, wantN: 3},
		{in: ".", partial: true, start: false, wantN: 1},
		{in: "\r\n.\r\n", partial: true, start: true, wantN: 2, wantFull: true},
	}
	for i, tc := range cases {
		n, full, err := scanLine([]byte(tc.in), tc.max, tc.partial, tc.start)
		if n != tc.wantN || full != tc.wantFull || err != tc.wantErr {
			t.Errorf("%d %q: got (%d, %v, %v), want (%d, %v, %v)", i, tc.in, n, full, err, tc.wantN, tc.wantFull, tc.wantErr)
		}
	}
}

// fakeConn is a net.Conn reading from a byte slice in chunks of step bytes.
type fakeConn struct {
	in   []byte
	step int
	out  bytes.Buffer
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), f.step)], f.in)
	f.in = f.in[n:]
	return n, nil
}
func (f *fakeConn) Write(p []byte) (int, error)      { return f.out.Write(p) }
func (f *fakeConn) Close() error                     { return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (f *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 9} }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

func newTestConn(tb testing.TB, in []byte, step int, m mode) *conn {
	s, err := New(Config{Hostname: "h", Router: memRouter{}, Sink: &memSink{}, MaxBadCommands: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	s.log = zap.NewNop()
	c := s.newConn(context.Background(), &fakeConn{in: in, step: max(step, 1)}, func() {})
	c.mode, c.atStart, c.greeted = m, true, true
	return c
}

// checkPiece asserts what a Read may hand go-smtp: no NUL, CR only as part
// of a final CRLF, nothing after a line end.
func checkPiece(t *testing.T, p []byte) {
	for i, b := range p {
		switch {
		case b == 0:
			t.Fatalf("NUL handed on: %q", p)
		case b == '\n' && (i == 0 || p[i-1] != '\r' || i != len(p)-1):
			t.Fatalf("LF not ending a CRLF line: %q", p)
		case b == '\r' && (i+1 >= len(p) || p[i+1] != '\n'):
			t.Fatalf("bare CR handed on: %q", p)
		}
	}
}

func FuzzStrictReader(f *testing.F) {
	for _, v := range smuggleVectors {
		f.Add([]byte("hello"+v+spoofed), uint8(7), true)
	}
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\n"), uint8(3), false)
	f.Add([]byte(".\r\n..\r\n.x\r\nQUIT\r\n"), uint8(1), true)
	f.Fuzz(func(t *testing.T, in []byte, step uint8, data bool) {
		m := modeCommand
		if data {
			m = modeData
		}
		c := newTestConn(t, in, int(step), m)
		buf := make([]byte, 64)
		var total int
		for range len(in) + 2 {
			n, err := c.Read(buf)
			checkPiece(t, buf[:n])
			total += n
			if err != nil {
				break
			}
		}
		if total > len(in) {
			t.Fatalf("handed on %d bytes from %d", total, len(in))
		}
	})
}

func BenchmarkStrictReader(b *testing.B) {
	line := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog 0123456789.\r\n"), 1)
	msg := bytes.Repeat(line, (1<<20)/len(line))
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		c := newTestConn(b, msg, 1<<16, modeData)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
	}
}
