// Package peertrust decides whether a peer gateway's key is trusted for its
// domain, and keeps the durable store of pinned keys.
//
// Three modes, strongest first (docs/passerelle-peer-record.md, "Trust"):
//
//   - pinned: the operator put the fingerprint in the configuration; the
//     record and the key the peer serves must both match it, whatever DNS
//     or DNSSEC says.
//   - dnssec: the record is believed only if the answer carried the AD bit
//     of the configured validating resolver; the key follows the record,
//     so a DNSSEC-signed key change takes effect at once (and is logged).
//   - tofu: trust on first use. The first key seen is pinned with the
//     record's lifetime (ttl); each sighting of the same key extends that
//     lifetime to at least now+ttl. A different key seen before the pinned
//     lifetime ends is held (temporary failure, retried) with one alert,
//     and recorded as pending; `passerelle peers accept DOMAIN` makes the
//     pending key the pin. A different key seen after the lifetime ended
//     is re-pinned and logged: the publisher kept its promise (lowered ttl,
//     waited it out), and refusing would make every rotation a manual step
//     at every peer; an attacker able to present a new key then can also
//     present one at first contact, which TOFU accepts anyway.
//
// In every mode the key the peer's component serves must have the record's
// fingerprint, else the peer is refused: a DNS edit alone cannot redirect
// mail, nor can a component serving another key.
//
// The store is one JSON file written with internal/fsutil (temporary file,
// fsync, rename, fsync the directory), under an flock(2) on a lock file
// beside it for every read-modify-write, so the CLI (`passerelle peers`)
// and a running gateway can both change it. The gateway re-reads it when
// its identity (inode, size, mtime) changes, so a decision taken with the
// CLI applies to the next Check without a restart. A corrupt store is an
// error, never an empty one: forgetting pins would silently reset TOFU.
package peertrust
