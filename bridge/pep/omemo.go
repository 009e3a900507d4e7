package pep

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"passerelle/bridge/xmpp"

	"passerelle/bridge/omemo"
)

// OMEMODevices gives the OMEMO device of a puppet JID, made on first use.
// *omemo.Store implements it.
type OMEMODevices interface {
	Device(ctx context.Context, puppetJID string) (omemo.Info, error)
	// ExistingDevice is Device without making one (omemo.ErrNoDevice).
	ExistingDevice(ctx context.Context, puppetJID string) (omemo.Info, error)
}

// omemoItemID is the item id of OMEMO 0.3 nodes, as clients publish them.
const omemoItemID = "current"

// handleOMEMO answers a puppet's OMEMO 0.3 device list and bundle nodes
// (XEP-0384 v0.3 §4.2, §4.3); handled is false for other nodes. A
// missing device is made by the same rules as a missing OX key
// (puppetKey): on a device list query, for a local requester, within the
// NewPuppets limits.
func (r *Responder) handleOMEMO(ctx context.Context, from, p jid.JID, node string) (_ xml.TokenReader, handled bool, _ error) {
	id, isBundle := omemo.BundleNodeID(node)
	if r.cfg.OMEMO == nil || (node != omemo.NodeDeviceList && !isBundle) {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	info, err := r.cfg.OMEMO.ExistingDevice(ctx, p.String())
	switch {
	case err == nil:
	case !errors.Is(err, omemo.ErrNoDevice):
		r.log.Error("puppet OMEMO device unavailable", zap.Error(err))
		return nil, true, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
	case node != omemo.NodeDeviceList || from.Localpart() == "" || !r.cfg.IsLocal(from.Bare()):
		return nil, true, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
	default:
		if limit, ok := r.newPuppets.allow(from, mailDomain(p)); !ok {
			r.log.Info("new puppet device refused: over a limit", zap.String("limit", limit),
				zap.String("requester_domain", from.Domainpart()))
			return nil, true, stanza.Error{Type: stanza.Wait, Condition: stanza.ResourceConstraint,
				Text: map[string]string{"": "Too many new correspondents at once; try again later."}}
		}
		if info, err = r.cfg.OMEMO.Device(ctx, p.String()); err != nil {
			r.log.Error("puppet OMEMO device unavailable", zap.Error(err))
			return nil, true, stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError}
		}
	}
	if node == omemo.NodeDeviceList {
		return itemsElem(node, omemoItemID, xmpp.Tokens(omemo.DeviceListTokens([]uint32{info.DeviceID})...)), true, nil
	}
	if id != info.DeviceID {
		return nil, true, stanzaErr(stanza.Cancel, stanza.ItemNotFound)
	}
	return itemsElem(node, omemoItemID, xmpp.Tokens(info.Bundle.Tokens()...)), true, nil
}

// OMEMODeviceList returns the OMEMO 0.3 device ids j publishes. Errors
// are those of Lookup: ErrNotPublished, ErrNotAccessible, ErrMalformed or
// a *keys.TemporaryError.
func (s *Source) OMEMODeviceList(ctx context.Context, j jid.JID) ([]uint32, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	r, err := s.items(ctx, j.Bare(), omemo.NodeDeviceList)
	if err != nil {
		return nil, mapError("OMEMO device list", err)
	}
	var ids []uint32
	err = firstPayload(r, "list", func(d *xml.Decoder, start *xml.StartElement) error {
		var err error
		ids, err = omemo.DecodeDeviceList(d, start)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("OMEMO device list: %w", ErrNotPublished)
	}
	return ids, nil
}

// OMEMOBundle returns the bundle j publishes for device id.
func (s *Source) OMEMOBundle(ctx context.Context, j jid.JID, id uint32) (*omemo.Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	r, err := s.items(ctx, j.Bare(), omemo.BundleNode(id))
	if err != nil {
		return nil, mapError("OMEMO bundle", err)
	}
	var b *omemo.Bundle
	err = firstPayload(r, "bundle", func(d *xml.Decoder, start *xml.StartElement) error {
		var err error
		b, err = omemo.DecodeBundle(d, start)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// firstPayload finds, in an items answer, the first element local in the
// OMEMO namespace inside an <item/> and hands it to decode. None is
// ErrNotPublished.
func firstPayload(r xml.TokenReader, local string, decode func(*xml.Decoder, *xml.StartElement) error) error {
	d := xml.NewTokenDecoder(r)
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return ErrNotPublished
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Space == omemo.NS && t.Name.Local == local && depth == 4 { // pubsub > items > item > payload
				if err := decode(d, &t); err != nil {
					return fmt.Errorf("%w: %w", ErrMalformed, err)
				}
				return nil
			}
		case xml.EndElement:
			depth--
		}
	}
}
