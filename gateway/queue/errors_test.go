package queue

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorClassification(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		wantPerm  bool
		wantDelay time.Duration
		wantDiag  string
	}{
		{"plain error is temporary", base, false, 0, ""},
		{"permanent", Permanent(base), true, 0, ""},
		{"wrapped permanent", fmt.Errorf("deliver: %w", Permanent(base)), true, 0, ""},
		{"retry after", RetryAfter(base, time.Minute), false, time.Minute, ""},
		{"diagnostic on permanent", WithDiagnostic(Permanent(base), Diagnostic{Status: "5.1.1"}), true, 0, "5.1.1"},
		{"permanent around diagnostic", Permanent(WithDiagnostic(base, Diagnostic{Status: "5.2.2"})), true, 0, "5.2.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.wantPerm {
				t.Errorf("IsPermanent = %v", got)
			}
			if d, _ := RetryDelay(tt.err); d != tt.wantDelay {
				t.Errorf("RetryDelay = %v", d)
			}
			if d, _ := DiagnosticOf(tt.err); d.Status != tt.wantDiag {
				t.Errorf("DiagnosticOf = %+v", d)
			}
			if !errors.Is(tt.err, base) || tt.err.Error() != "boom" && tt.err.Error() != "deliver: boom" {
				t.Errorf("wrapping lost the cause: %v", tt.err)
			}
		})
	}
	if Permanent(nil) != nil || RetryAfter(nil, time.Second) != nil || WithDiagnostic(nil, Diagnostic{}) != nil {
		t.Error("wrapping nil must give nil")
	}
}

func TestBackoff(t *testing.T) {
	q, err := New(Config{Store: &FileStore{}, DSN: DSNConfig{ReportingMTA: "gw"}, Rand: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		attempt int
		err     error
		want    time.Duration
	}{
		{1, errors.New("x"), 30 * time.Minute},
		{2, errors.New("x"), time.Hour},
		{3, errors.New("x"), 2 * time.Hour},
		{4, errors.New("x"), 4 * time.Hour},
		{40, errors.New("x"), 4 * time.Hour},
		{1, RetryAfter(errors.New("x"), 2*time.Minute), 2 * time.Minute},
		{1, RetryAfter(errors.New("x"), 0), time.Second},
		{1, RetryAfter(errors.New("x"), 48*time.Hour), 4 * time.Hour},
	}
	for i, tt := range tests {
		if got := q.backoff(tt.attempt, tt.err); got != tt.want {
			t.Errorf("case %d: backoff(%d, %v) = %v, want %v", i, tt.attempt, tt.err, got, tt.want)
		}
	}
	q.cfg.Rand = func() float64 { return 0.999 }
	if got := q.backoff(1, errors.New("x")); got <= 30*time.Minute || got > 36*time.Minute {
		t.Errorf("jitter high end: %v", got)
	}
	q.cfg.Rand = func() float64 { return 0 }
	if got := q.backoff(1, errors.New("x")); got != 24*time.Minute {
		t.Errorf("jitter low end: %v", got)
	}
}

func TestValidStatus(t *testing.T) {
	for s, want := range map[string]bool{
		"5.1.1": true, "4.4.7": true, "2.0.0": true, "5.123.999": true,
		"": false, "3.0.0": false, "5.1": false, "5.1.1.1": false, "5.x.1": false, "55.1.1": false, "5..1": false,
	} {
		if got := validStatus(s); got != want {
			t.Errorf("validStatus(%q) = %v", s, got)
		}
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{DSN: DSNConfig{ReportingMTA: "gw"}}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(Config{Store: &FileStore{}}); err == nil {
		t.Error("New without a reporting MTA succeeded")
	}
}
