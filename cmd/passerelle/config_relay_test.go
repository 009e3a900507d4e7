package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRelayExampleConfigs(t *testing.T) {
	t.Setenv("PASSERELLE_RELAY_PASSWORD", "example-only")
	for _, f := range []string{"relay-hub.toml", "relay-client.toml"} {
		c, err := LoadConfig(filepath.Join("../../testdata/configs", f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f == "relay-client.toml" && (c.Policy.Route != "smtp" || c.XMPP.ComponentDomain != "hub.example") {
			t.Errorf("client defaults: route %q, component domain %q", c.Policy.Route, c.XMPP.ComponentDomain)
		}
	}
}

// TestRelayConfigErrors: check-config catches each side's mistakes.
func TestRelayConfigErrors(t *testing.T) {
	t.Setenv("PASSERELLE_RELAY_PASSWORD", "example-only")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("../../testdata/configs", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	hub, client := read("relay-hub.toml"), read("relay-client.toml")
	for _, tc := range []struct {
		name, base, old, new, want string
	}{
		{"no mode", hub, `mode = "hub"`, ``, "relay: set relay.mode"},
		{"unknown mode", hub, `mode = "hub"`, `mode = "both"`, `relay.mode: "both"`},
		{"client key on a hub", hub, `retry = "30s"`, `hub = "mail.x.example"`, "are client keys; this is a hub"},
		{"direct_tls on a hub", hub, `retry = "30s"`, `direct_tls = true`, "are client keys; this is a hub"},
		{"client JID with a resource", hub, `jid = "home@hub.example"`, `jid = "home@hub.example/r"`, "relay.client[0].jid"},
		{"bad client fingerprint", hub, `fingerprint = "0123456789ABCDEF0123456789ABCDEF01234567"`, `fingerprint = "0123"`, "relay.client[0].fingerprint"},
		{"client domain is local", hub, `domains = ["home.example"]`, `domains = ["hub.example"]`, "hub.example is also in local_domains"},
		{"negative rate", hub, `max_recipients_per_hour = 1000`, `max_recipients_per_hour = -1`, "relay.client[0].max_recipients_per_hour"},
		{"client without domains", hub, `domains = ["home.example"]`, `domains = []`, "relay.client[0].domains: required"},
		{"client with an MX listener", client, `[smtp.submission]`, "[smtp.mx]\nlisten = \"0.0.0.0:25\"\n[smtp.submission]", "a relay client has no MX listener"},
		{"client without smarthost", client, `addr = "127.0.0.1:10025"`, ``, "delivery.smarthost.addr: required on a relay client"},
		{"client without hub fingerprint", client, `hub_fingerprint = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"`, ``, "relay.hub_fingerprint"},
		{"client hub is an account", client, `hub = "mail.hub.example"`, `hub = "hub@hub.example"`, "relay.hub"},
		{"client without password", client, `password = { env = "PASSERELLE_RELAY_PASSWORD" }`, ``, "relay.password"},
		{"client with a component", client, `upload_service = "upload.hub.example"`, "component_addr = \"127.0.0.1:5347\"\nupload_service = \"upload.hub.example\"", "a relay client has no component"},
		{"hub keys on a client", client, `retry = "30s"`, `key_dir = "k"`, "are hub keys; this is a client"},
		{"unknown relay key", client, `retry = "30s"`, `retyr = "30s"`, "relay.retyr: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(tc.base, tc.old) {
				t.Fatalf("%q not in the base config", tc.old)
			}
			dir := t.TempDir()
			for _, f := range []string{"example-component.secret", "example-relay.hash", "example-cert.pem", "example-key.pem", "example-dkim.pem"} {
				os.Symlink(filepath.Join(must(filepath.Abs("../../testdata/configs")), f), filepath.Join(dir, f))
			}
			p := filepath.Join(dir, "c.toml")
			if err := os.WriteFile(p, []byte(strings.Replace(tc.base, tc.old, tc.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadConfig: %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// TestRelayClientKeyNamesAccount: a relay client's gateway key is named
// after its account, not after a component it does not have.
func TestRelayClientKeyNamesAccount(t *testing.T) {
	t.Setenv("PASSERELLE_RELAY_PASSWORD", "example-only")
	c, err := LoadConfig("../../testdata/configs/relay-client.toml")
	if err != nil {
		t.Fatal(err)
	}
	c.Keys.Dir = t.TempDir()
	var out strings.Builder
	if err := keysInit(c, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "domain key for home@hub.example:") {
		t.Errorf("keys init: %s", out.String())
	}
}

func TestRelayServerDefault(t *testing.T) {
	for _, tc := range []struct {
		r    RelayConfig
		want string
	}{
		{RelayConfig{JID: "home@hub.example"}, "hub.example:5222"},
		{RelayConfig{JID: "home@hub.example", DirectTLS: true}, "hub.example:5223"},
		{RelayConfig{JID: "home@hub.example", DirectTLS: true, Server: "xmpp.hub.example:443"}, "xmpp.hub.example:443"},
	} {
		if got := tc.r.server(); got != tc.want {
			t.Errorf("%+v: server %q, want %q", tc.r, got, tc.want)
		}
	}
}
