package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestPutLoadRestart(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	e := testEnvelope("bob@example.net", "carol@example.net")
	e.Bodies = append(e.Bodies, Body{Kind: BodyOpaque})
	e.Recipients[1].Body = 1
	e.Recipients[0].ORCPT = "rfc822;bob@example.net"
	e.Recipients[0].Notify = []string{"FAILURE"}
	mustPut(t, s, e, plainMessage, cipherText)
	if !validID(e.ID) || e.Bodies[1].Size != int64(len(cipherText)) || e.Recipients[0].State != StatePending {
		t.Fatalf("Put did not fill the envelope: %+v", e)
	}
	rcpts := cloneRecipients(e.Recipients)
	rcpts[0].State, rcpts[0].Attempts = StateDelivered, 1
	rcpts[1].Attempts, rcpts[1].NextAttempt, rcpts[1].LastError = 2, time.Unix(1700000000, 0).UTC(), "stream down"
	if err := s.Update(context.Background(), e.ID, rcpts); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := newTestStore(t, dir)
	got, err := s2.Load(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("Load after restart = %d messages, %v", len(got), err)
	}
	g := got[0]
	if g.ID != e.ID || g.From != e.From || !g.Received.Equal(e.Received) || g.Recipients[0].ORCPT != e.Recipients[0].ORCPT {
		t.Errorf("envelope changed across restart:\n got %+v\nwant %+v", g, e)
	}
	if g.Recipients[0].State != StateDelivered || g.Recipients[1].Attempts != 2 ||
		!g.Recipients[1].NextAttempt.Equal(rcpts[1].NextAttempt) || g.Recipients[1].Params["jid"] != "carol@example.net" {
		t.Errorf("recipient state lost: %+v", g.Recipients)
	}
	if b := readBody(t, s2, e.ID, 0); b != plainMessage {
		t.Errorf("body 0 = %q", b)
	}
	if b := readBody(t, s2, e.ID, 1); b != cipherText {
		t.Errorf("body 1 = %q", b)
	}
}

func TestPutInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *Envelope)
		bodies int
	}{
		{"body count mismatch", func(e *Envelope) {}, 2},
		{"no recipients", func(e *Envelope) { e.Recipients = nil }, 1},
		{"body index out of range", func(e *Envelope) { e.Recipients[0].Body = 1 }, 1},
		{"negative body index", func(e *Envelope) { e.Recipients[0].Body = -1 }, 1},
		{"CRLF in from", func(e *Envelope) { e.From = "a@b\r\nBcc: x@y" }, 1},
		{"empty recipient", func(e *Envelope) { e.Recipients[0].Addr = "" }, 1},
		{"unknown body kind", func(e *Envelope) { e.Bodies[0].Kind = "html" }, 1},
		{"bad state", func(e *Envelope) { e.Recipients[0].State = "lost" }, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestStore(t, dir)
			e := testEnvelope("bob@example.net")
			tt.mutate(e)
			bodies := make([]string, tt.bodies)
			var rs []*strings.Reader
			for range bodies {
				rs = append(rs, strings.NewReader(plainMessage))
			}
			err := s.Put(context.Background(), e, readers(rs)...)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("case %d: Put err = %v, want ErrInvalid", i, err)
			}
			assertNoEntry(t, dir)
		})
	}
}

