package reverse

import (
	"sync"
	"time"
)

// Limits bound what one sender (bare JID) may send. Zero fields take the
// defaults.
type Limits struct {
	// RatePerMinute is the token bucket's refill rate: messages per
	// minute, sustained; over it the sender gets resource-constraint
	// (type wait). Default 30.
	RatePerMinute float64
	// Burst is the bucket's size. Default 10.
	Burst int
	// MaxRecipientsPerHour bounds the distinct recipients one sender
	// writes to within an hour; over it the sender gets policy-violation.
	// Default 100.
	MaxRecipientsPerHour int
	// MaxSenders bounds the senders tracked at once; idle ones go first.
	// Default 10000.
	MaxSenders int
}

func (l Limits) withDefaults() Limits {
	if l.RatePerMinute <= 0 {
		l.RatePerMinute = 30
	}
	if l.Burst <= 0 {
		l.Burst = 10
	}
	if l.MaxRecipientsPerHour <= 0 {
		l.MaxRecipientsPerHour = 100
	}
	if l.MaxSenders <= 0 {
		l.MaxSenders = 10000
	}
	return l
}

const recipientWindow = time.Hour

// limiter keeps a token bucket and the recent recipients of each sender.
type limiter struct {
	lim Limits
	now func() time.Time

	mu      sync.Mutex
	senders map[string]*senderState
}

type senderState struct {
	tokens float64
	last   time.Time
	rcpts  map[string]time.Time // recipient -> first message in the window
}

func newLimiter(l Limits, now func() time.Time) *limiter {
	return &limiter{lim: l.withDefaults(), now: now, senders: make(map[string]*senderState)}
}

// Outcomes of allow.
const (
	allowed = iota
	overRate
	overRecipients
)

// allow takes a token for sender writing to rcpt.
func (l *limiter) allow(sender, rcpt string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	s := l.state(sender, now)
	s.tokens = min(float64(l.lim.Burst), s.tokens+now.Sub(s.last).Minutes()*l.lim.RatePerMinute)
	s.last = now
	for r, t := range s.rcpts {
		if now.Sub(t) >= recipientWindow {
			delete(s.rcpts, r)
		}
	}
	if _, known := s.rcpts[rcpt]; !known && len(s.rcpts) >= l.lim.MaxRecipientsPerHour {
		return overRecipients
	}
	if s.tokens < 1 {
		return overRate
	}
	s.tokens--
	if _, known := s.rcpts[rcpt]; !known {
		s.rcpts[rcpt] = now
	}
	return allowed
}

func (l *limiter) state(sender string, now time.Time) *senderState {
	if s, ok := l.senders[sender]; ok {
		return s
	}
	if len(l.senders) >= l.lim.MaxSenders {
		l.evict(now)
	}
	s := &senderState{tokens: float64(l.lim.Burst), last: now, rcpts: map[string]time.Time{}}
	l.senders[sender] = s
	return s
}

// evict drops senders idle for a window (their bucket is full again and
// their recipients expired), or else the longest idle one.
func (l *limiter) evict(now time.Time) {
	var oldest string
	for k, s := range l.senders {
		if now.Sub(s.last) >= recipientWindow {
			delete(l.senders, k)
		} else if oldest == "" || s.last.Before(l.senders[oldest].last) {
			oldest = k
		}
	}
	if len(l.senders) >= l.lim.MaxSenders && oldest != "" {
		delete(l.senders, oldest)
	}
}
