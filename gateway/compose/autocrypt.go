package compose

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// keydataLine is the length of the keydata chunks: the header writer
// folds at the spaces between them.
const keydataLine = 72

// AutocryptHeader formats an Autocrypt header value (Autocrypt Level 1
// §2.1): "addr=ADDR; [prefer-encrypt=mutual; ]keydata=BASE64", the base64
// of key's transferable public key split by spaces so that the header can
// be folded (whitespace in keydata is ignored by readers). Same format as
// bridge/keys.AutocryptHeader, which the gateway may not import.
func AutocryptHeader(addr string, key *openpgp.Entity, mutual bool) (string, error) {
	if key == nil || key.PrimaryKey == nil {
		return "", invalid("autocrypt: no key")
	}
	if a, ok := checkAddress(mail.Address{Address: addr}); !ok || strings.ContainsAny(a.Address, ";=") {
		return "", invalid("autocrypt addr %.80q", addr)
	}
	var buf bytes.Buffer
	if err := key.Serialize(&buf); err != nil {
		return "", fmt.Errorf("autocrypt header: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(buf.Bytes())
	var sb strings.Builder
	sb.WriteString("addr=" + addr + ";")
	if mutual {
		sb.WriteString(" prefer-encrypt=mutual;")
	}
	sb.WriteString(" keydata=")
	for len(b64) > keydataLine {
		sb.WriteString(b64[:keydataLine] + " ")
		b64 = b64[keydataLine:]
	}
	sb.WriteString(b64)
	return sb.String(), nil
}
