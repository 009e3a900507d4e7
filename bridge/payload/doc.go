// Package payload builds and parses the XEP-0373 <payload/> that Passerelle
// puts inside an OX <signcrypt/> element. Encryption and signing are done
// by another package; this one only produces and consumes the XML.
//
// A payload carries:
//   - <subject/>, <body/> and <thread/> in the jabber:client namespace
//     (RFC 6120/6121, XEP-0201), so any OX client shows the mail;
//   - <mail xmlns='urn:passerelle:mail:0'/> with the full original RFC 5322
//     message, byte-exact. The message travels base64-encoded because a CR
//     cannot cross an XMPP server as character data: XML parsers normalise
//     it to LF (XML 1.0 §2.11), which would break DKIM and PGP/MIME
//     signatures (RFC 2045-2047, RFC 2231 encodings survive untouched).
//   - or, for mail too large for a stanza, <external/> pointing at an
//     AES-256-GCM blob uploaded with HTTP File Upload (XEP-0363), keyed as
//     in XEP-0454: a 32-byte key, a 12-byte IV, the 16-byte tag appended;
//     External.AESGCMURL gives the same blob as an XEP-0454 aesgcm:// link
//     for the text rendition.
//
// The namespace is specified in docs/urn-passerelle-mail-0.md. The element
// only ever appears inside the encrypted <signcrypt/>.
package payload
