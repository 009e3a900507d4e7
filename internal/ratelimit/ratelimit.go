// Package ratelimit keeps token buckets by key (a sender, a domain), with
// a bound on how many keys it tracks, for the limits an unauthenticated or
// federated party must meet before the gateway does work for it.
package ratelimit

import (
	"sync"
	"time"
)

// Config configures a Keyed. Rate and Burst are required.
type Config struct {
	Rate    float64          // tokens added per second
	Burst   int              // bucket size; a new key starts full
	MaxKeys int              // keys tracked at once; default 10000
	Now     func() time.Time // nil: time.Now
}

// Keyed is a set of token buckets, one per key. It is safe for concurrent
// use. When it tracks MaxKeys keys, a new key first drops the buckets
// that have refilled (forgetting them changes nothing), else the one idle
// longest: under a flood of distinct keys, a forgotten key gets a fresh
// burst, so a Keyed bounds each key's rate, and an overall limit (a Keyed
// used with a single key) bounds the sum.
type Keyed struct {
	cfg Config

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a Keyed.
func New(cfg Config) *Keyed {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Keyed{cfg: cfg, buckets: make(map[string]*bucket)}
}

// PerHour returns a Config allowing n per hour, with a burst of n.
func PerHour(n int) Config {
	return Config{Rate: float64(n) / 3600, Burst: n}
}

// Allow takes a token from key's bucket and reports whether there was one.
func (k *Keyed) Allow(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.refill(key)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// Has reports whether key's bucket holds a token, without taking it. With
// Take it lets a caller charge several Keyeds only if all of them allow
// (the caller serialises the pair).
func (k *Keyed) Has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refill(key).tokens >= 1
}

// Take takes a token from key's bucket, which may go below zero.
func (k *Keyed) Take(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refill(key).tokens--
}

// Len is the number of keys tracked.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

func (k *Keyed) refill(key string) *bucket {
	now := k.cfg.Now()
	b, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= k.cfg.MaxKeys {
			k.evict(now)
		}
		b = &bucket{tokens: float64(k.cfg.Burst), last: now}
		k.buckets[key] = b
		return b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(k.cfg.Burst), b.tokens+d.Seconds()*k.cfg.Rate)
		b.last = now
	}
	return b
}

func (k *Keyed) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for key, b := range k.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*k.cfg.Rate >= float64(k.cfg.Burst) {
			delete(k.buckets, key)
			continue
		}
		if oldest == "" || b.last.Before(oldestAt) {
			oldest, oldestAt = key, b.last
		}
	}
	if len(k.buckets) >= k.cfg.MaxKeys && oldest != "" {
		delete(k.buckets, oldest)
	}
}
