package forward

import (
	"context"
	"errors"
	"fmt"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/bridge/keys"
	"passerelle/gateway/smtpd"
	"passerelle/policy"
)

// decision is what Rcpt decides for one recipient; it travels with the
// recipient to Accept.
type decision struct {
	policy.Decision
	JID       string          // the recipient's bare JID
	Key       *openpgp.Entity // nil: plaintext (policy allowed it)
	KeySource string
	OMEMO     []uint32 // set: OMEMO to these devices instead of OX
	MTA       bool     // route smtp: handed to the local MTA as it is
}

// plain reports whether the recipient gets the mail unencrypted.
func (d *decision) plain() bool { return d.Key == nil && len(d.OMEMO) == 0 && !d.MTA }

var errRouteUnavailable = &smtpd.Reject{Code: 550, Enhanced: [3]int{5, 3, 5}, Msg: "No route to this recipient is configured"}

// Rcpt implements smtpd.Router: policy first, then the recipient's key. A
// recipient that must get encrypted mail and has no usable key is refused
// here (550 5.7.1), never accepted and bounced later. Where the gateway
// has a user list, an address not in it is 550 5.1.1 before any lookup;
// without one it cannot tell an unknown user from one without a key.
func (f *Forward) Rcpt(ctx context.Context, s *smtpd.Info, from, to string) (any, error) {
	if !f.cfg.Policy.IsLocal(to) {
		if f.cfg.Peer != nil {
			return f.cfg.Peer.Rcpt(ctx, s, from, to)
		}
		return nil, smtpd.RelayDenied
	}
	if !f.cfg.Policy.Exists(to) { // only with a user list (users_file, directory_complete)
		f.log.Info("refused: no such user", f.hash(to))
		return nil, smtpd.NoSuchUser
	}
	d := f.cfg.Policy.Decide(to)
	if d.Route == policy.RouteSMTP && f.cfg.LocalMTARoute != "" {
		return &decision{Decision: d, MTA: true}, nil
	}
	if d.Route != policy.RouteXMPP {
		return nil, errRouteUnavailable
	}
	j, err := jid.Parse(f.cfg.Policy.JID(to))
	if err != nil || j.Localpart() == "" {
		return nil, &smtpd.Reject{Code: 553, Enhanced: [3]int{5, 1, 3}, Msg: "Address is not a valid XMPP address"}
	}
	dec := &decision{Decision: d, JID: j.Bare().String()}
	if d.Encryption == policy.EncryptNone {
		return dec, nil
	}
	if err := f.chargeLookup(s, to); err != nil {
		f.log.Info("refused: key lookup limit", f.hash(to), zap.String("remote", s.Remote), zap.Error(err))
		return nil, err
	}
	var errs []error
	for _, scheme := range d.Schemes() { // policy.xmpp_encryption
		var found bool
		var err error
		switch scheme {
		case policy.SchemeOX:
			found, err = f.rcptOX(ctx, dec, to)
		case policy.SchemeOMEMO:
			found, err = f.rcptOMEMO(ctx, dec, j.Bare(), to)
		}
		if err != nil {
			return nil, err
		}
		if found {
			return dec, nil
		}
		errs = append(errs, fmt.Errorf("%s: no key", scheme))
	}
	err = errors.Join(errs...)
	if d.Encryption == policy.EncryptRequired && d.NoKey == policy.NoKeyReject {
		f.log.Info("refused: no usable key", f.hash(to), zap.String("rule", d.Source["no_key"]), zap.Error(err))
		return nil, smtpd.EncryptionRequired
	}
	return dec, nil // opportunistic, or required with a plaintext notice
}

// rcptOX looks up the recipient's OX key into dec.
func (f *Forward) rcptOX(ctx context.Context, dec *decision, to string) (bool, error) {
	res, err := f.cfg.Keys.Resolve(ctx, to)
	switch {
	case err == nil:
		dec.Key, dec.KeySource = res.Key, res.Source
		f.log.Debug("recipient key", f.hash(to), zap.String("source", res.Source), zap.String("fpr", string(res.Fingerprint)))
		return true, nil
	case keys.IsTemporary(err) || ctx.Err() != nil:
		f.log.Warn("recipient key lookup failed", f.hash(to), zap.Error(err))
		return false, smtpd.KeyLookupTemporary
	case !errors.Is(err, keys.ErrNoKey):
		f.log.Error("recipient key lookup", f.hash(to), zap.Error(err))
		return false, smtpd.TemporaryFailure
	}
	return false, nil
}

// rcptOMEMO looks up the recipient's OMEMO devices into dec.
func (f *Forward) rcptOMEMO(ctx context.Context, dec *decision, j jid.JID, to string) (bool, error) {
	if f.cfg.OMEMO == nil {
		return false, nil
	}
	ids, err := f.cfg.OMEMO.Devices(ctx, j)
	switch {
	case err == nil && len(ids) > 0:
		dec.OMEMO, dec.KeySource = ids, "omemo"
		f.log.Debug("recipient OMEMO devices", f.hash(to), zap.Int("devices", len(ids)))
		return true, nil
	case err == nil || errors.Is(err, keys.ErrNoKey):
		return false, nil
	case keys.IsTemporary(err) || ctx.Err() != nil:
		f.log.Warn("recipient OMEMO device lookup failed", f.hash(to), zap.Error(err))
		return false, smtpd.KeyLookupTemporary
	}
	f.log.Error("recipient OMEMO device lookup", f.hash(to), zap.Error(err))
	return false, smtpd.TemporaryFailure
}
