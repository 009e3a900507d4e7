package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"passerelle/gateway/queue"
)

// stage is the step of an SMTP session an error happened in.
type stage int

const (
	stageConnect stage = iota
	stageGreeting
	stageTLS
	stageAuth
	stageMail
	stageRcpt
	stageData
)

var stageNames = [...]string{"connect", "greeting", "starttls", "auth", "mail from", "rcpt to", "data"}

func (s stage) String() string { return stageNames[s] }

// hostError is a failed session with one host.
type hostError struct {
	host  string
	stage stage
	err   error
}

func (e *hostError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.host, e.stage, e.err)
}

func (e *hostError) Unwrap() error { return e.err }

// final reports whether no other host should be tried after e: the remote
// has answered RCPT or DATA (RFC 5321 §5.1 fails over only when a host
// cannot be reached or will not start a transaction), or the attempt was
// cancelled. A 421 means the host is shutting down, so the next host is
// tried.
func (e *hostError) final() bool {
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		return true
	}
	var se *smtp.SMTPError
	if errors.As(e.err, &se) && se.Code == 421 {
		return false
	}
	return e.stage >= stageRcpt
}

// classify turns a session error into what the queue expects: permanent
// for a 5xx reply (except to AUTH, a local configuration problem) or a
// permanent local decision, else temporary; with the remote reply, if any,
// as the DSN diagnostic.
func classify(e *hostError) error {
	var st *statusError
	if errors.As(e.err, &st) {
		err := queue.WithDiagnostic(e, queue.Diagnostic{Status: st.status, Text: e.Error(), RemoteMTA: e.host})
		if st.permanent {
			return queue.Permanent(err)
		}
		return err
	}
	var se *smtp.SMTPError
	if !errors.As(e.err, &se) {
		return queue.WithDiagnostic(e, queue.Diagnostic{
			Status: networkStatus(e.stage), Text: e.Error(), RemoteMTA: e.host,
		})
	}
	err := queue.WithDiagnostic(e, replyDiagnostic(e.host, se))
	if se.Code >= 500 && e.stage != stageAuth {
		return queue.Permanent(err)
	}
	return err
}

// networkStatus is the RFC 3463 code for a failure without a reply.
func networkStatus(s stage) string {
	switch s {
	case stageConnect:
		return "4.4.1" // no answer from host
	case stageTLS:
		return "4.7.5" // cryptographic failure
	default:
		return "4.4.2" // bad connection
	}
}

// replyDiagnostic records an SMTP reply for a DSN (RFC 3464 §2.3.6).
func replyDiagnostic(host string, se *smtp.SMTPError) queue.Diagnostic {
	status := enhancedStatus(se)
	text := strings.ReplaceAll(se.Message, "\n", " ")
	return queue.Diagnostic{
		Status:    status,
		Type:      "smtp",
		Text:      fmt.Sprintf("%d %s %s", se.Code, status, text),
		RemoteMTA: host,
	}
}

// enhancedStatus returns the reply's RFC 3463 code, or X.0.0 from the
// reply class when it has none or one of the wrong class.
func enhancedStatus(se *smtp.SMTPError) string {
	class := se.Code / 100
	ec := se.EnhancedCode
	if ec[0] != class || ec[1] < 0 || ec[2] < 0 {
		return fmt.Sprintf("%d.0.0", class)
	}
	return fmt.Sprintf("%d.%d.%d", ec[0], ec[1], ec[2])
}

// localFailure builds an error decided here rather than by a remote reply.
func localFailure(permanent bool, status, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	err = queue.WithDiagnostic(err, queue.Diagnostic{Status: status, Text: err.Error()})
	if permanent {
		return queue.Permanent(err)
	}
	return err
}
