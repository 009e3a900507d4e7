package main

import (
	"strings"
	"testing"
	"time"
)

func TestInboundValidate(t *testing.T) {
	for i, tc := range []struct {
		in      InboundConfig
		wantErr []string
	}{
		{in: defaultInbound()},
		{in: InboundConfig{Verify: false, Unauthenticated: "reject", DNSServer: "127.0.0.1:53", Timeout: Duration{time.Second}}},
		{in: InboundConfig{Unauthenticated: "drop", DNSServer: "localhost", Timeout: Duration{0}},
			wantErr: []string{"inbound.unauthenticated", "inbound.dns_server", "inbound.timeout"}},
	} {
		errs := tc.in.validate()
		if len(errs) != len(tc.wantErr) {
			t.Errorf("%d: errors %v, want %v", i, errs, tc.wantErr)
			continue
		}
		for j, want := range tc.wantErr {
			if !strings.HasPrefix(errs[j].Error(), want+":") {
				t.Errorf("%d: error %q, want key %s", i, errs[j], want)
			}
		}
	}
}
