package smtpd

import (
	"bytes"
	"strings"

	"go.uber.org/zap"
)

// Verbs handed to go-smtp; everything else is refused here, so go-smtp's own
// error counter never runs and MaxBadCommands is the only one that counts.
var knownVerbs = map[string]bool{
	"HELO": true, "EHLO": true, "MAIL": true, "RCPT": true, "DATA": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true,
	"HELP": true, "AUTH": true,
}

// Command line allowances on top of MaxLineLength (RFC 5321 §4.5.3.1.4:
// extensions may raise the 512-octet limit). MAIL: SIZE adds 14 (RFC 1870
// §3), RET and ENVID 100 (RFC 3461 §4); BODY=8BITMIME and SMTPUTF8 state
// no allowance, their keywords are counted anyway (26). RCPT: NOTIFY and
// ORCPT add 500 (RFC 3461 §4).
const (
	mailAllowance         = 14 + 26
	dsnMailAllowance      = 100
	dsnRcptAllowance      = 500
	maxExtensionAllowance = dsnRcptAllowance
	// saslLineLength is a SASL response line (RFC 4954 §4: 12288 octets).
	saslLineLength = 12288
)

// commandLimit is the longest line, CRLF included, the verb may send.
func (c *conn) commandLimit(verb string) int {
	n := c.srv.cfg.MaxLineLength
	switch {
	case verb == "MAIL":
		n += mailAllowance
		if c.srv.cfg.EnableDSN {
			n += dsnMailAllowance
		}
	case verb == "RCPT" && c.srv.cfg.EnableDSN:
		n += dsnRcptAllowance
	}
	return n
}

// Verbs allowed between STARTTLS and the new EHLO (RFC 3207 §4.2).
var beforeEHLO = map[string]bool{"EHLO": true, "HELO": true, "NOOP": true, "RSET": true, "QUIT": true}

// commit accounts for a checked line and reports whether go-smtp gets it.
func (c *conn) commit(line []byte, full bool) bool {
	switch c.mode {
	case modeData:
		if full && c.atStart && len(line) == 3 && line[0] == '.' {
			c.mode, c.lastVerb = modeCommand, ""
		}
		c.atStart = full
		c.dataLine += len(line)
		if c.dataLine > c.srv.cfg.MaxDataLineLength {
			c.longLine = true // refused at end of DATA, RFC 5321 §4.5.3.1.6
		}
		if full {
			c.dataLine = 0
		}
		return true
	case modeAuth:
		c.trace("C: <sasl response>")
		c.mode = modeCommand
		return true
	}
	return c.command(string(line[:len(line)-2]))
}

func (c *conn) command(text string) bool {
	c.traceCommand(text)
	verb, _, _ := strings.Cut(strings.ToUpper(text), " ")
	switch {
	case len(text)+2 > c.commandLimit(verb):
		c.fail(lineTooLong, "command line too long")
		return false
	case hasPrefixFold(text, "STARTTLS"): // go-smtp's own test, so it never sees one
		c.startTLS(text)
		return false
	case verb == "BDAT":
		c.fail(lineBDAT, "BDAT")
		return false
	case !knownVerbs[verb]:
		c.reply(lineUnknownCmd)
		return false
	case c.needEHLO && !beforeEHLO[verb]:
		c.reply(lineNeedEHLO)
		return false
	}
	if verb == "EHLO" || verb == "HELO" {
		c.needEHLO = false
	}
	c.lastVerb, c.lastLine = verb, text
	return true
}

func (c *conn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return 0, errClosed
	}
	if !c.greeted {
		c.greeted = true
		if c.earlyTalker() {
			return 0, errClosed
		}
	}
	c.wbuf = append(c.wbuf, p...)
	for !c.dead.Load() {
		i := bytes.Index(c.wbuf, []byte("\r\n"))
		if i < 0 {
			break
		}
		line := string(c.wbuf[:i])
		c.wbuf = append(c.wbuf[:0], c.wbuf[i+2:]...)
		c.reply(line)
	}
	return len(p), nil
}

// reply filters and sends one reply line, from go-smtp or from this package.
func (c *conn) reply(line string) {
	if c.lastVerb == "EHLO" && (line == "250-CHUNKING" || (line == "250-STARTTLS" && c.tls != nil)) {
		return // RFC 3030 not offered; RFC 3207 §4.2: no STARTTLS after TLS
	}
	final := len(line) < 4 || line[3] == ' '
	if final && c.lastVerb == "DATA" && c.waiting(probeWindow) {
		c.fail(lineDataBefore354, "data sent before 354")
		return
	}
	c.emit(line)
	if !final {
		return
	}
	c.lastVerb = ""
	if class := replyClass(line); class != "" {
		c.srv.cfg.Metrics.Reply(c.srv.cfg.Mode.String(), class)
	}
	switch {
	case strings.HasPrefix(line, "354"):
		c.mode, c.atStart, c.dataLine, c.longLine = modeData, true, 0, false
	case strings.HasPrefix(line, "334"):
		c.mode = modeAuth
	case line >= "500" && line < "505":
		c.bad++
		if c.bad >= c.srv.cfg.MaxBadCommands {
			c.fail(lineTooManyBad, "too many bad commands")
			return
		}
	}
	if c.dropAfter != "" {
		c.fail(c.dropAfter, "dropped after reply")
	}
}

// emit writes one line to the client.
func (c *conn) emit(line string) {
	c.trace("S: " + line)
	_ = c.raw.SetWriteDeadline(timeAfter(c.srv.cfg.WriteTimeout))
	if _, err := c.rw.Write([]byte(line + "\r\n")); err != nil {
		c.log.Debug("write failed", zap.Error(err))
		c.kill()
	}
}

func (c *conn) earlyTalker() bool {
	d := c.srv.cfg.GreetDelay
	if d <= 0 || !c.waiting(d) {
		return false
	}
	c.fail(lineEarlyTalker, "client talked before greeting")
	return true
}

func (c *conn) trace(msg string) {
	if c.log.Core().Enabled(zap.DebugLevel) {
		c.log.Debug(msg)
	}
}

// traceCommand logs a command without AUTH credentials.
func (c *conn) traceCommand(text string) {
	if hasPrefixFold(text, "AUTH ") {
		if f := strings.Fields(text); len(f) > 2 {
			text = f[0] + " " + f[1] + " <redacted>"
		}
	}
	c.trace("C: " + text)
}
