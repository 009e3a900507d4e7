// Package pep announces and discovers OpenPGP public keys the XEP-0373 §4
// way: through the Personal Eventing Protocol (XEP-0163), a profile of
// Publish-Subscribe (XEP-0060) in which every account is a pubsub service.
//
// A user announces keys in two kinds of node: the metadata node
// urn:xmpp:openpgp:0:public-keys holds one item ("current") listing the
// v4 fingerprints and dates of the keys in use, and one node
// urn:xmpp:openpgp:0:public-keys:<FINGERPRINT> per key holds the binary
// public key, base64-encoded, in <pubkey><data/></pubkey>.
//
// Source is the discovery side, a keys.Source: from the component it asks a
// local user's bare JID for the metadata node, picks the newest key,
// fetches that key's node and checks the key against the announced
// fingerprint and the user's JID (user ID "xmpp:<JID>"). Errors map
// to keys.ErrNoKey (nothing published, or not readable by the gateway:
// XEP-0373 §4 asks for the "open" access model) or to a temporary error.
//
// Responder is the announcement side for puppet JIDs, which are not
// accounts on the server: the component answers pubsub items requests
// addressed to them with the puppet key (public material only) and answers
// XEP-0030 disco#info for its domain and for puppets.
package pep
