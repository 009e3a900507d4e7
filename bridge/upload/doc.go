// Package upload moves large mail through HTTP File Upload (XEP-0363) on
// behalf of the gateway's XEP-0114 component.
//
// Mail that does not fit in a stanza (Prosody caps component links at
// 512 KiB) is sealed by package payload as an AES-256-GCM blob keyed as in
// XEP-0454 (a 32-byte key and 12-byte IV that travel only inside the
// encrypted OX payload, the 16-byte tag appended), the scheme XEP-0448
// generalises. This package only moves that opaque blob:
//
//   - Discover finds the upload service: disco#items on the server domain,
//     then disco#info on each item for the urn:xmpp:http:upload:0 feature
//     and its max-file-size form field (XEP-0363 §2, XEP-0128). A JID set in
//     Config.Service skips discovery.
//   - Upload requests a slot (§3) under a random file name, never the
//     attachment's (the name is stored by the server and visible in the GET
//     URL), PUTs the blob with only the Authorization, Cookie and Expires
//     headers the slot names (§5) and returns the GET URL once the server
//     answered 201 or 200.
//   - Fetch downloads a blob with a size cap, for the receiving side.
//
// The component's IQ round trip is consumed through the IQer interface so
// this package does not depend on bridge/xmpp.
//
// Errors are *Error values. Slot refusals follow XEP-0363 §4: a
// file-too-large element (permanent, carries the service's limit),
// resource-constraint or a wait-type error such as a quota (temporary),
// not-allowed or forbidden (permanent). HTTP failures are temporary for 5xx,
// 408, 429 and for 401/410 (the slot's token expired: a new slot may work).
//
// Prosody's mod_http_file_share lets any JID whose host is served by the same
// Prosody (a VirtualHost or a Component, so the gateway's component too)
// request slots while http_file_share_access is empty; once that option
// lists anything, the component's domain must be listed. All of the
// component's uploads count against one daily quota
// (http_file_share_daily_quota), keyed by the bare JID that asks.
package upload
