package reverse

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"passerelle/internal/ratelimit"
)

// Foreign senders' error replies: per sender domain and in total, per
// minute (also the burst). A federated flood gets this many errors back,
// never one per stanza.
const (
	foreignRefusalsPerDomain = 10
	foreignRefusalsTotal     = 120
	dropReportInterval       = time.Minute
)

// foreignRefusals rations the error replies to senders that are not local
// users and counts the ones dropped.
type foreignRefusals struct {
	domain  *ratelimit.Keyed
	total   *ratelimit.Keyed
	dropped atomic.Int64
}

func newForeignRefusals(now func() time.Time) foreignRefusals {
	perMinute := func(n int) *ratelimit.Keyed {
		return ratelimit.New(ratelimit.Config{Rate: float64(n) / 60, Burst: n, Now: now})
	}
	return foreignRefusals{domain: perMinute(foreignRefusalsPerDomain), total: perMinute(foreignRefusalsTotal)}
}

// allow takes a token from the domain's bucket and, if there was one,
// from the total.
func (f *foreignRefusals) allow(domain string) bool {
	return f.domain.Allow(strings.ToLower(domain)) && f.total.Allow("")
}

func (f *foreignRefusals) drop() { f.dropped.Add(1) }

// reportDrops logs, once per interval in which some were dropped, how many
// foreign senders' stanzas got no error reply.
func (rv *Reverse) reportDrops(ctx context.Context) {
	t := time.NewTicker(dropReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := rv.foreign.dropped.Swap(0); n > 0 {
				rv.log.Warn("stanzas from foreign senders dropped without an error reply (over the reply rate or queue)",
					zap.Int64("dropped", n), zap.Duration("interval", dropReportInterval))
			}
		}
	}
}
