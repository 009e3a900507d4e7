package queue

import (
	"context"
	"errors"
	"testing"
)

// relayScript is a Target that relays (as delivery.Target does); passOn
// says the next hop took the DSN request.
type relayScript struct {
	script
	passOn bool
}

func (s *relayScript) Relays() bool { return true }

func (s *relayScript) Deliver(ctx context.Context, d *Delivery) error {
	err := s.script.Deliver(ctx, d)
	d.PassedOn = s.passOn
	return err
}

// TestNotifyHonoured: RFC 3461 §4.1 NOTIFY decides which notices the
// sender gets, per recipient.
func TestNotifyHonoured(t *testing.T) {
	permanent := Permanent(errors.New("no such user"))
	tests := []struct {
		name       string
		route      string // "xmpp" (final delivery), "relay", "relay-dsn" (next hop offers DSN)
		notify     []string
		fail       bool
		wantAction string // "" = no notice
	}{
		{"success delivered", "xmpp", []string{"SUCCESS"}, false, "delivered"},
		{"success relayed", "relay", []string{"SUCCESS", "FAILURE"}, false, "relayed"},
		{"success passed on", "relay-dsn", []string{"SUCCESS"}, false, ""},
		{"default: no success notice", "xmpp", nil, false, ""},
		{"failure only, delivered", "xmpp", []string{"FAILURE"}, false, ""},
		{"default failure", "xmpp", nil, true, "failed"},
		{"never, failed", "xmpp", []string{"NEVER"}, true, ""},
		{"success only, failed", "xmpp", []string{"SUCCESS"}, true, ""},
		{"delay only, failed", "xmpp", []string{"DELAY"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *Config) {
				c.Targets["relay"] = &relayScript{}
				c.Targets["relay-dsn"] = &relayScript{passOn: true}
			})
			if tc.fail {
				h.xmpp.errs = []error{permanent}
			}
			h.run()
			e := testEnvelope("bob@example.net")
			e.Recipients[0].Route, e.Recipients[0].Notify, e.Recipients[0].ORCPT = tc.route, tc.notify, "rfc822;bob@example.net"
			mustPut(t, h.q, e, plainMessage)
			h.waitEmpty() // a notice is spooled before its message leaves; waitEmpty sees it delivered too
			dsns := h.sink.get()
			if tc.wantAction == "" {
				if len(dsns) != 0 {
					t.Fatalf("%d notices, want none", len(dsns))
				}
				return
			}
			if len(dsns) != 1 {
				t.Fatalf("%d notices, want 1", len(dsns))
			}
			rep := parseReport(t, dsns[0].body)
			if len(rep.recipients) != 1 || rep.recipients[0]["Action"] != tc.wantAction ||
				rep.recipients[0]["Original-Recipient"] != "rfc822;bob@example.net" {
				t.Errorf("recipient fields %v, want Action %s", rep.recipients, tc.wantAction)
			}
			if tc.wantAction != "failed" && rep.recipients[0]["Status"] != "2.0.0" {
				t.Errorf("status %q, want 2.0.0", rep.recipients[0]["Status"])
			}
		})
	}
}
