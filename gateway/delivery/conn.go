package delivery

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// timeoutConn bounds every write, so a stalled peer cannot hold a data
// transfer forever (RFC 5321 §4.5.3.2.5: 3 minutes per data block).
type timeoutConn struct {
	net.Conn
	write time.Duration
}

func (c *timeoutConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.write)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// greetedConn replays a 220 greeting, so that a fresh go-smtp client can
// take over a connection that has just switched to TLS and send EHLO
// again (RFC 3207 §4.2).
type greetedConn struct {
	net.Conn
	r io.Reader
}

func newGreetedConn(c net.Conn) *greetedConn {
	return &greetedConn{Conn: c, r: io.MultiReader(strings.NewReader("220 tls\r\n"), c)}
}

func (c *greetedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// startTLS sends STARTTLS on conn, whose client has just had its EHLO
// answered, and returns the TLS connection. go-smtp cannot send STARTTLS
// after a Hello with our own name, hence this. Anything the server sent
// after its 220 is discarded with the plaintext reader (RFC 3207 §4.2).
func startTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, timeout time.Duration) (*tls.Conn, error) {
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, "STARTTLS\r\n"); err != nil {
		return nil, err
	}
	if _, _, err := textproto.NewReader(bufio.NewReader(conn)).ReadResponse(220); err != nil {
		return nil, replyError(err)
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// replyError turns a textproto reply error into an *smtp.SMTPError, the
// way go-smtp does for its own commands.
func replyError(err error) error {
	var pe *textproto.Error
	if !errors.As(err, &pe) {
		return err
	}
	se := &smtp.SMTPError{Code: pe.Code, Message: pe.Msg}
	code, text, ok := strings.Cut(pe.Msg, " ")
	parts := strings.Split(code, ".")
	if !ok || len(parts) != 3 {
		return se
	}
	var ec smtp.EnhancedCode
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return se
		}
		ec[i] = n
	}
	se.EnhancedCode = ec
	se.Message = text
	return se
}
