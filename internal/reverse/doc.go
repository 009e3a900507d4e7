// Package reverse is the reverse path's glue: an XMPP user writes to a
// puppet JID (bob\40gmail.com@mail.example.org) and Bob gets standard mail.
//
// [Reverse.Handle] is the component's message handler. It reads the stanza
// on the link's Serve goroutine (cheaply, within limits), authorises the
// sender (only bare JIDs whose domain is a local mail domain; the mail's
// From is always the directory address of that bare JID, never anything in
// the stanza) and applies per-sender limits; workers then decrypt OX
// (XEP-0373/0374: integrity-protected only, signature checked against the
// sender's published key, bounded), build the mail with gateway/compose,
// encrypt it as PGP/MIME (RFC 3156) when the recipient has a key, DKIM-sign
// it (RFC 6376) and spool it for the SMTP target. Only after the spool has
// it does the sender get an XEP-0184 receipt, if asked for; any refusal is
// an XMPP error reply (RFC 6120 §8.3) whose text says why.
//
// Duplicates: a client that resends a message (XEP-0198 resumption failed,
// no receipt came) must not make a second mail. A message is known by the
// sender's bare JID, the puppet and its XEP-0359 <origin-id/>, or else its
// stanza id and content ([DedupConfig]); a copy of a message spooled in
// the last 24 hours gets the receipt again and nothing else, a copy that
// arrives while the first is processed waits for its outcome. The keys go
// to an append-only file, fsynced before the receipt, and into the
// envelope (ParamDedup). A message without any id is always delivered.
//
// Threading: the forward path records, for each mail it forwards, the
// opaque XEP-0201 thread id it derived and the mail's Message-ID
// ([Threads]); a reply carrying that <thread/> gets In-Reply-To and
// References (RFC 5322 §3.6.4); a reply without a thread falls back to the
// last mail from that puppet to that user.
//
// [NoticeTarget] is the queue target for DSNs to local users: it parses the
// RFC 3464 report ([ParseDSN]) and tells the sender, in a chat message from
// the failed recipient's puppet JID, why the mail did not arrive.
//
// The gateway cannot sign as the user: PGP/MIME mail is signed by the
// gateway's domain key, and the user's own OX key travels in the Autocrypt
// header so legacy peers can answer encrypted.
package reverse
