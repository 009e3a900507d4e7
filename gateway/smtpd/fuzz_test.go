package smtpd

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// oneConn is a listener that hands out one connection, then blocks.
type oneConn struct {
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConn) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *oneConn) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *oneConn) Addr() net.Addr { return &net.TCPAddr{} }

func FuzzSession(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@local>\r\nDATA\r\n"), uint16(0))
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<v@local>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n"), uint16(64))
	f.Add([]byte("EHLO x\r\nAUTH PLAIN AGFsaWNlAHB3\r\nSTARTTLS\r\nBDAT 3 LAST\r\nabc"), uint16(30))
	f.Add([]byte("HELO x\r\nRCPT TO:<\"a@b\"@local>\r\nVRFY x\r\n\r\n\x00\n"), uint16(20))
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		watchdog := time.AfterFunc(8*time.Second, func() { panic("FuzzSession iteration hung") })
		defer watchdog.Stop()
		sink := &memSink{}
		srv, err := New(Config{Hostname: "h", Router: memRouter{[]string{"local"}}, Sink: sink,
			ReadTimeout: 300 * time.Millisecond, WriteTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		client, server := net.Pipe()
		l := &oneConn{c: make(chan net.Conn, 1), done: make(chan struct{})}
		l.c <- server
		served := make(chan error, 1)
		go func() { served <- srv.Serve(context.Background(), l) }()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		// The client sends in two parts, the first after the greeting has started.
		cut := min(int(split), len(in))
		_, _ = client.Write(in[:cut])
		_, _ = client.Write(in[cut:])
		_ = client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatalf("session did not end: %v", err)
		}
		if err := <-served; err != nil {
			t.Fatalf("Serve: %v", err)
		}
		for _, m := range sink.msgs {
			checkMessage(t, m.data)
		}
	})
}

// checkMessage asserts a stored message has only CRLF line ends.
func checkMessage(t *testing.T, data []byte) {
	for i, b := range data {
		if b == 0 || (b == '\n' && (i == 0 || data[i-1] != '\r')) || (b == '\r' && (i+1 == len(data) || data[i+1] != '\n')) {
			t.Fatalf("stored message has bare CR/LF or NUL at %d: %q", i, data)
		}
	}
}
