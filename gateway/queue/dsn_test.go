package queue

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
)

// report is a DSN parsed back with go-message.
type report struct {
	header     message.Header
	parts      int
	human      string
	message    map[string]string
	recipients []map[string]string
	headers    string // the text/rfc822-headers part, if any
}

// parseReport parses a DSN and checks its RFC 3464 structure.
func parseReport(t *testing.T, raw []byte) *report {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("DSN has a line not ended by CRLF")
	}
	m, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	rep := &report{header: m.Header}
	mt, params, _ := m.Header.ContentType()
	if mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("Content-Type %s %v", mt, params)
	}
	mr := m.MultipartReader()
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		rep.addPart(t, p)
	}
	return rep
}

func (rep *report) addPart(t *testing.T, p *message.Entity) {
	t.Helper()
	body, err := io.ReadAll(p.Body)
	if err != nil {
		t.Fatalf("read part: %v", err)
	}
	mt, _, _ := p.Header.ContentType()
	want := []string{"text/plain", "message/delivery-status", "text/rfc822-headers"}
	if rep.parts >= len(want) || mt != want[rep.parts] {
		t.Fatalf("part %d is %s", rep.parts, mt)
	}
	switch rep.parts {
	case 0:
		rep.human = string(body)
	case 1:
		rep.parseStatus(t, body)
	case 2:
		rep.headers = string(body)
	}
	rep.parts++
}

// parseStatus reads the field groups of message/delivery-status.
func (rep *report) parseStatus(t *testing.T, body []byte) {
	br := bufio.NewReader(bytes.NewReader(body))
	for i := 0; ; i++ {
		h, err := textproto.ReadHeader(br)
		if err != nil {
			t.Fatalf("delivery-status group %d: %v", i, err)
		}
		fields := map[string]string{}
		for f := h.Fields(); f.Next(); {
			fields[f.Key()] = f.Value()
		}
		if i == 0 {
			rep.message = fields
		} else {
			rep.recipients = append(rep.recipients, fields)
		}
		if _, err := br.Peek(1); err == io.EOF {
			return
		}
	}
}

func TestDSNStructure(t *testing.T) {
	h := newHarness(t, nil)
	e := testEnvelope("bob@example.net", "jörg@example.de")
	e.Received = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e.Recipients[0].ORCPT = "rfc822;Bob@Example.NET"
	mustPut(t, h.store, e, plainMessage)
	for i := range e.Recipients {
		r := &e.Recipients[i]
		r.State, r.LastError, r.LastAttempt = StateFailed, "refused\r\nInjected: yes", e.Received.Add(time.Hour)
		r.Diag = &Diagnostic{Status: "5.7.1", RemoteMTA: "xmpp.example.net"}
	}
	raw, err := h.q.buildDSN(context.Background(), e, []int{0, 1}, actionFailed)
	if err != nil {
		t.Fatal(err)
	}
	rep := parseReport(t, raw)
	tests := []struct{ got, want string }{
		{rep.header.Get("From"), "Mail Delivery System <postmaster@gw.example.org>"},
		{rep.header.Get("To"), "<alice@example.org>"},
		{rep.header.Get("Auto-Submitted"), "auto-replied"},
		{rep.message["Reporting-Mta"], "dns; gw.example.org"},
		{rep.message["Arrival-Date"], "Sun, 01 Mar 2026 12:00:00 +0000"},
		{rep.recipients[0]["Original-Recipient"], "rfc822;Bob@Example.NET"},
		{rep.recipients[0]["Final-Recipient"], "rfc822; bob@example.net"},
		{rep.recipients[0]["Status"], "5.7.1"},
		{rep.recipients[0]["Remote-Mta"], "dns; xmpp.example.net"},
		{rep.recipients[0]["Diagnostic-Code"], "X-Passerelle; refused  Injected: yes"},
		{rep.recipients[0]["Last-Attempt-Date"], "Sun, 01 Mar 2026 13:00:00 +0000"},
		{rep.recipients[1]["Final-Recipient"], `utf-8; j\x{F6}rg@example.de`},
		{rep.recipients[1]["Injected"], ""},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("check %d: got %q, want %q", i, tt.got, tt.want)
		}
	}
	if !strings.Contains(rep.human, "<jörg@example.de>:") || strings.Contains(string(raw), "SECRET") {
		t.Errorf("human part: %q", rep.human)
	}
	if !strings.HasPrefix(rep.headers, "From: Alice <alice@example.org>\r\n") {
		t.Errorf("headers part: %q", rep.headers)
	}
}
