package keys

import (
	"sync"
	"time"
)

// cache holds resolver answers until they expire and the last fingerprint
// seen per address, both bounded to max entries.
type cache struct {
	max     int
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]cacheEntry
	seen    map[string]Fingerprint
}

type cacheEntry struct {
	res     Result
	err     error
	expires time.Time
}

func newCache(max int, now func() time.Time) *cache {
	return &cache{max: max, now: now, entries: make(map[string]cacheEntry), seen: make(map[string]Fingerprint)}
}

func (c *cache) get(addr string, now time.Time) (Result, error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[addr]
	if !ok || !now.Before(e.expires) {
		return Result{}, nil, false
	}
	return e.res, e.err, true
}

func (c *cache) put(addr string, res Result, err error, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[addr]; !ok && len(c.entries) >= c.max {
		c.evict(c.now())
	}
	c.entries[addr] = cacheEntry{res: res, err: err, expires: expires}
	if res.Key != nil {
		if _, ok := c.seen[addr]; !ok && len(c.seen) >= c.max {
			for k := range c.seen {
				delete(c.seen, k)
				break
			}
		}
		c.seen[addr] = res.Fingerprint
	}
}

// evict drops expired entries, or one arbitrary entry if none expired.
func (c *cache) evict(now time.Time) {
	n := len(c.entries)
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < n {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		return
	}
}

func (c *cache) drop(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, addr)
}

func (c *cache) lastSeen(addr string) (Fingerprint, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fp, ok := c.seen[addr]
	return fp, ok
}
