package upload

import (
	"cmp"
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
)

// Discovery bounds: disco#items entries probed, and the wait for each
// answer, so one silent item (a component that is down) cannot stall it.
const (
	maxItems     = 32
	probeTimeout = 10 * time.Second
)

// Service is an HTTP File Upload service.
type Service struct {
	JID     jid.JID
	MaxSize int64 // max-file-size from disco#info; 0 when not advertised
}

// Discover finds the upload service of domain (XEP-0363 §2): the domain
// itself or one of its disco#items advertising urn:xmpp:http:upload:0.
// self, the asking component's own JID, is not probed: a component asking
// itself gets no answer through Prosody.
func Discover(ctx context.Context, iq IQer, domain, self jid.JID) (Service, error) {
	if s, ok, err := probe(ctx, iq, domain); ok || ctx.Err() != nil {
		return s, err
	}
	resp, err := iq.IQ(ctx, domain, query(nsDiscoItem))
	if err != nil {
		return Service{}, iqError("discover", err)
	}
	items, err := parseItems(resp)
	if err != nil {
		return Service{}, err
	}
	var lastErr error
	for _, item := range items {
		if item.Equal(self) {
			continue
		}
		s, ok, err := probe(ctx, iq, item)
		if ok || ctx.Err() != nil {
			return s, err
		}
		lastErr = cmp.Or(err, lastErr)
	}
	if lastErr != nil { // an item did not answer: it may be the service
		return Service{}, lastErr
	}
	return Service{}, &Error{Op: "discover", Kind: ErrNoService, Err: fmt.Errorf("none among %s and its %d items", domain, len(items))}
}

// probe asks j for disco#info. A stanza error or another answer means "not
// this one"; a transport error is returned as well.
func probe(ctx context.Context, iq IQer, j jid.JID) (Service, bool, error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	resp, err := iq.IQ(pctx, j, query(nsDiscoInfo))
	if err != nil {
		if e := iqError("discover", err); e.Kind == ErrTransport {
			return Service{}, false, e
		}
		return Service{}, false, nil
	}
	maxSize, ok, err := ParseInfo(resp)
	if err != nil || !ok {
		return Service{}, false, nil
	}
	return Service{JID: j, MaxSize: maxSize}, true, nil
}

func query(ns string) xml.TokenReader {
	return xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: ns, Local: "query"}})
}

func parseItems(resp []byte) ([]jid.JID, error) {
	d, start, se, err := openResponse(resp)
	if err != nil || se != nil {
		if se != nil {
			return nil, stanzaError("discover", *se)
		}
		return nil, &Error{Op: "discover", Kind: ErrNoService, Err: fmt.Errorf("disco#items: %w", err)}
	}
	var x struct {
		Items []struct {
			JID  string `xml:"jid,attr"`
			Node string `xml:"node,attr"`
		} `xml:"http://jabber.org/protocol/disco#items item"`
	}
	if err := d.DecodeElement(&x, &start); err != nil {
		return nil, &Error{Op: "discover", Kind: ErrNoService, Err: fmt.Errorf("disco#items: %w", err)}
	}
	var items []jid.JID
	for _, it := range x.Items {
		j, err := jid.Parse(it.JID)
		if err == nil && it.Node == "" && len(items) < maxItems {
			items = append(items, j)
		}
	}
	return items, nil
}

// ParseInfo reads a disco#info answer: whether it lists the XEP-0363
// feature and the max-file-size of its XEP-0128 form (0 if absent).
func ParseInfo(resp []byte) (maxSize int64, ok bool, err error) {
	d, start, se, err := openResponse(resp)
	if err != nil || se != nil || start.Name != (xml.Name{Space: nsDiscoInfo, Local: "query"}) {
		return 0, false, err
	}
	var x xmlInfo
	if err := d.DecodeElement(&x, &start); err != nil {
		return 0, false, err
	}
	for _, f := range x.Features {
		if f.Var == NS {
			return x.maxSize(), true, nil
		}
	}
	return 0, false, nil
}

type xmlField struct {
	Var    string   `xml:"var,attr"`
	Values []string `xml:"value"`
}

type xmlInfo struct {
	Features []struct {
		Var string `xml:"var,attr"`
	} `xml:"feature"`
	Forms []struct {
		Fields []xmlField `xml:"field"`
	} `xml:"jabber:x:data x"`
}

// maxSize finds max-file-size in the form whose FORM_TYPE is NS.
func (x xmlInfo) maxSize() int64 {
	for _, form := range x.Forms {
		if field(form.Fields, "FORM_TYPE") != NS {
			continue
		}
		n, err := strconv.ParseInt(field(form.Fields, "max-file-size"), 10, 64)
		if err == nil && n > 0 {
			return n
		}
	}
	return 0
}

func field(fields []xmlField, name string) string {
	for _, f := range fields {
		if f.Var == name && len(f.Values) > 0 {
			return strings.TrimSpace(f.Values[0])
		}
	}
	return ""
}
