// Package omemo is OMEMO 0.3 (XEP-0384 v0.3, namespace
// eu.siacs.conversations.axolotl), the version Conversations, Monal, Dino
// and Gajim deploy: puppet devices (identity key, signed prekey, one-time
// prekeys) kept durably per puppet JID, their PEP device list and bundle,
// and the <encrypted/> element.
//
// The Signal protocol (X3DH, Double Ratchet) is go.mau.fi/libsignal's; the
// wire format is ours: the body is encrypted with AES-128-GCM under a fresh
// 16-byte key and 12-byte IV, and key||tag (32 bytes) is what each
// recipient device's Signal session encrypts (Conversations'
// XmppAxolotlMessage, python-oldmemo).
//
// A device's state (its sessions and prekeys) is one file, replaced
// atomically and fsynced (internal/fsutil) before Encrypt or Decrypt
// returns: a message is only handed on (spooled, answered with 250) after
// the ratchet state it advanced is durable, so no message key is reused
// after a crash and no spooled message becomes undecryptable.
package omemo
