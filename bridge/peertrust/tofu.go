package peertrust

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"passerelle/bridge/peerrec"
)

// tofu applies trust on first use to a record whose served key matched.
func (c *Checker) tofu(ctx context.Context, domain string, rec peerrec.Record, authenticated bool) (Decision, error) {
	now := c.cfg.Now()
	fpr := hexFpr(rec.Fingerprint)
	if p, ok, err := c.cfg.Store.Get(domain); err != nil {
		return Decision{}, err
	} else if ok && p.Fingerprint == fpr && !needsTouch(p, rec, now) {
		return accepted(p), nil // the common case: no lock, no write
	} else if ok && heldRecently(p, fpr, now) {
		return Decision{Verdict: Hold, Mode: TOFU, Reason: p.Pending.Reason}, nil
	}
	var d Decision
	var alert, repinned *Pin
	err := c.cfg.Store.update(ctx, func(pins map[string]Pin) (bool, error) {
		p, ok := pins[domain]
		switch {
		case !ok:
			p = newPin(domain, rec, "tofu", now)
			pins[domain] = p
			d = Decision{Verdict: Accept, Mode: TOFU, Reason: "key pinned at first contact"}
			c.log.Info("peer key pinned at first contact", zap.String("domain", domain), zap.String("fingerprint", fpr),
				zap.String("jid", rec.JID), zap.Duration("record_ttl", rec.TTL))
			return true, nil
		case p.Fingerprint == fpr:
			d = accepted(p)
			if !needsTouch(p, rec, now) {
				return false, nil
			}
			pins[domain] = touch(p, rec, now)
			return true, nil
		case now.Before(p.Expires):
			if heldRecently(p, fpr, now) {
				d = Decision{Verdict: Hold, Mode: TOFU, Reason: p.Pending.Reason}
				return false, nil
			}
			held, fresh := hold(p, rec, authenticated, now)
			pins[domain] = held
			d = Decision{Verdict: Hold, Mode: TOFU, Reason: held.Pending.Reason}
			if fresh {
				alert = &held
			}
			return true, nil
		default:
			old := p
			p = newPin(domain, rec, "re-pin", now)
			pins[domain] = p
			d = Decision{Verdict: Accept, Mode: TOFU, Reason: fmt.Sprintf(
				"key changed after the pinned record's lifetime ended (%s); re-pinned", old.Expires.UTC().Format(time.RFC3339))}
			repinned = &old
			return true, nil
		}
	})
	if err != nil {
		return Decision{}, fmt.Errorf("peer trust %s: %w", domain, err)
	}
	if alert != nil {
		c.log.Error("ALERT: peer key changed before the pinned record's lifetime ended; mail held until `passerelle peers accept "+domain+"`",
			zap.String("domain", domain), zap.String("pinned", alert.Fingerprint), zap.String("new", fpr),
			zap.Time("pinned_until", alert.Expires), zap.Bool("authenticated", authenticated))
	}
	if repinned != nil {
		c.log.Warn("peer key changed after the pinned record's lifetime ended; re-pinned", zap.String("domain", domain),
			zap.String("old", repinned.Fingerprint), zap.String("new", fpr), zap.Time("pinned_until", repinned.Expires))
	}
	return d, nil
}

// follow records the key of a DNSSEC-validated record: the record is
// authoritative, so a change is taken (and logged).
func (c *Checker) follow(ctx context.Context, domain string, rec peerrec.Record, authenticated bool) (Decision, error) {
	now := c.cfg.Now()
	fpr := hexFpr(rec.Fingerprint)
	d := Decision{Verdict: Accept, Mode: DNSSEC, Reason: "record DNSSEC-validated (AD) and served key matches it"}
	if p, ok, err := c.cfg.Store.Get(domain); err != nil {
		return Decision{}, err
	} else if ok && p.Fingerprint == fpr && !needsTouch(p, rec, now) {
		return d, nil
	}
	var old *Pin
	err := c.cfg.Store.update(ctx, func(pins map[string]Pin) (bool, error) {
		p, ok := pins[domain]
		switch {
		case ok && p.Fingerprint == fpr:
			if !needsTouch(p, rec, now) {
				return false, nil
			}
			pins[domain] = touch(p, rec, now)
		default:
			if ok {
				old = &p
			}
			pins[domain] = newPin(domain, rec, "dnssec", now)
		}
		return true, nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("peer trust %s: %w", domain, err)
	}
	if old != nil {
		c.log.Warn("peer key changed in a DNSSEC-validated record; following it", zap.String("domain", domain),
			zap.String("old", old.Fingerprint), zap.String("new", fpr))
	}
	return d, nil
}

func accepted(p Pin) Decision {
	return Decision{Verdict: Accept, Mode: TOFU, Reason: fmt.Sprintf("key matches the pin of %s (%s)",
		p.FirstSeen.UTC().Format(time.RFC3339), p.Source)}
}

func newPin(domain string, rec peerrec.Record, source string, now time.Time) Pin {
	return Pin{Domain: domain, Fingerprint: hexFpr(rec.Fingerprint), JID: rec.JID, Source: source,
		FirstSeen: now, LastSeen: now, RecordTTL: Seconds(rec.TTL / time.Second), Expires: now.Add(rec.TTL)}
}

// touch records a sighting of the pinned key: the record promises the key
// for ttl from now, so the lifetime becomes at least now+ttl (never
// shorter: a lowered ttl does not shorten a promise already made).
func touch(p Pin, rec peerrec.Record, now time.Time) Pin {
	p.LastSeen, p.JID, p.RecordTTL = now, rec.JID, Seconds(rec.TTL/time.Second)
	if e := now.Add(rec.TTL); e.After(p.Expires) {
		p.Expires = e
	}
	return p
}

// needsTouch: write a sighting at most every touchEvery, or when the
// record's JID or ttl changed.
func needsTouch(p Pin, rec peerrec.Record, now time.Time) bool {
	return now.Sub(p.LastSeen) >= touchEvery || p.JID != rec.JID || p.RecordTTL != Seconds(rec.TTL/time.Second)
}

// heldRecently: this key change is already pending, seen within
// touchEvery, and the pin still in force: nothing to write.
func heldRecently(p Pin, fpr string, now time.Time) bool {
	return p.Fingerprint != fpr && now.Before(p.Expires) && p.Pending != nil &&
		p.Pending.Fingerprint == fpr && now.Sub(p.Pending.LastSeen) < touchEvery
}

// hold records a key change seen before the pin's lifetime ended. fresh
// reports a new alert (first sighting of this new key).
func hold(p Pin, rec peerrec.Record, authenticated bool, now time.Time) (Pin, bool) {
	fpr := hexFpr(rec.Fingerprint)
	reason := fmt.Sprintf("key changed from %s to %s before the pinned record's lifetime ended (%s); held until an operator runs `passerelle peers accept %s`",
		p.Fingerprint, fpr, p.Expires.UTC().Format(time.RFC3339), p.Domain)
	fresh := p.Pending == nil || p.Pending.Fingerprint != fpr
	if fresh {
		p.Pending = &Pending{Fingerprint: fpr, FirstSeen: now}
	} else {
		cp := *p.Pending
		p.Pending = &cp
	}
	p.Pending.JID, p.Pending.LastSeen, p.Pending.RecordTTL = rec.JID, now, Seconds(rec.TTL/time.Second)
	p.Pending.Authenticated, p.Pending.Reason = authenticated, reason
	return p, fresh
}
