// Package mime turns an RFC 5322 message into a neutral [Message]: the
// decoded header fields a chat client shows, a plain-text rendition of the
// body and a summary of the attachments.
//
// It reads the raw message and never changes it; the caller keeps the
// original bytes and forwards them untouched.
//
// Standards followed:
//   - RFC 5322: message header fields (From, To, Cc, Date, Message-ID,
//     In-Reply-To, References).
//   - RFC 2045: Content-Type and Content-Transfer-Encoding (base64,
//     quoted-printable); §5.2 default media type.
//   - RFC 2046: multipart bodies and boundaries; §5.1.4 multipart/alternative
//     (plain text is preferred for chat clients); §5.1.5 multipart/digest.
//   - RFC 2047: encoded words in Subject and display names.
//   - RFC 2231: parameter continuations and charsets in filenames.
//   - RFC 2183: Content-Disposition.
//
// Every input has a limit (see [Limits]). Every failure is an [*Error] whose
// Kind is one of the package sentinels; the SMTP layer maps it to
// 554 5.6.0. Parse never panics on any input (see FuzzParse).
package mime
