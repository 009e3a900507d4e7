// Package peer is the glue of the peer route (issue 8, BRIEF "peer"): mail
// between two Passerelle sites over XMPP server-to-server federation, in
// the wire format of bridge/peermsg (docs/urn-passerelle-peer-0.md).
//
// Sending: [Route] decides at RCPT for recipients outside the local
// domains (discovery through the domain's _passerelle record, the key the
// peer's component serves, the trust store), seals one transfer per
// message per peer domain before the spool ([Route.Seal], called by
// internal/forward), and [Target] sends it and completes only on the
// peer's durable acknowledgement, retrying with the same id.
//
// Receiving: [Receiver] answers transfers: it verifies the sending
// gateway (served key, the sender domain's record naming that gateway,
// trust), hands the mail to the local forward path (XMPP users, or the
// local MTA) which spools it (fsync), records the transfer id for
// duplicate suppression, and only then acknowledges.
//
// [Publisher] serves our side of discovery: the domain key over XMPP and
// the disco#info form.
package peer
