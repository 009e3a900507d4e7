package queue

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"go.uber.org/zap"
)

// maxQuotedHeader bounds how much of the original message is read for the
// text/rfc822-headers part.
const maxQuotedHeader = 64 << 10

// dsnAction is the RFC 3464 §2.3.3 Action of every recipient in one DSN.
type dsnAction string

const (
	actionFailed  dsnAction = "failed"
	actionDelayed dsnAction = "delayed"
)

// buildDSN writes the RFC 3464 multipart/report about recipients idx of e:
// a human-readable part, a message/delivery-status part and, only when the
// body is a plain RFC 5322 message, its header as text/rfc822-headers. It
// never includes message content beyond that header.
func (q *Queue) buildDSN(ctx context.Context, e *Envelope, idx []int, action dsnAction) ([]byte, error) {
	var buf bytes.Buffer
	mw, err := message.CreateWriter(&buf, q.dsnHeader(e, action))
	if err != nil {
		return nil, err
	}
	if err := writePart(mw, textHeader(), q.humanText(e, idx, action)); err != nil {
		return nil, err
	}
	if err := writePart(mw, statusHeader(), q.statusFields(e, idx, action)); err != nil {
		return nil, err
	}
	if hdr := q.originalHeader(ctx, e, idx); hdr != nil {
		if err := writePart(mw, headersHeader(hdr), hdr); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// dsnHeader is the top-level header. go-message writes fields in reverse
// order of addition, so they are listed bottom-up.
func (q *Queue) dsnHeader(e *Envelope, action dsnAction) message.Header {
	var h message.Header
	h.SetContentType("multipart/report", map[string]string{"report-type": "delivery-status"})
	h.Add("Auto-Submitted", "auto-replied") // RFC 3834 §5
	switch action {
	case actionDelayed:
		h.Add("Subject", "Delayed Mail (still being retried)")
	case actionDelivered, actionRelayed:
		h.Add("Subject", "Successful Mail Delivery Report")
	default:
		h.Add("Subject", "Undelivered Mail Returned to Sender")
	}
	h.Add("Message-Id", "<"+NewID()+"@"+q.cfg.DSN.ReportingMTA+">")
	h.Add("Date", q.cfg.Now().Format(time.RFC1123Z))
	h.Add("To", "<"+sanitizeAddr(e.From)+">")
	h.Add("From", "Mail Delivery System <"+sanitizeAddr(q.cfg.DSN.Postmaster)+">")
	return h
}

func textHeader() message.Header {
	var h message.Header
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Description", "Notification")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return h
}

func statusHeader() message.Header {
	var h message.Header
	h.SetContentType("message/delivery-status", nil)
	h.Set("Content-Description", "Delivery report")
	return h
}

func headersHeader(hdr []byte) message.Header {
	var h message.Header
	h.SetContentType("text/rfc822-headers", nil)
	h.Set("Content-Description", "Undelivered message headers")
	if !isASCII(string(hdr)) {
		h.Set("Content-Transfer-Encoding", "8bit")
	}
	return h
}

func writePart(mw *message.Writer, h message.Header, body []byte) error {
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	if _, err := pw.Write(body); err != nil {
		return err
	}
	return pw.Close()
}

// originalHeader returns the header of the first plain body among the
// failed recipients', or nil: opaque bodies (ciphertext) are never quoted.
func (q *Queue) originalHeader(ctx context.Context, e *Envelope, idx []int) []byte {
	for _, i := range idx {
		n := e.Recipients[i].Body
		if e.Bodies[n].Kind != BodyMessage || e.Recipients[i].LastError == damagedText {
			continue // never quote a body that failed its checks
		}
		hdr, err := q.readHeader(ctx, e.ID, n)
		if err != nil {
			q.log.Warn("DSN without original header", zap.String("id", e.ID), zap.Error(err))
			return nil
		}
		return hdr
	}
	return nil
}

func (q *Queue) readHeader(ctx context.Context, id string, n int) ([]byte, error) {
	rc, err := q.store.OpenBody(ctx, id, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(rc, maxQuotedHeader)))
	if err != nil {
		return nil, fmt.Errorf("read original header: %w", err)
	}
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, h); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
