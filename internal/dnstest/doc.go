// Package dnstest is an in-process authoritative DNS server for tests
// (github.com/miekg/dns) on 127.0.0.1, UDP and TCP on one port.
//
// Records (A, SRV, TXT, MX, or any zone-file line) can be set and removed
// while it runs. Answers carry RA (Go's resolver takes an empty answer
// without RA or AA for a lame referral) and AA; the AD bit (RFC 4035 §3.2.3,
// what a validating resolver sets) is off unless SetAD turns it on, globally
// or per name, so tests can play a validating resolver. Fail injects, per
// name, SERVFAIL, a dropped query (the client times out), REFUSED or a
// truncated UDP answer (TC, RFC 1035 §4.2.1: the client must retry over
// TCP). UDP answers larger than the client's buffer (512 bytes, or its EDNS0
// size) are truncated as a real server does.
//
// A CNAME is followed as a recursive resolver does (the CNAME and the
// target's records in the answer). Names are matched case-insensitively
// (RFC 4343); a name with no records of any type is NXDOMAIN, a name with
// records of other types NODATA.
package dnstest
