package smtpd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestSMTPError(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		wantCode int
		wantEnh  smtp.EnhancedCode
		wantMsg  string // "" skips the text check
	}{
		{"temporary", TemporaryFailure, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"no such user", NoSuchUser, 550, smtp.EnhancedCode{5, 1, 1}, ""},
		{"relay", RelayDenied, 550, smtp.EnhancedCode{5, 7, 1}, "Relaying denied"},
		{"no key", EncryptionRequired, 550, smtp.EnhancedCode{5, 7, 1}, ""},
		{"key lookup", KeyLookupTemporary, 451, smtp.EnhancedCode{4, 7, 0}, ""},
		{"storage", StorageFull, 452, smtp.EnhancedCode{4, 3, 1}, ""},
		{"too big", TooBig, 552, smtp.EnhancedCode{5, 3, 4}, ""},
		{"policy", PolicyRejected, 550, smtp.EnhancedCode{5, 7, 1}, ""},
		{"rate", RateLimited, 451, smtp.EnhancedCode{4, 7, 1}, ""},
		{"auth failed", AuthFailed, 535, smtp.EnhancedCode{5, 7, 8}, ""},
		{"auth temporary", AuthTemporary, 454, smtp.EnhancedCode{4, 7, 0}, ""},
		{"data memory budget", NoMemory, 452, smtp.EnhancedCode{4, 3, 1}, ""},
		{"wrapped kind", fmt.Errorf("lookup x: %w", NoSuchUser), 550, smtp.EnhancedCode{5, 1, 1}, ""},
		{"joined kind", errors.Join(io.EOF, StorageFull), 452, smtp.EnhancedCode{4, 3, 1}, ""},
		{"unknown kind", Kind(99), 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"unknown error", errors.New("open /var/spool: permission denied"), 451, smtp.EnhancedCode{4, 3, 0}, "Temporary local problem, please try again later"},
		{"context", context.DeadlineExceeded, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"reject", &Reject{550, [3]int{5, 7, 26}, "DMARC policy"}, 550, smtp.EnhancedCode{5, 7, 26}, "DMARC policy"},
		{"wrapped reject", fmt.Errorf("x: %w", &Reject{Code: 450, Enhanced: [3]int{4, 2, 1}, Msg: "later"}), 450, smtp.EnhancedCode{4, 2, 1}, "later"},
		{"reject no enhanced", &Reject{Code: 554, Msg: "no"}, 554, smtp.EnhancedCode{5, 0, 0}, "no"},
		{"reject 250", &Reject{Code: 250, Msg: "ok?"}, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"reject class mismatch", &Reject{Code: 550, Enhanced: [3]int{4, 1, 1}, Msg: "x"}, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"reject CRLF in text", &Reject{Code: 550, Enhanced: [3]int{5, 1, 1}, Msg: "a\r\n250 ok"}, 550, smtp.EnhancedCode{5, 1, 1}, "a250 ok"},
		{"reject empty text", &Reject{Code: 550, Enhanced: [3]int{5, 1, 1}}, 451, smtp.EnhancedCode{4, 3, 0}, ""},
		{"go-smtp error", smtp.ErrDataTooLarge, 552, smtp.EnhancedCode{5, 3, 4}, ""},
		{"bad go-smtp error", &smtp.SMTPError{Code: 250, Message: "x"}, 451, smtp.EnhancedCode{4, 3, 0}, ""},
	}
	for i, tc := range cases {
		t.Run(caseName(i, tc.name), func(t *testing.T) {
			got := SMTPError(tc.err)
			if got.Code != tc.wantCode || got.EnhancedCode != tc.wantEnh {
				t.Fatalf("got %d %v, want %d %v", got.Code, got.EnhancedCode, tc.wantCode, tc.wantEnh)
			}
			if tc.wantMsg != "" && got.Message != tc.wantMsg {
				t.Fatalf("message %q, want %q", got.Message, tc.wantMsg)
			}
			if got.Code/100 == 2 {
				t.Fatal("an error must never map to 2xx")
			}
		})
	}
	if SMTPError(nil) != nil {
		t.Fatal("nil must stay nil")
	}
}

func TestKindMessages(t *testing.T) {
	for k := range kindReplies {
		if k.Error() == "" || !errors.Is(fmt.Errorf("w: %w", k), k) {
			t.Fatalf("kind %d", k)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	base := Config{Hostname: "h", Router: memRouter{}, Sink: &memSink{}}
	bad := []func(*Config){
		func(c *Config) { c.Hostname = "" },
		func(c *Config) { c.Router = nil },
		func(c *Config) { c.Sink = nil },
		func(c *Config) { c.Mode = ModeSubmission }, // no TLS, no Authenticator
		func(c *Config) { c.MaxRecipients = 99 },
		func(c *Config) { c.MaxLineLength = 100 },
		func(c *Config) { c.ReadTimeout = -1 },
	}
	for i, mutate := range bad {
		c := base
		mutate(&c)
		if _, err := New(c); err == nil {
			t.Errorf("case %d: New accepted an invalid config", i)
		}
	}
	s, err := New(base)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.MaxRecipients != 100 || s.cfg.MaxLineLength != 512 || s.cfg.MaxDataLineLength != 1000 || s.cfg.ReadTimeout != DefaultReadTimeout {
		t.Fatalf("defaults not applied: %+v", s.cfg)
	}
}
