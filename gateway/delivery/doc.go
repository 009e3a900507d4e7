// Package delivery sends mail over SMTP to other mail systems: delivery
// status notifications for remote senders and the reverse path (XMPP users
// writing to people on email). [Target] implements the queue's Target, one
// recipient per call.
//
// # Routing
//
// Without a smarthost, the recipient domain's MX records are looked up and
// tried in order of preference, each host's addresses in turn (RFC 5321
// §5.1). A domain without MX records is its own implicit MX. A null MX
// (RFC 7505: a single MX "." of preference 0) fails permanently with 5.1.10;
// a domain that does not exist fails permanently; DNS failures such as
// SERVFAIL and timeouts are temporary. Loopback, private and link-local
// addresses found through DNS are skipped unless [Config].AllowPrivateAddrs
// is set. With a [Smarthost], every message goes there instead, over
// implicit TLS or STARTTLS, authenticated with AUTH PLAIN or LOGIN
// (RFC 4954) only once TLS is up.
//
// # TLS
//
// Each recipient domain gets a [TLSLevel] from [Config].TLSPolicy, in
// Postfix's vocabulary (smtp_tls_security_level): at TLSMay, the default,
// STARTTLS (RFC 3207) is used whenever a host offers it, certificates are
// not checked, and if the handshake fails the host is tried again in
// plaintext; TLSNone never starts TLS; TLSEncrypt requires TLS and never
// falls back to plaintext (a missing STARTTLS is 4.7.10, a failed handshake
// 4.7.5, both temporary: the queue retries and bounces at expiry);
// TLSVerify also verifies the certificate for the MX host name. TLS 1.2 is
// the minimum at every level (RFC 8996). [TLSPolicies] is the static
// policy (Postfix smtp_tls_policy_maps), with a Dynamic policy (package
// gateway/mtasts, RFC 8461) for domains without an entry; the hook is also
// the seam for DANE (RFC 7672): a policy can restrict the MX hosts and
// replace the certificate check.
//
// # Replies
//
// A 5xx reply to RCPT or DATA is a permanent failure and a 4xx reply or a
// network error a temporary one; both carry the remote reply as a
// queue.Diagnostic for the DSN. Failures before RCPT (connection, greeting,
// EHLO, TLS, MAIL) move on to the next host. A host that advertises a SIZE
// (RFC 1870) smaller than the message fails it permanently with 5.3.4.
// Timeouts default to the values of RFC 5321 §4.5.3.2; retries are the
// queue's job (RFC 5321 §4.5.4.1).
//
// Message bodies are streamed: the body is read at most once per attempt,
// during DATA, and dot-stuffed by the SMTP client (RFC 5321 §4.5.2).
package delivery
