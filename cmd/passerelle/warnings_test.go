package main

import (
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		want  []string // substrings, one warning each
		wantN int
	}{
		{name: "example is clean", edit: func(*Config) {}, wantN: 0},
		{name: "short secret", edit: func(c *Config) { c.XMPP.ComponentSecret = Secret{Value: "short"} },
			want: []string{"xmpp.component_secret: 5 characters"}, wantN: 1},
		{name: "16 characters is enough", edit: func(c *Config) { c.XMPP.ComponentSecret = Secret{Value: "0123456789abcdef"} }, wantN: 0},
		{name: "encryption none", edit: func(c *Config) {
			c.Policy.Encryption = "none"
			c.Policy.Domains = map[string]RuleConfig{"b.example": {Encryption: "none"}, "a.example": {Encryption: "required"}}
			c.Policy.Addresses = map[string]RuleConfig{"x@b.example": {Encryption: "none"}}
		}, want: []string{`policy.encryption = "none"`, `policy.domains."b.example".encryption`, `policy.addresses."x@b.example"`}, wantN: 3},
		{name: "DANE with a remote resolver", edit: func(c *Config) { c.Delivery.DANE, c.Delivery.DNSServer = true, "192.0.2.53:53" },
			want: []string{"delivery.dane: the resolver 192.0.2.53:53 is not on loopback"}, wantN: 1},
		{name: "DANE with a local resolver", edit: func(c *Config) { c.Delivery.DANE, c.Delivery.DNSServer = true, "127.0.0.1:53" }, wantN: 0},
		{name: "spool on tmpfs", edit: func(c *Config) { c.Spool.Dir = "/dev/shm/passerelle-not-made/spool" },
			want: []string{"is on tmpfs"}, wantN: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "spool on tmpfs" && !onTmpfs("/dev/shm") {
				t.Skip("no tmpfs at /dev/shm on this machine")
			}
			cfg, err := LoadConfig(writeConfig(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Spool.Dir = t.TempDir()
			tc.edit(cfg)
			ws := cfg.warnings()
			if len(ws) != tc.wantN {
				t.Fatalf("warnings = %q, want %d", ws, tc.wantN)
			}
			for i, w := range tc.want {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %d = %q, want %q in it", i, ws[i], w)
				}
			}
		})
	}
}
