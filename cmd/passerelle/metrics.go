package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// metrics is the gateway's Prometheus registry and the counters every
// package reports to through its own small interface (smtpd.Metrics,
// queue.Metrics, keys.Metrics, xmpp.Metrics, reverse.Metrics). It is made
// per gateway: no global registry. Label values are bounded: listener and
// route names, result words, reply classes, XMPP error conditions; never
// an address.
type metrics struct {
	reg *prometheus.Registry

	conns      *prometheus.CounterVec
	txns       *prometheus.CounterVec
	replies    *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	lookups    *prometheus.CounterVec
	plaintext  *prometheus.CounterVec
	reconnects prometheus.Counter
	refusals   *prometheus.CounterVec
	smtpPlain  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	m.conns = counter("passerelle_smtp_connections_total", "SMTP connections by listener and result (accepted, refused_busy, refused_per_ip).", "listener", "result")
	m.txns = counter("passerelle_smtp_transactions_total", "SMTP DATA transactions by listener and result (accepted, refused, aborted).", "listener", "result")
	m.replies = counter("passerelle_smtp_replies_total", "Final SMTP replies sent, by listener and code class (2xx, 3xx, 4xx, 5xx).", "listener", "class")
	m.attempts = counter("passerelle_delivery_attempts_total", "Delivery attempts by route and result (delivered, temporary, permanent).", "route", "result")
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "passerelle_delivery_duration_seconds",
		Help:    "Duration of delivery attempts by route and result.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"route", "result"})
	m.reg.MustRegister(m.duration)
	m.lookups = counter("passerelle_key_lookups_total", "Recipient/sender key lookups by source (cache, keyring, pep, wkd, autocrypt) and result (found, none, unusable, error).", "source", "result")
	m.plaintext = counter("passerelle_plaintext_messages_total", "Mail carried without end-to-end encryption because policy allowed it, by path (forward: delivered over XMPP as <mail/>; reverse: spooled as plain email; peer_fallback: a policy=mixed peer domain's mail sent over SMTP).", "path")
	m.reconnects = prometheus.NewCounter(prometheus.CounterOpts{Name: "passerelle_xmpp_reconnects_total",
		Help: "Times the XMPP component link went down (or failed to come up) and was dialled again."})
	m.reg.MustRegister(m.reconnects)
	m.smtpPlain = counter("passerelle_smtp_plaintext_deliveries_total", "Messages delivered over outbound SMTP without TLS, by reason (starttls_failed: opportunistic TLS fell back, no_starttls: not offered, tls_none: TLS off for the destination).", "reason")
	m.refusals = counter("passerelle_reverse_refusals_total", "XMPP messages refused on the reverse path, by the XMPP error condition sent back.", "reason")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// The methods below implement the packages' Metrics interfaces. A nil
// *metrics counts nothing (a gateway a test assembles without one).

// smtpd.Metrics
func (m *metrics) Connection(listener, result string) {
	if m != nil {
		m.conns.WithLabelValues(listener, result).Inc()
	}
}

func (m *metrics) Transaction(listener, result string) {
	if m != nil {
		m.txns.WithLabelValues(listener, result).Inc()
	}
}

func (m *metrics) Reply(listener, class string) {
	if m != nil {
		m.replies.WithLabelValues(listener, class).Inc()
	}
}

// queue.Metrics
func (m *metrics) Attempt(route, result string, took time.Duration) {
	if m != nil {
		m.attempts.WithLabelValues(route, result).Inc()
		m.duration.WithLabelValues(route, result).Observe(took.Seconds())
	}
}

// keys.Metrics
func (m *metrics) Lookup(source, result string) {
	if m != nil {
		m.lookups.WithLabelValues(source, result).Inc()
	}
}

// xmpp.Metrics
func (m *metrics) Reconnect() {
	if m != nil {
		m.reconnects.Inc()
	}
}

// delivery.Metrics
func (m *metrics) PlaintextDelivery(reason string) {
	if m != nil {
		m.smtpPlain.WithLabelValues(reason).Inc()
	}
}

// reverse.Metrics
func (m *metrics) Refusal(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) Plaintext(path string) {
	if m != nil {
		m.plaintext.WithLabelValues(path).Inc()
	}
}

// watch registers the gauges read at scrape time: the queue's content
// (from the running scheduler, not the disk) and the XMPP link's state.
func (m *metrics) watch(q *queue.Queue, linkUp func() bool, now func() time.Time) {
	m.reg.MustRegister(newQueueCollector(q, now))
	if ss, ok := q.Store().(*sharedSpool); ok {
		m.watchShared(ss)
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "passerelle_xmpp_link_up",
		Help: "1 while the XMPP component link is up, else 0."}, func() float64 {
		if linkUp() {
			return 1
		}
		return 0
	}))
}

