// Package xmpp is Passerelle's link to the XMPP server: an XEP-0114
// (Jabber Component Protocol) session, opened with mellium's
// component.NewSession over a TCP connection we dial ourselves, kept up by
// Run with exponential backoff, and an acknowledged Send.
//
// # Acknowledged send
//
// XEP-0198 stream management is not offered on component links, so a
// socket write proves nothing. Send writes the <message/> and then, on the
// same stream, an XEP-0199 ping IQ to the recipient's domain, and returns
// nil only when that IQ is answered (result or error). A server handles the
// stanzas of one stream in order (RFC 6120 §10.1), so the answer proves the
// message was routed; and a bounce of the message (a <message type='error'/>
// with the same id, RFC 6120 §8.3) arrives before it. Prosody 0.12 was
// observed to behave so (see the tests): for a local user the bounce, and
// for an offline user the storage, happen before the ping is answered.
//
// Bounces become *Error values; Error.Temporary classifies the RFC 6120
// §8.3.3 condition (see errors.go for the table and the reasons). Link
// failures (not connected, link lost, ack timeout) are temporary as well.
// A message whose ack was lost may have been delivered: the caller retries
// with the same stanza id and the recipient side de-duplicates.
//
// # Inbound stanzas
//
// Inbound <iq/> get/set requests are dispatched by payload name through a
// Mux (unknown ones get service-unavailable, RFC 6120 §8.4). Their payload
// is copied off the stream and they run on a small per-link worker pool
// (Config.IQWorkers, with Config.IQQueue waiting; past that the request is
// answered resource-constraint, type wait, at once), never on the Serve
// goroutine, which must stay free to read the answers to Send's ack pings;
// an IQ handler may call Send or IQ; one that blocks for long registers
// with HandleIQAsync and gets a goroutine of its own (at most MaxAsyncIQ). Inbound <message/> stanzas go to one MessageHandler with the
// whole element on the Serve goroutine: it must consume its input promptly
// and must not call Send (hand the work off instead).
package xmpp
