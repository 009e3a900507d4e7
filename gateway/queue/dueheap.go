package queue

import (
	"container/heap"
	"time"
)

// dueHeap holds the idle entries, earliest dueAt first; entries due at
// the same time leave in the order they entered, so a backlog of new
// messages (all due at once) is delivered first come, first served.
// Busy entries are not in it. Use push and pop, not the heap.Interface
// methods.
type dueHeap struct {
	delayWarn time.Duration // Config.DelayWarning: a warning owed is due too
	es        []*entry
	seq       uint64 // next entry.seq
}

func (h *dueHeap) Len() int { return len(h.es) }

func (h *dueHeap) Less(i, j int) bool {
	a, b := h.es[i], h.es[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.seq < b.seq
}

func (h *dueHeap) Swap(i, j int) {
	h.es[i], h.es[j] = h.es[j], h.es[i]
	h.es[i].index, h.es[j].index = i, j
}

func (h *dueHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(h.es)
	h.es = append(h.es, e)
}

func (h *dueHeap) Pop() any {
	n := len(h.es) - 1
	e := h.es[n]
	h.es[n] = nil // let a removed message be collected
	h.es = h.es[:n]
	e.index = -1
	return e
}

// push adds an idle entry, computing its due time once: it changes only
// when a worker reports back, and then the entry is pushed again.
func (h *dueHeap) push(e *entry) {
	e.at = e.dueAt(h.delayWarn)
	e.seq = h.seq
	h.seq++
	heap.Push(h, e)
}

// peek returns the earliest entry, or nil.
func (h *dueHeap) peek() *entry {
	if len(h.es) == 0 {
		return nil
	}
	return h.es[0]
}

func (h *dueHeap) pop() *entry { return heap.Pop(h).(*entry) }

// fix recomputes an idle entry's due time after its envelope changed
// (an operator's command) and moves it to its place.
func (h *dueHeap) fix(e *entry) {
	e.at = e.dueAt(h.delayWarn)
	heap.Fix(h, e.index)
}

// remove takes an idle entry out.
func (h *dueHeap) remove(e *entry) { heap.Remove(h, e.index) }
