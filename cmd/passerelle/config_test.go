package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExampleConfigIsValid(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"check-config", "-c", "../../testdata/configs/example.toml"}, nil, &out, &out)
	if err != nil {
		t.Fatalf("check-config example.toml: %v", err)
	}
	if !strings.Contains(out.String(), ": ok") {
		t.Fatalf("output = %q", out.String())
	}
}

func TestBrokenConfigListsEveryError(t *testing.T) {
	_, err := LoadConfig("../../testdata/configs/broken.toml")
	if err == nil {
		t.Fatal("broken.toml accepted")
	}
	for _, want := range []string{
		"hostnme: unknown key",
		"hostname: required",
		"local_domains: required",
		"log.level",
		"smtp.max_recipients",
		"smtp.max_line_length",
		"smtp.max_conns_per_ip",
		"smtp.data_memory_budget: 1048576 is below",
		"smtp.mx.listen",
		"spool.dir: required",
		"spool.workers",
		"spool.retry_max",
		"xmpp.component_domain: required",
		"xmpp.component_secret: environment variable PASSERELLE_TEST_UNSET_SECRET is not set",
		"keys.dir: required",
		"pigeon",
		"sometimes",
		"egress.allow_networks[0]",
		"delivery.tls_policy[0].mode",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("full error:\n%v", err)
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	if err := os.WriteFile(f, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PASSERELLE_TEST_SECRET", "from-env")
	for _, tc := range []struct {
		name    string
		s       Secret
		want    string
		wantErr string
	}{
		{"inline", Secret{Value: "v"}, "v", ""},
		{"env", Secret{Env: "PASSERELLE_TEST_SECRET"}, "from-env", ""},
		{"file", Secret{File: f}, "from-file", ""},
		{"unset env", Secret{Env: "PASSERELLE_TEST_NOPE"}, "", "not set"},
		{"missing file", Secret{File: filepath.Join(dir, "nope")}, "", "no such file"},
		{"two sources", Secret{Value: "v", Env: "X"}, "", "exactly one"},
		{"none", Secret{}, "", "exactly one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Resolve()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		stdin   string
		want    string
		wantErr string
	}{
		{"version", []string{"version"}, "", "passerelle dev", ""},
		{"help", []string{"--help"}, "", "check-config -c FILE", ""},
		{"no command", nil, "", "", "no command"},
		{"unknown", []string{"frobnicate"}, "", "", "unknown command"},
		{"check-config needs -c", []string{"check-config"}, "", "", "-c FILE is required"},
		{"hash-password", []string{"hash-password"}, "secret\n", "$2a$", ""},
		{"hash-password empty", []string{"hash-password"}, "\n", "", "empty password"},
		{"policy explain", []string{"policy", "explain", "-c", "../../testdata/configs/example.toml", "newsletter@example.org"}, "",
			"no_key:            notice         (address newsletter@example.org)", ""},
		{"policy explain reverse", []string{"policy", "explain", "-c", "../../testdata/configs/example.toml", "newsletter@example.org"}, "",
			"reverse:           deny           (address newsletter@example.org)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), tc.args, strings.NewReader(tc.stdin), &out, &out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}

func TestUsersFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "users")
	if err := os.WriteFile(file, []byte("# who reads mail here\nalice@example.org\n\n  Bob@example.org  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		cfg      Config
		wantKnow []string
		wantNot  []string
	}{
		{name: "no list", cfg: Config{}, wantKnow: []string{"anyone@example.org"}},
		{name: "file", cfg: Config{UsersFile: file, Directory: map[string]string{"carol@example.org": "c@chat.example.org"}},
			wantKnow: []string{"alice@example.org", "bob@example.org", "carol@example.org"}, wantNot: []string{"dave@example.org"}},
		{name: "complete directory", cfg: Config{DirectoryComplete: true, Directory: map[string]string{"carol@example.org": "c@chat.example.org"}},
			wantKnow: []string{"carol@example.org"}, wantNot: []string{"alice@example.org"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.LocalDomains = []string{"example.org"}
			p, err := tc.cfg.policy()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.wantKnow {
				if !p.Exists(a) {
					t.Errorf("%s unknown", a)
				}
			}
			for _, a := range tc.wantNot {
				if p.Exists(a) {
					t.Errorf("%s known", a)
				}
			}
		})
	}
	c := Config{LocalDomains: []string{"example.org"}, UsersFile: filepath.Join(dir, "missing")}
	if _, err := c.policy(); err == nil || !strings.Contains(err.Error(), "users_file") {
		t.Errorf("a missing users_file: %v", err)
	}
}
