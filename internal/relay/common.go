package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"mellium.im/xmpp/stanza"

	"passerelle/bridge/peermsg"
)

// RouteHub is the hub's queue route of mail for a relay client (sealed
// transfers, or plain DSNs sealed at delivery); RouteUp is the client's
// route of mail to the hub.
const (
	RouteHub = "relay"
	RouteUp  = "relay-up"
)

// refusal is a stanza error whose text starts with the RFC 3463 status
// (as the peer route's receiver answers).
func refusal(typ stanza.ErrorType, cond stanza.Condition, status, reason string) error {
	return stanza.Error{Type: typ, Condition: cond, Text: map[string]string{"": peermsg.ErrorText(status, reason)}}
}

func dedupKey(from, id string) string {
	sum := sha256.Sum256([]byte("passerelle-relay\x00" + from + "\x00" + id))
	return hex.EncodeToString(sum[:16])
}

func domainOf(addr string) string {
	return strings.ToLower(addr[strings.LastIndexByte(addr, '@')+1:])
}

func orcpt(a string) string {
	if a == "" || strings.Contains(a, ";") {
		return a
	}
	return "rfc822;" + a
}
