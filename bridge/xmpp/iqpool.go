package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"sync"

	"go.uber.org/zap"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/stanza"
)

// iqJob is one inbound IQ request, its payload copied off the stream.
type iqJob struct {
	async   bool // HandleIQAsync: bounded by the link, not Config.IQTimeout
	h       IQHandler
	iq      stanza.IQ
	payload xml.TokenReader
}

// MaxAsyncIQ bounds the HandleIQAsync handlers running at once per link.
const MaxAsyncIQ = 16

// iqPool runs a link's IQ handlers, never on the Serve goroutine, so a
// slow handler cannot stop Serve from reading the answers to Send's ack
// pings: HandleIQ handlers on Config.IQWorkers goroutines with at most
// Config.IQQueue requests waiting, HandleIQAsync handlers (which may block
// on IQs of their own or on disk) on up to MaxAsyncIQ goroutines of their
// own, so they never starve the quick ones. Past either bound the request
// is refused at once with resource-constraint (type wait, RFC 6120
// §8.3.3.18), which costs Serve one small write.
type iqPool struct {
	c     *Component
	l     *link
	jobs  chan iqJob
	async chan struct{} // semaphore of HandleIQAsync handlers running
	wg    sync.WaitGroup
}

func startIQPool(c *Component, l *link) *iqPool {
	p := &iqPool{c: c, l: l, jobs: make(chan iqJob, c.cfg.IQQueue), async: make(chan struct{}, MaxAsyncIQ)}
	for range c.cfg.IQWorkers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// offer queues j, or with async starts it on a goroutine of its own, and
// reports whether there was room.
func (p *iqPool) offer(j iqJob) bool {
	if !j.async {
		select {
		case p.jobs <- j:
			return true
		default:
			return false
		}
	}
	select {
	case p.async <- struct{}{}:
	default:
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.async }()
		p.run(j)
	}()
	return true
}

// stop is called once Serve has returned (no more offers): queued jobs
// still run, against a cancelled link context, and their answers fail to
// write; stop returns when every worker has finished.
func (p *iqPool) stop() {
	close(p.jobs)
	p.wg.Wait()
}

func (p *iqPool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		p.run(j)
	}
}

// run calls the handler (a quick one under Config.IQTimeout), copies its answer into
// memory (so a handler's reader failing half way cannot leave half an
// element on the stream) and writes the result or the error.
func (p *iqPool) run(j iqJob) {
	defer func() {
		if r := recover(); r != nil {
			p.c.log.Error("panic in IQ worker", zap.Any("panic", r), zap.Stack("stack"))
		}
	}()
	ctx, cancel := context.WithCancel(p.l.ctx)
	if !j.async {
		ctx, cancel = context.WithTimeout(p.l.ctx, p.c.cfg.IQTimeout)
	}
	defer cancel()
	reply := p.answer(ctx, j)
	wctx, wcancel := context.WithTimeout(p.l.ctx, p.c.cfg.AckTimeout)
	defer wcancel()
	if err := p.l.sess.Send(wctx, reply); err != nil {
		p.c.log.Debug("IQ answer not written", zap.String("id", j.iq.ID), zap.Error(err))
	}
}

func (p *iqPool) answer(ctx context.Context, j iqJob) xml.TokenReader {
	resp, err := p.c.callIQ(ctx, j.h, j.iq, j.payload)
	if err != nil {
		return j.iq.Error(toStanzaError(err))
	}
	if resp == nil {
		return j.iq.Result(nil)
	}
	toks, err := copyTokens(resp)
	if err != nil {
		p.c.log.Error("IQ handler answer unreadable", zap.String("id", j.iq.ID), zap.Error(err))
		return j.iq.Error(stanza.Error{Type: stanza.Wait, Condition: stanza.InternalServerError})
	}
	return j.iq.Result(toks)
}

func (c *Component) callIQ(ctx context.Context, ih IQHandler, iq stanza.IQ, payload xml.TokenReader) (resp xml.TokenReader, err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("panic in IQ handler", zap.Any("panic", r), zap.Stack("stack"))
			resp, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return ih(ctx, iq, payload)
}

// inline runs j on the Serve goroutine and writes its answer there. On a
// client link (Config.Client) mellium answers service-unavailable to any
// IQ request the handler has not answered when it returns (on a component
// link it does not), so the pool cannot be used: the handlers of such a
// link must not wait for IQ answers of their own (relay mode's client
// handlers do not: they write to disk and answer).
func (p *iqPool) inline(w xmlstream.TokenWriter, j iqJob) error {
	ctx, cancel := context.WithCancel(p.l.ctx)
	if !j.async {
		ctx, cancel = context.WithTimeout(p.l.ctx, p.c.cfg.IQTimeout)
	}
	defer cancel()
	_, err := xmlstream.Copy(w, p.answer(ctx, j))
	return err
}
