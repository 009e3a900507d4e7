// Package jidesc implements XEP-0106 (JID Escaping) for Passerelle's puppet
// JIDs: a remote email correspondent bob@gmail.com appears in XMPP as
// bob\40gmail.com@mail.example.org on the gateway's XEP-0114 component
// domain, and replying to that JID sends mail to Bob.
//
// mellium.im/xmpp/jid.Unescape (v0.22.0) corrupts \40 and can panic, so the
// transformation is written here and fuzzed (FuzzRoundTrip).
//
// Rules followed (XEP-0106 §3.2, §4):
//   - the ten characters space " & ' / : < > @ \ map to \20 \22 \26 \27 \2f
//     \3a \3c \3e \40 \5c (lowercase hex only);
//   - a backslash is escaped only when it is followed by one of those
//     sequences, so c:\net becomes c\3a\net but c:\5commas becomes
//     c\3a\5c5commas;
//   - a localpart may not begin or end with a space, so an escaped localpart
//     may not begin or end with \20.
//
// RFC 7622 §3.3 limits a localpart (after escaping) to 1023 octets and
// forbids the eight characters that escaping removes; everything else is
// left to PRECIS (mellium's jid.New), which also case-maps the localpart:
// puppet JIDs, and so the addresses read back from them, are lowercase.
package jidesc
