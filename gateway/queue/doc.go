// Package queue is Passerelle's durable spool, retry scheduler and bounce
// generator.
//
// # Spool
//
// A [Store] holds accepted messages until every recipient is delivered or
// has failed and been reported. [FileStore] is the embedded implementation:
//
//	<dir>/body/<id>.<n>     immutable message bodies, one per index n
//	<dir>/env/<id>.json     the envelope; its existence is the commit point
//	<dir>/tmp/              files being written, never read back
//	<dir>/quarantine/<id>/  damaged entries, kept for the operator
//	<dir>/lock              flock(2) held while the store is open
//
// [FileStore.Put] returns nil only after every body and the envelope are
// written, each file is fsynced and the directories are fsynced, so a 250
// reply is never given for mail that a crash could lose. The envelope records
// the size and SHA-256 of each body; [FileStore.Recover] moves any entry whose
// envelope or bodies do not check out to quarantine/ and never deletes it.
//
// # Scheduler
//
// [Queue] delivers each pending recipient through the [Target] registered for
// its route. Whether a failure is permanent is a property of the error
// ([Permanent], [IsPermanent]); unknown errors are temporary. Retries back off
// exponentially with jitter from [Config].RetryInitial to RetryMax, following
// the advice of RFC 5321 §4.5.4.1 (retry intervals of at least 30 minutes,
// give up after 4-5 days: [Config].Lifetime). Up to [Config].Workers
// messages are in delivery at once; the others wait in a heap by due time,
// and the earliest due starts first (first come, first served among equals).
//
// # Delivery status notifications
//
// On permanent failure or expiry the queue builds one RFC 3464
// multipart/report per pass (report-type=delivery-status), honouring the
// RFC 3461 NOTIFY, ORCPT and ENVID parameters, and spools it like any other
// message with a null reverse-path. No DSN is sent for a message with a null
// reverse-path or for a DSN (RFC 3461 §6.2, RFC 5321 §4.5.5). A DSN carries
// the original headers (text/rfc822-headers) only when the body is a plain
// RFC 5322 message, never when it is ciphertext.
package queue
