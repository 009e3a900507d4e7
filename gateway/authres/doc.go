// Package authres authenticates the author domain of incoming mail: it
// verifies DKIM signatures (RFC 6376, RFC 8463 Ed25519) and checks DMARC
// alignment of the RFC 5322 From domain (RFC 7489 §3.1, §6.6), and writes
// the result as an Authentication-Results header field (RFC 8601).
//
// What it does not do:
//   - SPF (RFC 7208): go-msgauth has no SPF implementation, so DMARC here
//     passes only through an aligned DKIM signature (RFC 7489 §4.2 allows
//     either). Mail that is only SPF-authenticated gets verdict fail when
//     its domain publishes DMARC, none otherwise; no "spf=" result is
//     written, as nothing was checked.
//   - ARC (RFC 8617): forwarded mail whose signatures a mailing list broke
//     is not rescued.
//   - DMARC reporting (rua/ruf) is not sent.
//
// The organizational domain (RFC 7489 §3.2) comes from the public suffix
// list compiled into golang.org/x/net/publicsuffix (already a dependency of
// the module); it is not refreshed at run time.
//
// All DNS goes through one TXT lookup function (Config.Resolver or
// Config.LookupTXT) bounded by a per-message timeout, so tests point it at a
// local server and a slow DNS server can only cost a temperror.
package authres
