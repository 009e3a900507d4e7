// Package peermsg is the wire format of the peer route: mail between two
// Passerelle gateways over XMPP server-to-server federation
// (docs/urn-passerelle-peer-0.md, namespace urn:passerelle:peer:0).
//
// A transfer is an IQ set (RFC 6120 §8.2.3) from the sending component to
// the receiving one whose <mail/> child carries an OpenPGP message: an
// XEP-0373 <signcrypt/> addressed to the receiving component, signed by the
// sender's domain key and encrypted to the receiver's domain key. Its
// payload is an <envelope/>: the SMTP envelope (MAIL FROM, the RCPT TO list
// for the receiver's domains, ENVID, NOTIFY, ORCPT) and the full RFC 5322
// message as a urn:passerelle:mail:0 <mail/> element (inline or, for large
// mail, an XEP-0363/0454 upload), and optionally per-recipient end-to-end
// layers (<sealed/>). The receiver answers with an <ack/> only after the
// mail is on disk; that IQ result is the end-to-end acknowledgement.
//
// The package also holds the elements the component publishes: the
// XEP-0128 disco#info form and the <key/> IQ that serves the domain key.
package peermsg
