package main

import (
	"encoding/xml"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
)

// stanza is one <message/> as alice's client receives it: only the parts
// that travel outside the encryption.
type stanza struct {
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	ID      string `xml:"id,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"` // the plaintext notice for non-OX clients
	OpenPGP *struct {
		Data string `xml:",chardata"`
	} `xml:"urn:xmpp:openpgp:0 openpgp"`
	OriginID *struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:sid:0 origin-id"`
	EME *struct {
		Namespace string `xml:"namespace,attr"`
	} `xml:"urn:xmpp:eme:0 encryption"`
	Store *struct{} `xml:"urn:xmpp:hints store"`
	Error *struct {
		Type string `xml:"type,attr"`
		Text string `xml:",innerxml"`
	} `xml:"error"`

	arrived time.Time
}

// inbound hands every <message/> to out. It runs on the session's Serve
// goroutine, so it only decodes and never blocks on the network: IQs (the
// PEP key fetch) would deadlock here.
func inbound(out chan<- stanza) xmpp.Handler {
	return xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local != "message" {
			return nil
		}
		var m stanza
		d := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), r))
		if err := d.Decode(&m); err != nil {
			return nil
		}
		m.arrived = time.Now()
		out <- m
		return nil
	})
}
