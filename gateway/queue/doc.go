// Package queue is Passerelle's durable spool, retry scheduler and bounce
// generator.
//
// # Spool
//
// A [Store] holds accepted messages until every recipient is delivered or
// has failed and been reported. [FileStore] is the embedded implementation,
// an append-only log:
//
//	<dir>/log/<n>.seg       log segments: put, update, remove and quarantine records
//	<dir>/body/<id>.<n>     bodies larger than 256 KiB (smaller ones are inline in the put record)
//	<dir>/env/<id>.json     envelopes of the older file-per-message format, imported at Recover
//	<dir>/tmp/              files being written, never read back
//	<dir>/quarantine/<id>/  damaged or set-aside entries, kept for the operator
//	<dir>/lock              flock(2) held while the store is open
//
// Every record carries a CRC-32C. [FileStore.Put] appends one record (the
// envelope with the size and SHA-256 of each body, and the small bodies)
// and returns nil only after an fsync that covers it has finished, so a 250
// reply is never given for mail that a crash could lose. Concurrent Puts,
// updates and removals share that fsync (group commit): what a file per
// message cost in file creations, renames and directory fsyncs is gone.
// A state change is a small record appended, not a rewrite. Segments are
// deleted oldest first once nothing live refers to them (a removal record
// must outlive the put it cancels); the few long-lived messages in the
// oldest segment are copied forward so it can go. [FileStore.Recover]
// replays the log: a torn record at a segment's end (a write a crash cut
// short, never acknowledged) is ignored; a damaged region elsewhere, and
// any message whose bodies do not check out, go to quarantine/ and are
// never deleted. A Put on a nearly full disk is refused (ErrSpoolFull)
// while a reserve remains for the state changes that free space.
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
