package queue

import (
	"context"
	"time"
)

// Metrics receives counts of delivery attempts. Label values are bounded:
// route is a configured target name, result one of "delivered",
// "temporary", "permanent". It is defined here, by its consumer;
// cmd/passerelle implements it with Prometheus. nil in Config counts
// nothing.
type Metrics interface {
	Attempt(route, result string, took time.Duration)
}

type nopMetrics struct{}

func (nopMetrics) Attempt(string, string, time.Duration) {}

func attemptResult(err error) string {
	switch {
	case err == nil:
		return "delivered"
	case IsPermanent(err):
		return "permanent"
	default:
		return "temporary"
	}
}

// Stats is what the scheduler holds at one moment: recipients by state
// and route, and the arrival of the oldest message.
type Stats struct {
	Messages   int
	Recipients map[StateRoute]int
	Oldest     time.Time // zero when the queue is empty
}

// StateRoute keys Stats.Recipients.
type StateRoute struct {
	State State
	Route string
}

// Stats asks the running scheduler for its counts. It fails with
// ctx's error when Run is not running or is too busy to answer in time.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	reply := make(chan Stats, 1)
	select {
	case q.statsReq <- reply:
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
	select {
	case st := <-reply:
		return st, nil
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
}

// stats counts the dispatcher's messages; the dispatcher goroutine only.
func (d *dispatcher) stats() Stats {
	st := Stats{Messages: len(d.msgs), Recipients: map[StateRoute]int{}}
	for _, en := range d.msgs {
		e := en.env
		if st.Oldest.IsZero() || e.Received.Before(st.Oldest) {
			st.Oldest = e.Received
		}
		for i := range e.Recipients {
			r := &e.Recipients[i]
			st.Recipients[StateRoute{State: r.State, Route: r.Route}]++
		}
	}
	return st
}
