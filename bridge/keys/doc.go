// Package keys manages the gateway's OpenPGP keys and discovers the keys of
// the people it writes to.
//
// It generates and stores the domain key and one key per puppet JID
// (XEP-0373 §4: user ID "xmpp:<JID>"), each puppet key certified by the
// domain key. Keys are RFC 4880 version 4 keys with an EdDSA Ed25519
// primary key (algorithm 22) and an ECDH Curve25519 subkey (algorithm 18),
// because GnuPG 2.2 cannot read RFC 9580 version 6 keys or algorithms 25/27.
// Version 6 keys are accepted when reading.
//
// Recipient keys come from Sources tried in order by a Resolver: a local
// Keyring of imported keys, the Web Key Directory
// (draft-koch-openpgp-webkey-service), Autocrypt Level 1 headers, and
// XEP-0373 PEP nodes (implemented elsewhere as a Source). Usable refuses
// revoked, expired, encryption-incapable and sub-2048-bit RSA keys.
//
// Every input is bounded: MaxKeyBytes per key block, MaxKeysPerBlock per
// import. WKD fetches go to hosts the recipient's domain names, so they
// dial through internal/netguard (NewWKDClient: public addresses only, no
// proxy, at most three https redirects).
package keys
