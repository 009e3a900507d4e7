// Package relay is the glue of relay mode (issue 9, BRIEF user 3): a small
// site whose ISP blocks port 25 runs Passerelle as a relay *client*; a
// public Passerelle, its *hub*, is the site's MX and its outbound relay,
// and the two exchange the site's mail over XMPP in the peer route's
// transfers (bridge/peermsg, docs/urn-passerelle-peer-0.md) — the ODMR/ATRN
// idea (RFC 2645) with XMPP as the dial-out link.
//
// Credentials: the client logs in to the hub's XMPP server as an ordinary
// account over c2s (outbound 5222 only, through any NAT or port block),
// so the server authenticates it and stamps the from of every stanza; the
// hub's component knows its clients by bare JID from configuration, with
// the domains each holds and the fingerprint of each client's gateway key
// pinned. No DNS record beyond MX → hub is needed at the small site.
//
// Hub ([Hub]): mail for a client's domain is sealed at end of DATA to the
// client's key (signed by the hub's domain key) before the spool, so the
// hub's spool holds only ciphertext of it; the queue pushes it with
// peer.Target to the client's full JID when the client has said hello,
// and retries otherwise (DSN on expiry). Transfers from a client are
// accepted only for envelope senders in its own domains, spooled for MX
// delivery and acknowledged after fsync; their DSNs go back to the client.
//
// Client ([Client]): after each (re)connection it sends <hello/> (its key
// for the hub's, both checked against the pinned fingerprints); inbound
// transfers go through peer.Receiver (verify, spool with fsync, ack) to
// the site's MTA; mail the MTA submits is DKIM-signed here (the hub never
// holds the key), sealed to the hub and sent by peer.Target, which leaves
// the spool only on the hub's durable ack.
package relay
