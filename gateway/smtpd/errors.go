package smtpd

import (
	"errors"
	"strings"

	"github.com/emersion/go-smtp"
)

// Kind is a class of failure a Router, Sink or Authenticator reports. A Kind
// is an error itself: return it directly or wrap it with fmt.Errorf("...: %w").
type Kind int

const (
	TemporaryFailure   Kind = iota + 1 // 451 4.3.0
	NoSuchUser                         // 550 5.1.1
	RelayDenied                        // 550 5.7.1
	EncryptionRequired                 // 550 5.7.1: no usable key for the recipient
	KeyLookupTemporary                 // 451 4.7.0: key discovery failed, retry
	StorageFull                        // 452 4.3.1
	TooBig                             // 552 5.3.4
	PolicyRejected                     // 550 5.7.1
	RateLimited                        // 451 4.7.1
	AuthFailed                         // 535 5.7.8
	AuthTemporary                      // 454 4.7.0
	NoMemory                           // 452 4.3.1: the DATA memory budget is spent
)

var kindReplies = map[Kind]*smtp.SMTPError{
	TemporaryFailure:   reply(451, 4, 3, 0, "Temporary local problem, please try again later"),
	NoSuchUser:         reply(550, 5, 1, 1, "No such user here"),
	RelayDenied:        reply(550, 5, 7, 1, "Relaying denied"),
	EncryptionRequired: reply(550, 5, 7, 1, "Recipient requires encryption and has no usable key"),
	KeyLookupTemporary: reply(451, 4, 7, 0, "Recipient key lookup failed, please try again later"),
	StorageFull:        reply(452, 4, 3, 1, "Insufficient system storage, please try again later"),
	TooBig:             reply(552, 5, 3, 4, "Message size exceeds fixed limit"),
	PolicyRejected:     reply(550, 5, 7, 1, "Rejected by local policy"),
	RateLimited:        reply(451, 4, 7, 1, "Rate limit exceeded, please try again later"),
	AuthFailed:         reply(535, 5, 7, 8, "Authentication credentials invalid"),
	AuthTemporary:      reply(454, 4, 7, 0, "Temporary authentication failure"),
	NoMemory:           reply(452, 4, 3, 1, "Insufficient system resources, please try again later"),
}

// errUnknown is the reply for every error this package does not recognise:
// the internal text never reaches the wire.
var errUnknown = kindReplies[TemporaryFailure]

func (k Kind) Error() string {
	if r, ok := kindReplies[k]; ok {
		return "smtpd: " + strings.ToLower(r.Message)
	}
	return "smtpd: unknown failure"
}

// Reject is an explicit reply chosen by a Router or Sink. Code must be 4xx or
// 5xx and Enhanced of the same class (RFC 3463), else the generic 451 4.3.0
// is sent; Msg is sent to the client, so keep internals out of it.
type Reject struct {
	Code     int
	Enhanced [3]int
	Msg      string
}

func (r *Reject) Error() string { return "smtpd: rejected: " + r.Msg }

// Replies this package sends on its own behalf.
var (
	errAuthRequired   = reply(530, 5, 7, 0, "Authentication required")
	errAuthNeedsTLS   = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthIdentity   = reply(535, 5, 7, 8, "Authorization identity must match authentication identity")
	errAuthMalformed  = reply(501, 5, 5, 2, "Malformed authentication exchange")
	errAuthNotOffered = reply(502, 5, 5, 1, "Authentication not available")
	errAuthMechanism  = reply(504, 5, 5, 4, "Unsupported authentication mechanism")
	errNeedSMTPUTF8   = reply(553, 5, 6, 7, "Non-ASCII address requires the SMTPUTF8 parameter")
	errRcptSyntax     = reply(553, 5, 1, 3, "Bad destination mailbox address syntax")
	errMailSyntax     = reply(553, 5, 1, 7, "Bad sender mailbox address syntax")
	errQuoted         = reply(553, 5, 1, 3, "Quoted local parts are not accepted")
	errSourceRoute    = reply(550, 5, 7, 1, "Source routes are not accepted")
	errAddrLiteral    = reply(550, 5, 7, 1, "Address literals are not accepted")
	errRelaySyntax    = reply(550, 5, 7, 1, "Relaying denied: '%', '!' and '@' are not accepted in local parts")
	errDataRead       = reply(451, 4, 3, 0, "Error reading message data")
	// RFC 5321 §4.5.3.1.6; 5.6.0: the content, not the command, is at fault.
	errDataLineTooLong = reply(554, 5, 6, 0, "Message has a text line longer than allowed (RFC 5321 4.5.3.1.6)")
)

