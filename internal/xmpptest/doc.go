// Package xmpptest holds what the private test servers (internal/prosodytest,
// internal/ejabberdtest) share: a self-signed certificate for their names,
// and the two ways of logging in to them without DNS — as a user over c2s
// (RFC 6120: STARTTLS against that certificate, SCRAM-SHA-1, resource
// binding, initial presence per RFC 6121 §4.2) and as an external component
// (XEP-0114).
package xmpptest
