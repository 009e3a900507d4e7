// Package natsstore is a [queue.SharedStore] on NATS JetStream, so that
// several gateway nodes share one queue (docs/ARCHITECTURE.md, "More than
// one node").
//
// Layout, for a stream named S (default PASSERELLE_SPOOL):
//
//	stream S, subjects S.put.<id>   one put record per message: the
//	                                envelope and the bodies small enough
//	                                to go inline (file storage, Limits
//	                                retention, Replicas from the config,
//	                                Nats-Msg-Id = the message id)
//	object store S_BODIES           bodies that do not fit under the
//	                                server's max_payload: <id>.<n>
//	key-value bucket S_STATE        per-recipient state by message id,
//	                                written with compare-and-set; a
//	                                quarantine reason
//	durable pull consumer "passerelle" on S.put.>, shared by every node
//
// A node claims a message by fetching it from the consumer (explicit ack,
// AckWait from the config, renewed with +WPI while the node holds it);
// it defers it with a NAK delayed until the message is due; it removes it
// by deleting the put record (the commit point), the state and the bodies,
// then acking. A node that dies holding a message stops renewing; after
// AckWait the consumer gives it to another node, which reads the state:
// recipients already recorded delivered are not tried again, one delivered
// but not yet recorded is delivered again with the same message id (a
// recognisable duplicate). State writes are compare-and-set on the KV
// revision the node read when it claimed, so a node whose claim lapsed
// cannot overwrite the state of the node that took over.
//
// Put returns nil only once the server has acknowledged the publish, that
// is once the record is stored on a quorum of the stream's replicas.
package natsstore
