// Package smtpd is Passerelle's hardened SMTP intake, built on
// github.com/emersion/go-smtp.
//
// It runs in one of two modes: MX (port 25: unauthenticated, mail only for
// recipients the Router accepts) and Submission (STARTTLS and AUTH required
// before MAIL). It implements, or enforces, these specifications:
//
//   - RFC 5321 SMTP, including the §2.3.8 rule that CR and LF appear only
//     together as CRLF, and the §4.5.3.1 size limits
//   - RFC 3207 STARTTLS (performed by this package, not by go-smtp, so the
//     strict line reader also guards the encrypted session)
//   - RFC 4954 AUTH (PLAIN, LOGIN; only after TLS)
//   - RFC 6531 SMTPUTF8 and RFC 6152 8BITMIME
//   - RFC 1870 SIZE, RFC 2920 PIPELINING
//   - RFC 3030 CHUNKING is NOT offered: go-smtp advertises it unconditionally,
//     this package removes it from the EHLO reply and refuses BDAT
//   - RFC 3463 enhanced status codes; errors.go is the one place codes are chosen
//
// # SMTP smuggling
//
// Every accepted connection is wrapped in a strict reader (conn.go,
// strict.go) that sits between the socket (or the TLS layer) and go-smtp:
//
//   - any bare CR, bare LF or NUL, in commands or in DATA, is answered with
//     554 5.5.2 and the connection is closed; go-smtp only ever sees the
//     bytes before the offending line, so it can never see a second
//     end-of-data marker that another MTA would read differently;
//   - go-smtp receives at most one line per Read, so its bufio never holds
//     bytes past the current line: bytes already waiting when DATA is
//     answered (data sent before 354) or when STARTTLS is acknowledged
//     (command injection, CVE-2011-0411) are detected and refused;
//   - with Config.GreetDelay set, a client that talks before the greeting is
//     refused (554 5.5.0).
//
// The message handed to the Sink is exactly what the client sent, dot
// unstuffed; Envelope.Received carries the trace header (RFC 5321 §4.4)
// that the consumer prepends.
package smtpd
