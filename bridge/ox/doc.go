// Package ox builds and opens XEP-0373 (OpenPGP for XMPP) envelopes as
// used by XEP-0374 (OpenPGP for XMPP Instant Messaging).
//
// Seal wraps a payload in a <signcrypt xmlns='urn:xmpp:openpgp:0'> element
// (§3.1: <to/>, <time/>, <rpad/>, <payload/>), signs it with the sender's
// key and encrypts it to the recipient's, producing a raw (not armored)
// RFC 4880 message that Element base64-encodes into
// <openpgp xmlns='urn:xmpp:openpgp:0'>. Messages to version 4 keys use
// SEIPD version 1 with an MDC, the only integrity-protected format GnuPG
// 2.2 reads; SEIPD version 2 (RFC 9580 AEAD) is used only when every
// recipient key advertises it.
//
// Open decrypts, refuses anything that is not integrity protected, bounds
// the decompressed size, reads the body to EOF so the signature is checked,
// requires a valid signature by the expected sender's key, and checks the
// <to/> and <time/> elements before handing back the payload.
package ox
