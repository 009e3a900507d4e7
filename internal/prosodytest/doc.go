// Package prosodytest is the test ground for Passerelle's end-to-end tests:
// it runs a private Prosody 0.12 instance on loopback with a generated
// configuration, certificate and accounts, and logs in as its users.
//
// Start creates a temporary directory holding a self-signed P-256
// certificate (the VirtualHost and component names as SANs), a Prosody
// configuration with free ports for client (RFC 6120), component (XEP-0114)
// and HTTP (XEP-0363 http_file_share) links, registers the requested users
// with prosodyctl and starts `prosody -F`. The server is stopped by pid on
// t.Cleanup; Stop and Restart let a test take it down and bring it back on
// the same ports.
//
// Client dials the c2s port itself (mellium's DialClientSession does DNS SRV
// lookups), negotiates STARTTLS against the test CA, authenticates with
// SCRAM-SHA-1 (Prosody offers no SCRAM-SHA-256) and binds a resource.
//
// StartFederation runs several servers that federate over s2s (RFC 6120
// §3.2, dialback XEP-0220 with s2s_secure_auth = false for the self-signed
// certificates), each on its own loopback address (127.0.0.2, 127.0.0.3, ...),
// resolving peers through lua-unbound forwarded to an internal/dnstest
// server only (resolvconf = false, hoststxt = false). PublishDNS puts the
// SRV and A records for each server's domain and component in that server:
// a component sends to remote domains with from=its own name, so the
// receiving server's dialback must resolve the component name too.
// DialComponent logs in as the XEP-0114 component.
//
// A missing prosody binary is a test failure telling the reader to run
// `make deps`, never a silent skip.
package prosodytest