// TestQuarantineOnOpen damages messages of the file-per-message format
// that earlier releases wrote: Open quarantines them and imports the rest.
func TestQuarantineOnOpen(t *testing.T) {
	tests := []struct {
		name       string
		damage     func(t *testing.T, dir, id string)
		wantReason string
	}{
		{"corrupt json", func(t *testing.T, dir, id string) {
			writeFile(t, filepath.Join(dir, dirEnv, id+".json"), `{"v":1,"id":`)
		}, "decode envelope"},
		{"truncated body", func(t *testing.T, dir, id string) {
			if err := os.Truncate(filepath.Join(dir, dirBody, id+".0"), 10); err != nil {
				t.Fatal(err)
			}
		}, "body 0 is 10 bytes"},
		{"missing body", func(t *testing.T, dir, id string) {
			if err := os.Remove(filepath.Join(dir, dirBody, id+".0")); err != nil {
				t.Fatal(err)
			}
		}, "body 0 missing"},
		{"flipped byte", func(t *testing.T, dir, id string) {
			writeFile(t, filepath.Join(dir, dirBody, id+".0"), strings.Replace(plainMessage, "SECRET", "SECRFT", 1))
		}, "sha256 mismatch"},
		{"id mismatch", func(t *testing.T, dir, id string) {
			p := filepath.Join(dir, dirEnv, id+".json")
			data, _ := os.ReadFile(p)
			writeFile(t, p, strings.Replace(string(data), id, NewID(), 1))
		}, "envelope names id"},
		{"future version", func(t *testing.T, dir, id string) {
			p := filepath.Join(dir, dirEnv, id+".json")
			data, _ := os.ReadFile(p)
			writeFile(t, p, strings.Replace(string(data), `"v":1`, `"v":9`, 1))
		}, "version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			newTestStore(t, dir).Close()
			bad, good := testEnvelope("bob@example.net"), testEnvelope("carol@example.net")
			putLegacy(t, dir, bad, plainMessage)
			putLegacy(t, dir, good, plainMessage)
			tt.damage(t, dir, bad.ID)

			s2, damaged, err := Open(context.Background(), dir, zaptest.NewLogger(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s2.Close()
			if len(damaged) != 1 || damaged[0].ID != bad.ID || !strings.Contains(damaged[0].Reason, tt.wantReason) {
				t.Fatalf("damaged = %+v, want %s with %q", damaged, bad.ID, tt.wantReason)
			}
			qfiles := listDir(t, dir, filepath.Join(dirQuarantine, bad.ID))
			if !contains(qfiles, bad.ID+".json") || !contains(qfiles, "reason.txt") {
				t.Errorf("quarantine/%s holds %v", bad.ID, qfiles)
			}
			msgs, err := s2.Load(context.Background())
			if err != nil || len(msgs) != 1 || msgs[0].ID != good.ID {
				t.Errorf("Load = %v, %v; want only the sound message", msgs, err)
			}
		})
	}
}

func TestRecoverRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	e := testEnvelope("bob@example.net")
	mustPut(t, s, e, largeCipher) // a file in body/
	inline := testEnvelope("carol@example.net")
	mustPut(t, s, inline, plainMessage)
	_ = s.Close()
	orphan := NewID()
	writeFile(t, filepath.Join(dir, dirBody, orphan+".0"), "half a message")
	writeFile(t, filepath.Join(dir, dirBody, e.ID+".7"), "beyond the envelope's bodies")
	writeFile(t, filepath.Join(dir, dirBody, inline.ID+".0"), "an inline body has no file")
	writeFile(t, filepath.Join(dir, dirTmp, "x.json.1234"), "{")
	writeFile(t, filepath.Join(dir, dirBody, "README"), "not ours")

	newTestStore(t, dir)
	if got := listDir(t, dir, dirBody); len(got) != 2 || !contains(got, e.ID+".0") || !contains(got, "README") {
		t.Errorf("body/ = %v, want the live body and the stranger", got)
	}
	if got := listDir(t, dir, dirTmp); len(got) != 0 {
		t.Errorf("tmp/ = %v", got)
	}
}

func TestStrangerInEnvQuarantined(t *testing.T) {
	dir := t.TempDir()
	newTestStore(t, dir).Close()
	writeFile(t, filepath.Join(dir, dirEnv, "notes.txt"), "hello")
	s, damaged, err := Open(context.Background(), dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if len(damaged) != 1 || damaged[0].ID != "env-notes.txt" {
		t.Fatalf("damaged = %+v", damaged)
	}
}

func TestOpenBodyDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	e := testEnvelope("bob@example.net")
	mustPut(t, s, e, plainMessage)
	damageBody(t, s, e.ID, 0)
	rc, err := s.OpenBody(context.Background(), e.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := readAll(rc); !errors.Is(err, ErrDamaged) {
		t.Fatalf("reading a damaged body: err = %v, want ErrDamaged", err)
	}
	if _, err := s.OpenBody(context.Background(), "../../etc/passwd", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("path traversal id: err = %v", err)
	}
}

func TestRemoveAndQuarantine(t *testing.T) {
	dir := t.TempDir()
	s := newTestStore(t, dir)
	a, b := testEnvelope("bob@example.net"), testEnvelope("carol@example.net")
	mustPut(t, s, a, plainMessage)
	mustPut(t, s, b, plainMessage)
	ctx := context.Background()
	if err := s.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: %v", err)
	}
	if err := s.Quarantine(ctx, b.ID, "operator asked"); err != nil {
		t.Fatal(err)
	}
	if err := s.Quarantine(ctx, NewID(), "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Quarantine of unknown id: %v", err)
	}
	assertNoEntry(t, dir)
	reason, _ := os.ReadFile(filepath.Join(dir, dirQuarantine, b.ID, "reason.txt"))
	if string(reason) != "operator asked\n" {
		t.Errorf("reason.txt = %q", reason)
	}
}

func TestUpdateRejectsIdentityChange(t *testing.T) {
	s := newTestStore(t, t.TempDir())
	e := testEnvelope("bob@example.net")
	mustPut(t, s, e, plainMessage)
	r := cloneRecipients(e.Recipients)
	r[0].Addr = "mallory@example.net"
	if err := s.Update(context.Background(), e.ID, r); !errors.Is(err, ErrInvalid) {
		t.Errorf("Update changing Addr: %v", err)
	}
	if err := s.Update(context.Background(), NewID(), e.Recipients); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update unknown id: %v", err)
	}
}

func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	newTestStore(t, dir)
	if _, err := NewFileStore(dir, nil); err == nil {
		t.Fatal("a second FileStore opened a locked spool")
	}
}
