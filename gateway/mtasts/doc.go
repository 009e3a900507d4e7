// Package mtasts implements the sending side of SMTP MTA Strict Transport
// Security (RFC 8461) for gateway/delivery: a recipient domain that
// publishes a TXT record at _mta-sts.<domain> (§3.1) and a policy at
// https://mta-sts.<domain>/.well-known/mta-sts.txt (§3.2, §3.3) in mode
// "enforce" gets mail only through MX hosts its policy names (§4.1), over
// TLS with a certificate valid for the MX host name (§4.2), never in
// plaintext (§5). Mode "testing" and "none" change nothing (no TLSRPT).
//
// Policies are cached in memory for their max_age (§5.1): a cached policy
// is used while the TXT record's id is unchanged, and also when the TXT
// lookup or the policy fetch fails, so that an attacker who blocks either
// cannot downgrade a domain seen before. A domain never seen is fetched
// on first delivery; an attacker on the path at that moment can suppress
// its policy (§10.2: trust on first use). The cache does not survive a
// restart.
//
// The policy fetch goes through internal/netguard (public addresses only,
// no proxy) with WebPKI verification of mta-sts.<domain>, no redirects
// (§3.3), a 64 KiB body limit and a timeout.
package mtasts
