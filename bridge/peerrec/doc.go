// Package peerrec is the published gateway record of the peer route: a DNS
// TXT record at _passerelle.<domain> saying "this domain takes mail over
// XMPP federation", and a resolver that looks it up.
//
//	_passerelle.b.example. 3600 IN TXT "v=passerelle1; jid=mail.b.example; fp=<hex>; policy=strict; ttl=86400"
//
// The syntax (docs/passerelle-peer-record.md) is a tag list in the style of
// DKIM (RFC 6376 §3.2): "v" first and exactly "passerelle1"; jid, fp, policy
// and ttl required; unknown tags ignored (forward compatibility); a repeated
// tag is an error. A TXT record's character-strings are concatenated
// without separator (RFC 7208 §3.3); among the TXT records at the name,
// those not starting with "v=passerelle1" are ignored and more than one that
// does is an error (RFC 7208 §4.5).
//
// The Resolver asks one configured resolver (a validating one, for DNSSEC
// trust) with the AD bit set in the query (RFC 6840 §5.7), retries over TCP
// on truncation (RFC 7766 §5), reports whether the answer had AD (RFC 4035
// §3.2.3), caches positive answers for min(record ttl, DNS TTL) and
// negative ones (NXDOMAIN, no record, malformed record) for a configured
// time. SERVFAIL, REFUSED and timeouts are ErrTemporary and not cached.
package peerrec
