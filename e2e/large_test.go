package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestForwardLargeMail sends mail over the stanza limit: a 5 MB binary
// attachment and a 25 MB mail. Each arrives as one OX message whose payload
// points at an AES-256-GCM blob on Prosody's http_file_share; alice's
// client fetches it, and the mail inside is byte-identical to what swaks
// sent.
func TestForwardLargeMail(t *testing.T) {
	if testing.Short() {
		t.Skip("large transfers; run without -short")
	}
	srv := startXMPP(t, xmppOptions{Users: map[string]string{"alice": "alice-pw"}, Upload: true, UploadSizeLimit: 64 << 20})
	gw := startGateway(t, gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain,
		XMPPExtra: fmt.Sprintf("upload_service = %q\nupload_allow_loopback_http = true", srv.UploadComponent)})
	env := &forwardEnv{srv: srv, gw: gw, alice: newInbox(ctxT(t, 5*time.Minute), t, srv, "alice", "alice-pw")}
	env.aliceKey = newUserKey(t, "alice@"+srv.Domain)
	importKey(t, gw, env.aliceKey)

	for _, tc := range []struct {
		name   string
		attach int // bytes of random attachment
	}{
		{"5MB attachment", 5 << 20},
		{"25MB mail", 18 << 20}, // base64 makes the message about 25 MB
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := make([]byte, tc.attach)
			rand.Read(blob)
			marker := fmt.Sprintf("large-%x", time.Now().UnixNano())
			mail := mimeWithAttachment(marker, blob)
			file := filepath.Join(t.TempDir(), "mail.eml")
			if err := os.WriteFile(file, []byte(mail), 0o600); err != nil {
				t.Fatal(err)
			}
			swaks(t, gw.cfg.MXAddr, "alice@example.org", true, "--data", "@"+file)
			m := env.alice.next(t, 3*time.Minute)
			p := openOX(t, m, env.aliceKey, env.puppetKeyViaPEP(t, `bob\40remote.example@`+srv.Component))
			if p.Subject != marker || p.Mail == nil || p.Mail.External == nil {
				t.Fatalf("want an external mail for %s, got subject %q mail %+v", marker, p.Subject, p.Mail)
			}
			uploaded := fetchBlob(t, p.Mail.External.URL)
			raw, err := p.Mail.External.Open(uploaded)
			if err != nil {
				t.Fatalf("open the external blob: %v", err)
			}
			if got := openAESGCMLink(t, p.Body, p.Mail.External.URL, uploaded); !bytes.Equal(got, raw) {
				t.Fatalf("the aesgcm:// link in the body decrypts to %d other bytes", len(got))
			}
			// swaks ends DATA with CRLF . CRLF after the file: the message
			// sent is the file plus one CRLF, after our trace fields.
			if !bytes.HasSuffix(raw, []byte(mail+"\r\n")) || !bytes.HasPrefix(raw, []byte(unverifiedTrace)) {
				t.Fatalf("fetched mail (%d bytes) is not byte-identical to the one sent (%d bytes)", len(raw), len(mail))
			}
			sum := sha256.Sum256(raw)
			t.Logf("%s: mail of %d bytes arrived through HTTP upload, sha256 %x verified inside the signcrypt", tc.name, len(raw), sum[:8])
		})
	}
}

// fetchBlob downloads an uploaded blob.
func fetchBlob(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	blob, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// openAESGCMLink finds the XEP-0454 aesgcm:// link in body and decrypts
// blob with it as Gajim's get_aes_key_data and Conversations do: the
// fragment is 88 hex digits, a 12-octet IV then the 32-octet key; the
// ciphertext carries the 16-octet GCM tag at its end. The link must name
// the uploaded file (test uploads are http on loopback; a client turns
// aesgcm into https).
func openAESGCMLink(t *testing.T, body, uploadURL string, blob []byte) []byte {
	t.Helper()
	i := strings.Index(body, "aesgcm://")
	if i < 0 {
		t.Fatalf("no aesgcm:// link in the body:\n%s", body[max(0, len(body)-300):])
	}
	link, _, _ := strings.Cut(body[i:], " ")
	base, frag, _ := strings.Cut(link, "#")
	if want := "aesgcm://" + strings.TrimPrefix(uploadURL, "http://"); base != want {
		t.Fatalf("link %s does not name the upload %s", base, want)
	}
	kv, err := hex.DecodeString(frag)
	if err != nil || len(kv) != 44 {
		t.Fatalf("fragment %q: %v", frag, err)
	}
	block, err := aes.NewCipher(kv[12:])
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, kv[:12], blob, nil)
	if err != nil {
		t.Fatalf("the aesgcm link does not decrypt the blob: %v", err)
	}
	return plain
}

// mimeWithAttachment is a multipart mail with blob as a base64 attachment,
// CRLF throughout, without a final CRLF (swaks adds it).
func mimeWithAttachment(marker string, blob []byte) string {
	var b strings.Builder
	b.WriteString("From: Bob <bob@remote.example>\r\nTo: alice@example.org\r\nSubject: " + marker +
		"\r\nMessage-ID: <" + marker + "@remote.example>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nsee the attachment " + marker + "\r\n--b1\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(blob)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b1--")
	return b.String()
}
