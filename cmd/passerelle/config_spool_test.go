package main

import (
	"strings"
	"testing"
	"time"
)

func TestJetStreamConfigValidate(t *testing.T) {
	lifetime := 5 * 24 * time.Hour
	ok := JetStreamConfig{URLs: []string{"nats://10.0.0.1:4222", "tls://n2.example.org:4222"}, Replicas: 3}
	tests := []struct {
		name    string
		mod     func(*JetStreamConfig)
		wantErr string // "" for none
	}{
		{"valid", func(*JetStreamConfig) {}, ""},
		{"no urls", func(j *JetStreamConfig) { j.URLs = nil }, "urls: required"},
		{"bad scheme", func(j *JetStreamConfig) { j.URLs = []string{"http://x:4222"} }, "want nats://"},
		{"credentials in url", func(j *JetStreamConfig) { j.URLs = []string{"nats://u:secretpw@x:4222"} }, "no credentials in URLs"},
		{"even replicas", func(j *JetStreamConfig) { j.Replicas = 2 }, "replicas: 2"},
		{"short ack wait", func(j *JetStreamConfig) { j.AckWait = Duration{time.Second} }, "ack_wait"},
		{"max_deliver too few", func(j *JetStreamConfig) { j.MaxDeliver = 100 }, "max_deliver: 100 is too few"},
		{"user without password", func(j *JetStreamConfig) { j.User = "passerelle" }, "set both or neither"},
		{"password file missing", func(j *JetStreamConfig) {
			j.User, j.Password = "passerelle", Secret{File: "/nonexistent/nats.password"}
		}, "password"},
		{"tls ca file missing", func(j *JetStreamConfig) { j.TLSCAFile = "/nonexistent/ca.pem" }, "tls_ca_file"},
		{"credentials file missing", func(j *JetStreamConfig) { j.CredentialsFile = "/nonexistent/nats.creds" }, "credentials_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := ok
			tc.mod(&j)
			errs := j.validate(lifetime)
			if tc.wantErr == "" {
				if len(errs) != 0 {
					t.Fatalf("errors %v, want none", errs)
				}
				return
			}
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.wantErr) {
					if strings.Contains(err.Error(), "secretpw") {
						t.Fatalf("error %q shows the password", err)
					}
					return
				}
			}
			t.Fatalf("errors %v, want one containing %q", errs, tc.wantErr)
		})
	}
}

func TestSpoolBackendValidate(t *testing.T) {
	s := SpoolConfig{Dir: "/var/spool/passerelle", Workers: 1, RetryInitial: Duration{time.Minute},
		RetryMax: Duration{time.Hour}, Lifetime: Duration{time.Hour}, Backend: "redis"}
	errs := s.validate()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "spool.backend") {
		t.Fatalf("errors %v, want one about spool.backend", errs)
	}
	s.Backend = "jetstream"
	if errs := s.validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "urls") {
		t.Fatalf("errors %v, want one about spool.jetstream.urls", errs)
	}
}
