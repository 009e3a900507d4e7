package smtpd

import (
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLoggingHidesSecrets(t *testing.T) {
	for _, level := range []zapcore.Level{zapcore.InfoLevel, zapcore.DebugLevel} {
		t.Run(level.String(), func(t *testing.T) {
			core, logs := observer.New(level)
			srvTLS, cliTLS := selfSigned(t)
			env := startServer(t, func(c *Config) {
				c.Logger = zap.New(core)
				c.Mode, c.TLS, c.Authenticator = ModeSubmission, srvTLS, memAuth{}
			})
			c := env.greeted(t)
			c.startTLS(cliTLS)
			c.cmd("EHLO client.example", 250)
			c.cmd("AUTH LOGIN", 334)
			c.cmd(b64("alice@example.org"), 334)
			c.cmd(b64("s3cret"), 235)
			c.cmd("MAIL FROM:<alice@example.org>", 250)
			c.cmd("RCPT TO:<v@local>", 250)
			c.cmd("RCPT TO:<nouser@local>", 550)
			c.cmd("DATA", 354)
			c.send("Subject: topsecretbody\r\n\r\nclassified\r\n.\r\n")
			c.expect(250)
			c.cmd("QUIT", 221)
			c.closed()
			env.srv.Shutdown(t.Context())

			var all strings.Builder
			sids := map[string]bool{}
			for _, e := range logs.All() {
				fmt.Fprintf(&all, "%s %s %v\n", e.LoggerName, e.Message, e.ContextMap())
				if sid, ok := e.ContextMap()["sid"]; ok {
					sids[sid.(string)] = true
				}
				if e.LoggerName != "smtpd" {
					t.Errorf("logger %q", e.LoggerName)
				}
			}
			text := all.String()
			for _, secret := range []string{"s3cret", b64("s3cret"), "topsecretbody", "classified"} {
				if strings.Contains(text, secret) {
					t.Errorf("log contains %q:\n%s", secret, text)
				}
			}
			hidden := level == zapcore.InfoLevel
			if strings.Contains(text, "nouser@local") == hidden {
				t.Errorf("address visibility wrong at %s:\n%s", level, text)
			}
			if len(sids) != 1 {
				t.Errorf("want one session id, got %v", sids)
			}
		})
	}
}
