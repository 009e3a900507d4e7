package upload_test

import (
	"context"
	"encoding/xml"
	"errors"
	"testing"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/upload"
)

const (
	itemsXML = `<iq type='result'><query xmlns='http://jabber.org/protocol/disco#items'>` +
		`<item jid='mail.example.org'/><item jid='pubsub.example.org' node='x'/><item jid='down.example.org'/>` +
		`<item jid='muc.example.org'/><item jid='upload.example.org'/></query></iq>`
	infoPlain  = `<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='http://jabber.org/protocol/muc'/></query></iq>`
	infoUpload = `<iq type='result'><query xmlns='http://jabber.org/protocol/disco#info'>` +
		`<identity category='store' type='file'/><feature var='urn:xmpp:http:upload:0'/>` +
		`<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:http:upload:0</value></field>` +
		`<field var='max-file-size'><value>5242880</value></field></x></query></iq>`
	infoError = `<iq type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`
)

// discoIQ answers disco queries from a table: to -> namespace -> answer;
// a missing entry is a transport error (no answer).
type discoIQ map[string]map[string]string

func (d discoIQ) IQ(ctx context.Context, to jid.JID, payload xml.TokenReader) ([]byte, error) {
	tok, err := payload.Token()
	if err != nil {
		return nil, err
	}
	ans, ok := d[to.String()][tok.(xml.StartElement).Name.Space]
	if !ok {
		return nil, context.DeadlineExceeded
	}
	return []byte(ans), nil
}

const (
	nsInfo  = "http://jabber.org/protocol/disco#info"
	nsItems = "http://jabber.org/protocol/disco#items"
)

func TestDiscover(t *testing.T) {
	domain, self := jid.MustParse("example.org"), jid.MustParse("mail.example.org")
	base := discoIQ{
		"example.org":        {nsInfo: infoPlain, nsItems: itemsXML},
		"muc.example.org":    {nsInfo: infoPlain},
		"upload.example.org": {nsInfo: infoUpload},
		"down.example.org":   {nsInfo: infoError},
	}
	svc, err := upload.Discover(context.Background(), base, domain, self)
	if err != nil || svc.JID.String() != "upload.example.org" || svc.MaxSize != 5<<20 {
		t.Fatalf("Discover = %+v, %v", svc, err)
	}
	base["upload.example.org"] = map[string]string{nsInfo: infoPlain}
	_, err = upload.Discover(context.Background(), base, domain, self)
	if !errors.Is(err, upload.ErrNoService) || upload.IsTemporary(err) {
		t.Errorf("no service: %v, want permanent ErrNoService", err)
	}
	delete(base, "upload.example.org") // silent: may be the service, down
	_, err = upload.Discover(context.Background(), base, domain, self)
	if !errors.Is(err, upload.ErrTransport) || !upload.IsTemporary(err) {
		t.Errorf("silent item: %v, want temporary ErrTransport", err)
	}
	base["example.org"] = map[string]string{nsInfo: infoUpload}
	if svc, err := upload.Discover(context.Background(), base, domain, self); err != nil || !svc.JID.Equal(domain) {
		t.Errorf("service on the domain itself: %+v, %v", svc, err)
	}
}

func TestParseInfo(t *testing.T) {
	tests := []struct {
		resp    string
		wantOK  bool
		wantMax int64
	}{
		{infoUpload, true, 5 << 20},
		{infoPlain, false, 0},
		{infoError, false, 0},
		{`<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:http:upload:0'/></query>`, true, 0},
		{`<query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:http:upload:0'/>` +
			`<x xmlns='jabber:x:data'><field var='FORM_TYPE'><value>other</value></field><field var='max-file-size'><value>9</value></field></x></query>`, true, 0},
	}
	for i, tc := range tests {
		gotMax, ok, err := upload.ParseInfo([]byte(tc.resp))
		if err != nil || ok != tc.wantOK || gotMax != tc.wantMax {
			t.Errorf("%d: ParseInfo = %d, %v, %v", i, gotMax, ok, err)
		}
	}
}
