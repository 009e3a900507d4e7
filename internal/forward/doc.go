// Package forward is the forward path's glue: it decides each SMTP recipient
// at RCPT time (policy, then the recipient's published OpenPGP key), turns an
// accepted message into one XEP-0373 signcrypt per recipient, encrypted before
// it is spooled, and delivers spooled messages over the XEP-0114 component.
//
// It implements gateway/smtpd's Router and Sink and gateway/queue's Target,
// and consumes bridge packages through small interfaces, so gateway and
// bridge never import each other. Wire formats: XEP-0373 §3-4, XEP-0374,
// XEP-0380 (EME), XEP-0334 (store hint), XEP-0359 (origin-id).
//
// Because the sender's puppet key signs whatever the From field says, the
// sender is authenticated first (authres.go: DKIM/DMARC through a Verifier,
// RFC 8601 Authentication-Results, RFC 7489 §6.6.4 for refusals).
package forward
