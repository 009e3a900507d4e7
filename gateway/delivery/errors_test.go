package delivery

import (
	"context"
	"errors"
	"io"
	"net/textproto"
	"testing"

	"github.com/emersion/go-smtp"

	"passerelle/gateway/queue"
)

func TestClassify(t *testing.T) {
	reply := func(code int, ec smtp.EnhancedCode, msg string) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
	}
	tests := []struct {
		name          string
		stage         stage
		err           error
		wantPermanent bool
		wantFinal     bool
		wantStatus    string
		wantText      string
	}{
		{"rcpt 550", stageRcpt, reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user"), true, true, "5.1.1", "550 5.1.1 no such user"},
		{"rcpt 452", stageRcpt, reply(452, smtp.EnhancedCode{4, 2, 2}, "full"), false, true, "4.2.2", "452 4.2.2 full"},
		{"data 554 no enhanced code", stageData, reply(554, smtp.EnhancedCodeNotSet, "spam"), true, true, "5.0.0", "554 5.0.0 spam"},
		{"wrong class enhanced code", stageData, reply(451, smtp.EnhancedCode{5, 7, 1}, "odd"), false, true, "4.0.0", "451 4.0.0 odd"},
		{"multi-line reply", stageRcpt, reply(550, smtp.EnhancedCode{5, 7, 1}, "one\ntwo"), true, true, "5.7.1", "550 5.7.1 one two"},
		{"greeting 554", stageGreeting, reply(554, smtp.EnhancedCode{5, 3, 2}, "no"), true, false, "5.3.2", "554 5.3.2 no"},
		{"421 at rcpt tries next host", stageRcpt, reply(421, smtp.EnhancedCode{4, 3, 2}, "bye"), false, false, "4.3.2", "421 4.3.2 bye"},
		{"auth 535 is temporary", stageAuth, reply(535, smtp.EnhancedCode{5, 7, 8}, "bad"), false, false, "5.7.8", "535 5.7.8 bad"},
		{"connect refused", stageConnect, errors.New("connection refused"), false, false, "4.4.1", ""},
		{"dropped in data", stageData, io.ErrUnexpectedEOF, false, true, "4.4.2", ""},
		{"tls handshake", stageTLS, errors.New("bad certificate"), false, false, "4.7.5", ""},
		{"cancelled", stageMail, context.Canceled, false, true, "4.4.2", ""},
		{"size", stageMail, &statusError{status: "5.3.4", permanent: true, msg: "too big"}, true, false, "5.3.4", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			he := &hostError{host: "mx.example.org", stage: tt.stage, err: tt.err}
			if got := he.final(); got != tt.wantFinal {
				t.Errorf("final = %v, want %v", got, tt.wantFinal)
			}
			err := classify(he)
			if got := queue.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v", got, tt.wantPermanent)
			}
			d, _ := queue.DiagnosticOf(err)
			if d.Status != tt.wantStatus || d.RemoteMTA != "mx.example.org" {
				t.Errorf("diagnostic = %+v, want status %s", d, tt.wantStatus)
			}
			if tt.wantText != "" && (d.Text != tt.wantText || d.Type != "smtp") {
				t.Errorf("diagnostic = %+v, want text %q", d, tt.wantText)
			}
			if !errors.Is(err, tt.err) {
				t.Error("cause lost from the error chain")
			}
		})
	}
}

func TestReplyError(t *testing.T) {
	tests := []struct {
		msg      string
		wantEC   smtp.EnhancedCode
		wantText string
	}{
		{"4.7.0 TLS not available", smtp.EnhancedCode{4, 7, 0}, "TLS not available"},
		{"TLS not available", smtp.EnhancedCode{}, "TLS not available"},
		{"4.x.0 odd", smtp.EnhancedCode{}, "4.x.0 odd"},
	}
	for _, tt := range tests {
		var se *smtp.SMTPError
		if !errors.As(replyError(&textproto.Error{Code: 454, Msg: tt.msg}), &se) {
			t.Fatalf("%q: not an SMTPError", tt.msg)
		}
		if se.Code != 454 || se.EnhancedCode != tt.wantEC || se.Message != tt.wantText {
			t.Errorf("%q: got %+v", tt.msg, se)
		}
	}
}