// queueCollector asks the scheduler for its counts at each scrape.
type queueCollector struct {
	q   *queue.Queue
	now func() time.Time

	rcpts, msgs, age *prometheus.Desc
}

func newQueueCollector(q *queue.Queue, now func() time.Time) *queueCollector {
	return &queueCollector{q: q, now: now,
		rcpts: prometheus.NewDesc("passerelle_queue_recipients",
			"Recipients in the queue by state (pending, failed: DSN owed, delivered: message not finished) and route.",
			[]string{"state", "route"}, nil),
		msgs: prometheus.NewDesc("passerelle_queue_messages", "Messages in the queue.", nil, nil),
		age: prometheus.NewDesc("passerelle_queue_oldest_message_age_seconds",
			"Age of the oldest message in the queue (0 when empty); alert on this rather than on the length.", nil, nil)}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rcpts
	ch <- c.msgs
	ch <- c.age
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.q.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.msgs, fmt.Errorf("queue stats: %w", err))
		return
	}
	for k, n := range st.Recipients {
		ch <- prometheus.MustNewConstMetric(c.rcpts, prometheus.GaugeValue, float64(n), string(k.State), k.Route)
	}
	ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.GaugeValue, float64(st.Messages))
	age := 0.0
	if !st.Oldest.IsZero() {
		age = max(c.now().Sub(st.Oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// healthServer serves /metrics, /healthz and /readyz on [metrics] listen.
type healthServer struct {
	ln  net.Listener
	srv *http.Server
}

func (g *gateway) listenMetrics() error {
	if g.cfg.Metrics.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", g.cfg.Metrics.Listen)
	if err != nil {
		return fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	// A scheduler too busy to answer costs the queue gauges, not the scrape.
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.metrics.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := g.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	g.health = &healthServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	return nil
}

// ready is /readyz: the spool takes writes and the XMPP link is up; the
// error says which is not.
func (g *gateway) ready() error {
	var errs []error
	if err := probeWritable(g.cfg.Spool.Dir); err != nil {
		errs = append(errs, fmt.Errorf("spool not writable: %w", err))
	}
	if ss, ok := g.store.(*sharedSpool); ok && !ss.Connected() {
		errs = append(errs, errors.New("shared spool: not connected to the NATS cluster"))
	}
	if !g.component.Connected() {
		errs = append(errs, errors.New("xmpp component link down"))
	}
	return errors.Join(errs...)
}

// probeWritable creates and removes a file in dir: a read-only or full
// file system fails it.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".readyz-*")
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte{'\n'})
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, cerr, rerr)
}

// serve runs the HTTP server until ctx is done.
func (h *healthServer) serve(ctx context.Context, log *zap.Logger) error {
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.srv.Shutdown(sctx)
	})
	defer stop()
	log.Info("listening", zap.String("listener", "metrics"), zap.String("addr", h.ln.Addr().String()))
	if err := h.srv.Serve(h.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// watchShared adds the gauges of a node on the shared spool: its name (the
// queue gauges above count what this node holds; Prometheus's instance
// label, or node here, tells the nodes apart) and the whole queue's size.
func (m *metrics) watchShared(s *sharedSpool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "passerelle_node_info",
		Help:        "1, labelled with this node's name and spool backend.",
		ConstLabels: prometheus.Labels{"node": s.Node(), "spool": spoolJetStream}}, func() float64 { return 1 }))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "passerelle_shared_spool_records",
		Help: "Messages in the shared spool, all nodes' (quarantined ones included); -1 if the cluster does not answer."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := s.Records(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "passerelle_shared_spool_connected",
		Help: "1 while this node is connected to the NATS cluster, else 0."}, func() float64 {
		if s.Connected() {
			return 1
		}
		return 0
	}))
}
