// Package dane authenticates SMTP servers with DNSSEC-signed TLSA records
// (RFC 7672, "SMTP Security via Opportunistic DANE TLS", on RFC 6698 and
// RFC 7671).
//
// A [Resolver] asks a validating resolver it trusts (on loopback, as for
// the peer route's trust = "dnssec") and believes its AD bit: it says
// whether a domain's MX answer is DNSSEC-secure and returns the TLSA
// records of an MX host. [Verify] checks a TLS connection against them:
// DANE-EE(3) matches the server's own certificate or public key, names and
// dates ignored (RFC 7672 §3.1.1); DANE-TA(2) matches a certificate of the
// chain the server sent, which must then issue the server's certificate
// for the MX host name (§3.1.2). PKIX-TA(0) and PKIX-EE(1) are not used
// for SMTP (§3.1.3): records of those usages are unusable and ignored.
//
// How the delivery path applies it (gateway/delivery): only for MX hosts
// of a domain whose MX answer is secure. A host whose TLSA lookup fails is
// not used (a temporary failure, §2.2); a host with usable records gets
// TLS that must verify against them, never a plaintext fallback; secure
// records none of which is usable still require TLS, unauthenticated; no
// records, or an insecure answer: the domain's ordinary TLS policy.
package dane
