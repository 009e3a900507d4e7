package pep

import (
	"context"
	"encoding/xml"
	"errors"
	"slices"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"passerelle/bridge/xmpp"
	"passerelle/internal/prosodytest"
)

type discoAnswer struct {
	XMLName    xml.Name `xml:"http://jabber.org/protocol/disco#info query"`
	Identities []struct {
		Category string `xml:"category,attr"`
		Type     string `xml:"type,attr"`
		Name     string `xml:"name,attr"`
	} `xml:"identity"`
	Features []struct {
		Var string `xml:"var,attr"`
	} `xml:"feature"`
}

func discoInfoOf(ctx context.Context, q Querier, to string) (discoAnswer, error) {
	var a discoAnswer
	req := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: NSDiscoInfo, Local: "query"}})
	r, err := q.IQ(ctx, stanza.IQ{To: jid.MustParse(to), Type: stanza.GetIQ}, req)
	if err != nil {
		return a, err
	}
	return a, xml.NewTokenDecoder(r).Decode(&a)
}

func TestDiscoInfo(t *testing.T) {
	srv := prosodytest.Start(t, prosodytest.Options{Users: users})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startResponder(t, srv)
	q := client(ctx, t, srv, "alice", users["alice"])
	tests := []struct {
		name, to     string
		wantIdentity []string // category/type
		wantFeatures []string
	}{
		{"component domain", srv.Component, []string{"gateway/smtp"},
			[]string{NSDiscoInfo, NSOX}},
		{"puppet", `bob\40gmail.com@` + srv.Component, []string{"account/registered", "pubsub/pep"},
			[]string{NSDiscoInfo, NSPubsub, NSPubsub + "#retrieve-items", NSOX}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := discoInfoOf(ctx, q, tc.to)
			if err != nil {
				t.Fatalf("disco#info %s: %v", tc.to, err)
			}
			var ids, features []string
			for _, id := range a.Identities {
				ids = append(ids, id.Category+"/"+id.Type)
			}
			for _, f := range a.Features {
				features = append(features, f.Var)
			}
			if !slices.Equal(ids, tc.wantIdentity) || !slices.Equal(features, tc.wantFeatures) {
				t.Fatalf("identities %v features %v, want %v %v", ids, features, tc.wantIdentity, tc.wantFeatures)
			}
		})
	}
	t.Run("unknown JID", func(t *testing.T) {
		_, err := discoInfoOf(ctx, q, "bob@"+srv.Component)
		var xe *xmpp.Error
		if !errors.As(err, &xe) || xe.Condition != "item-not-found" {
			t.Fatalf("err %v, want item-not-found", err)
		}
	})
}
