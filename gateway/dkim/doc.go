// Package dkim signs outgoing mail for the sender's domain with DKIM
// (RFC 6376), using RSA-SHA256 or Ed25519-SHA256 (RFC 8463) keys.
//
// A domain may have several keys (several [DomainConfig] entries with the
// same Domain): RFC 8463 §5 suggests signing with both an Ed25519 and an
// RSA key while verifiers catch up, and each key adds one signature.
//
// Signatures use relaxed/relaxed canonicalization (RFC 6376 §3.4) and sign
// the header fields listed in [DefaultHeaders]; From is listed twice
// ("oversigned", RFC 6376 §8.15) so that a second From added in transit
// breaks the signature. Fields named in h= but absent from the message are
// oversigned the same way: adding them later fails verification.
//
// [DNSRecord] prints the TXT record to publish at
// selector._domainkey.domain (RFC 6376 §3.6.1, §3.6.2.2).
package dkim
