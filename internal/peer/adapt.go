package peer

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"passerelle/bridge/peerrec"
)

// DNSRecords reads records with bridge/peerrec's resolver. A malformed
// record counts as none (logged): it names no usable gateway.
type DNSRecords struct {
	Resolver *peerrec.Resolver
	Log      *zap.Logger
}

// Lookup implements Records.
func (d DNSRecords) Lookup(ctx context.Context, domain string) (Record, bool, error) {
	res, err := d.Resolver.Lookup(ctx, domain)
	switch {
	case errors.Is(err, peerrec.ErrTemporary):
		return Record{}, false, fmt.Errorf("%w: %w", ErrTemporary, err)
	case err != nil:
		if d.Log != nil {
			d.Log.Warn("malformed gateway record ignored", zap.String("domain", domain), zap.Error(err))
		}
		return Record{}, false, nil
	case !res.Found:
		return Record{}, false, nil
	}
	r := res.Record
	return Record{JID: r.JID, Fingerprint: r.FingerprintHex(), Strict: r.Policy == peerrec.Strict, TTL: r.TTL,
		Authenticated: res.Authenticated, Published: r}, true, nil
}

// TrustFunc adapts a function to Trust.
type TrustFunc func(ctx context.Context, domain string, rec Record, served []byte) (Verdict, string, error)

// Check implements Trust.
func (f TrustFunc) Check(ctx context.Context, domain string, rec Record, served []byte) (Verdict, string, error) {
	return f(ctx, domain, rec, served)
}