// Lines the connection layer writes itself, before closing where noted.
const (
	lineBareCRLF       = "554 5.5.2 bare CR or LF not allowed (RFC 5321 §2.3.8)" // closes
	lineNUL            = "554 5.5.2 NUL not allowed"                             // closes
	lineTooLong        = "500 5.5.2 line too long"                               // closes
	lineEarlyTalker    = "554 5.5.0 no talking before greeting"                  // closes
	lineDataBefore354  = "554 5.5.0 data sent before 354"                        // closes
	lineTLSInjection   = "554 5.5.0 data sent before TLS handshake"              // closes
	lineBDAT           = "502 5.5.1 CHUNKING is not offered"                     // closes
	lineTooManyBad     = "421 4.7.0 too many errors, closing connection"         // closes
	lineTooManyAuth    = "421 4.7.0 too many authentication failures"            // closes
	lineTooManyLimited = "421 4.7.0 rate limit exceeded, closing connection"     // closes
	lineIdle           = "421 4.4.2 idle timeout, closing connection"            // closes
	lineShutdown       = "421 4.3.2 service shutting down"                       // closes
	linePerIP          = "421 4.7.0 too many connections from your address"      // closes
	lineBusy           = "421 4.3.2 too many connections, try again later"       // closes
	lineUnknownCmd     = "500 5.5.2 command not recognized"
	lineNeedEHLO       = "503 5.5.1 EHLO required after STARTTLS"
	lineTLSArgs        = "501 5.5.4 STARTTLS takes no parameters"
	lineNoTLS          = "502 5.5.1 TLS not available"
	lineTLSActive      = "503 5.5.1 TLS already active"
	lineTLSReady       = "220 2.0.0 ready to start TLS"
)

func reply(code, class, subject, detail int, msg string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{class, subject, detail}, Message: msg}
}

// SMTPError maps any error to the reply sent on the wire. It is the only
// place where an error becomes an SMTP code: go-smtp recognises only a bare
// *smtp.SMTPError and would send err.Error() verbatim otherwise. Unknown
// errors become 451 4.3.0 with a generic text. nil stays nil.
func SMTPError(err error) *smtp.SMTPError {
	if err == nil {
		return nil
	}
	var rej *Reject
	if errors.As(err, &rej) {
		return fromReject(rej)
	}
	var kind Kind
	if errors.As(err, &kind) {
		if r, ok := kindReplies[kind]; ok {
			return r
		}
		return errUnknown
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && validReply(se.Code, se.EnhancedCode) {
		return se
	}
	return errUnknown
}

func fromReject(r *Reject) *smtp.SMTPError {
	ec := smtp.EnhancedCode(r.Enhanced)
	if ec == smtp.EnhancedCodeNotSet {
		ec = smtp.EnhancedCode{r.Code / 100, 0, 0}
	}
	msg := sanitize(r.Msg)
	if !validReply(r.Code, ec) || msg == "" {
		return errUnknown
	}
	return &smtp.SMTPError{Code: r.Code, EnhancedCode: ec, Message: msg}
}

func validReply(code int, ec smtp.EnhancedCode) bool {
	class := code / 100
	return (class == 4 || class == 5) && code <= 599 && ec[0] == class &&
		ec[1] >= 0 && ec[1] <= 999 && ec[2] >= 0 && ec[2] <= 999
}

// sanitize keeps printable ASCII only and bounds the length, so a reply
// never carries line breaks or bytes a client could misread.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 200 {
			break
		}
		if r >= ' ' && r <= '~' {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
