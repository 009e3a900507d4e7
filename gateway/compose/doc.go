// Package compose builds the RFC 5322 message the gateway sends on the
// reverse path: an XMPP user writes to a puppet JID and the recipient gets
// standard mail, optionally PGP/MIME-encrypted.
//
// [Compose] takes plain values: the directory address of the authenticated
// XMPP sender (always the From, whatever the content says), the puppet's
// email address, subject, text, threading and, when the client sent one, a
// full RFC 5322 message from <mail xmlns='urn:passerelle:mail:0'>. That
// embedded message keeps its body, HTML and attachments; its header fields
// are sanitised (see [Compose]). [EncryptPGPMIME] wraps a composed message
// in RFC 3156 PGP/MIME with protected headers.
//
// The envelope (MAIL FROM, RCPT TO) is never derived from this package's
// output: the recipient set comes from the XMPP addressing. Cc is copied
// from an embedded message for display only.
//
// Standards followed:
//   - RFC 5322: header fields (§3.6), line length (§2.1.1: 998 octets),
//     CRLF line endings, msg-id (§3.6.4).
//   - RFC 2045: Content-Transfer-Encoding 7bit, quoted-printable, base64
//     (§6); RFC 2046: multipart boundaries (§5.1.1), canonical CRLF text
//     (§4.1.1), message/* encodings (§5.2.1); RFC 2047: encoded words in
//     Subject and display names; RFC 2231 parameters through mime.
//   - RFC 3156: PGP/MIME multipart/encrypted (§4), encrypted and signed in
//     one OpenPGP message (§6.2).
//   - RFC 9788 (Header Protection for Cryptographically Protected Email):
//     the cryptographic payload carries the header fields (hp="cipher",
//     HP-Outer), the outer Subject is obscured to "[...]"; the older
//     protected-headers="v1" parameter of
//     draft-autocrypt-lamps-protected-headers is set too, for Thunderbird
//     and K-9.
//   - Autocrypt Level 1 §2.1: the Autocrypt header for the sender's key.
//
// Every line of the output ends in CRLF; there is no bare CR or LF
// anywhere (see FuzzCompose). Dot-stuffing is the SMTP client's job.
package compose
