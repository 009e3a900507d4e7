// Package netguard decides which addresses the gateway may connect to when
// a remote party chose the destination: an upload URL in a user's message,
// a WKD host and its redirects, an MX host from DNS, an MTA-STS policy
// host. It refuses everything that is not public unicast (RFC 6890 special
// purpose blocks: loopback, RFC 1918 private, RFC 6598 shared/CGNAT, link
// local, RFC 4193 ULA, multicast, unspecified, documentation, benchmarking,
// reserved) unless the operator allows a network explicitly.
//
// The check runs as [net.Dialer].Control, that is on the address actually
// dialled after name resolution, so a host name that resolves to a public
// address when checked and to a private one when connecting (DNS
// rebinding) is refused too. IPv4-mapped, NAT64 (RFC 6052 well-known
// prefix) and 6to4 addresses are judged by the IPv4 address they embed.
//
// [Guard.HTTPClient] builds an HTTP client around that dialer for fetches
// of party-chosen URLs: no proxy from the environment, https only (also
// for redirects), a bounded number of redirects, bounded time.
//
// It is a low-level package: it imports no other Passerelle package.
package netguard
