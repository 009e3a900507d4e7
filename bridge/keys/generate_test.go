package keys

import (
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

func TestGenerateDomainKeyAlgorithms(t *testing.T) {
	e, err := GenerateDomainKey("mail.example.org", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if e.PrimaryKey.Version != 4 {
		t.Errorf("primary version = %d, want 4", e.PrimaryKey.Version)
	}
	if got := e.PrimaryKey.PubKeyAlgo; got != 22 {
		t.Errorf("primary algo = %d, want 22 (EdDSA)", got)
	}
	if len(e.Subkeys) != 1 {
		t.Fatalf("%d subkeys, want 1", len(e.Subkeys))
	}
	sk := e.Subkeys[0].PublicKey
	if sk.PubKeyAlgo != 18 || sk.Version != 4 {
		t.Errorf("subkey algo %d v%d, want 18 v4", sk.PubKeyAlgo, sk.Version)
	}
	if c, _ := sk.Curve(); c != packet.Curve25519 {
		t.Errorf("subkey curve = %s, want Curve25519", c)
	}
	if _, ok := e.Identities["xmpp:mail.example.org"]; !ok {
		t.Errorf("identities = %v, want xmpp:mail.example.org", e.Identities)
	}
	sig, _ := e.PrimarySelfSignature(testNow, nil)
	if sig == nil || sig.SEIPDv2 || !sig.SEIPDv1 {
		t.Errorf("self-signature must advertise SEIPDv1 only: %+v", sig)
	}
	if !e.PrimaryKey.CreationTime.Equal(testNow) {
		t.Errorf("creation time %v, want %v", e.PrimaryKey.CreationTime, testNow)
	}
}

func TestGenerateRejectsBadJID(t *testing.T) {
	for i, j := range []string{"", "a b@c", "x<y>@z", "a@b/res"} {
		if _, err := GenerateDomainKey(j, testNow); err == nil {
			t.Errorf("%d: %q accepted", i, j)
		}
	}
}

func TestPuppetKeyCertified(t *testing.T) {
	dom, err := GenerateDomainKey("mail.example.org", testNow)
	if err != nil {
		t.Fatal(err)
	}
	jid := `bob\40gmail.com@mail.example.org`
	p, err := GeneratePuppetKey(jid, dom, testNow)
	if err != nil {
		t.Fatal(err)
	}
	id := p.Identities["xmpp:"+jid]
	if id == nil || len(id.OtherCertifications) != 1 {
		t.Fatalf("want one third-party certification on xmpp:%s, identities %v", jid, p.Identities)
	}
	sig := id.OtherCertifications[0].Packet
	if sig.SigType != packet.SigTypeGenericCert {
		t.Errorf("certification type %#x", sig.SigType)
	}
	if err := dom.PrimaryKey.VerifyUserIdSignature("xmpp:"+jid, p.PrimaryKey, sig); err != nil {
		t.Errorf("domain certification does not verify: %v", err)
	}
	if fp := string(FingerprintOf(p)); len(fp) != 40 || strings.ToUpper(fp) != fp {
		t.Errorf("fingerprint %q", FingerprintOf(p))
	}
}
