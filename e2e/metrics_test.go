package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"passerelle/internal/prosodytest"
)

// opsEnv is Prosody, a gateway with [metrics] listen, and alice with a
// pinned key.
type opsEnv struct {
	srv   *prosodytest.Server
	gw    *gateway
	alice *inbox
	http  string // base URL of /metrics, /healthz, /readyz
}

func newOpsEnv(t *testing.T, tweak func(*gwConfig)) *opsEnv {
	t.Helper()
	srv := prosodytest.Start(t, prosodytest.Options{Users: map[string]string{"alice": "alice-pw", "carol": "carol-pw"}})
	addr := freePort(t)
	cfg := gwConfig{ComponentAddr: srv.ComponentAddr, ComponentDomain: srv.Component,
		ComponentSecret: srv.ComponentSecret, Domain: srv.Domain}
	if tweak != nil {
		tweak(&cfg)
	}
	cfg.Extra = "[metrics]\nlisten = \"" + addr + "\"\n" + cfg.Extra
	gw := startGateway(t, cfg)
	importKey(t, gw, newUserKey(t, "alice@"+srv.Domain))
	env := &opsEnv{srv: srv, gw: gw, http: "http://" + addr}
	env.alice = newInbox(ctxT(t, time.Minute), t, srv, "alice", "alice-pw")
	return env
}

// get returns the status and body of path.
func (env *opsEnv) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(env.http + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// metric reads one series from /metrics (labels as Prometheus writes
// them, sorted by name); absent is 0.
func (env *opsEnv) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body := env.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// waitMetric waits until series has the value want.
func (env *opsEnv) waitMetric(t *testing.T, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := env.metric(t, series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", series, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReadyz waits until /readyz answers code, and returns the body.
func (env *opsEnv) waitReadyz(t *testing.T, code int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := env.get(t, "/readyz")
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %q, want %d", got, body, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMetricsAndReadiness reads /metrics while mail flows through a real
// Prosody, and /readyz while Prosody is stopped and after it is back.
func TestMetricsAndReadiness(t *testing.T) {
	env := newOpsEnv(t, nil)
	if code, body := env.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	env.waitReadyz(t, http.StatusOK)
	env.waitMetric(t, "passerelle_xmpp_link_up", 1)

	marker := fmt.Sprintf("metrics-%x", time.Now().UnixNano())
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--body", marker)
	env.alice.next(t, 30*time.Second)
	env.waitMetric(t, `passerelle_smtp_transactions_total{listener="mx",result="accepted"}`, 1)
	env.waitMetric(t, `passerelle_delivery_attempts_total{result="delivered",route="xmpp"}`, 1)
	env.waitMetric(t, `passerelle_delivery_duration_seconds_count{result="delivered",route="xmpp"}`, 1)
	env.waitMetric(t, `passerelle_key_lookups_total{result="found",source="keyring"}`, 1)
	env.waitMetric(t, `passerelle_queue_messages`, 0)
	if n := env.metric(t, `passerelle_smtp_replies_total{class="2xx",listener="mx"}`); n < 5 {
		t.Errorf("2xx replies = %v, want at least greeting, EHLO, MAIL, RCPT, DATA's end", n)
	}
	if n := env.metric(t, `passerelle_smtp_connections_total{listener="mx",result="accepted"}`); n < 1 {
		t.Errorf("accepted connections = %v", n)
	}

	if err := env.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if body := env.waitReadyz(t, http.StatusServiceUnavailable); !strings.Contains(body, "xmpp component link down") {
		t.Errorf("/readyz body = %q, want the reason", body)
	}
	env.waitMetric(t, "passerelle_xmpp_link_up", 0)
	// A mail accepted while the link is down waits in the queue: the
	// gauges show it, by state and route.
	swaks(t, env.gw.cfg.MXAddr, "alice@example.org", true, "--body", marker+"-queued")
	env.waitMetric(t, `passerelle_queue_messages`, 1)
	env.waitMetric(t, `passerelle_queue_recipients{route="xmpp",state="pending"}`, 1)
	if age := env.metric(t, "passerelle_queue_oldest_message_age_seconds"); age <= 0 {
		t.Errorf("oldest message age = %v, want > 0", age)
	}

	if err := env.srv.StartAgain(); err != nil {
		t.Fatal(err)
	}
	env.waitReadyz(t, http.StatusOK)
	if n := env.metric(t, "passerelle_xmpp_reconnects_total"); n < 1 {
		t.Errorf("reconnects = %v, want at least 1", n)
	}
	env.waitMetric(t, `passerelle_delivery_attempts_total{result="delivered",route="xmpp"}`, 2)
	env.waitMetric(t, `passerelle_queue_messages`, 0)
}
