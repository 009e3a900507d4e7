package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

const plainMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: quarterly numbers\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"\r\n" +
	"SECRET BODY CONTENT\r\n"

const cipherText = "\x85\x01\x0cOPAQUE-CIPHERTEXT-BYTES"

// testEnvelope has one plain body and the given recipients on route "xmpp".
func testEnvelope(rcpts ...string) *Envelope {
	e := &Envelope{From: "alice@example.org", Bodies: []Body{{Kind: BodyMessage}}}
	for _, a := range rcpts {
		e.Recipients = append(e.Recipients, Recipient{Addr: a, Route: "xmpp", Params: map[string]string{"jid": a}})
	}
	return e
}

func newTestStore(t *testing.T, dir string) *FileStore {
	t.Helper()
	s, damaged, err := Open(context.Background(), dir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(damaged) != 0 {
		t.Fatalf("Open: unexpected damaged entries %v", damaged)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

type putter interface {
	Put(ctx context.Context, env *Envelope, bodies ...io.Reader) error
}

func mustPut(t *testing.T, s putter, e *Envelope, bodies ...string) {
	t.Helper()
	var rs []io.Reader
	for _, b := range bodies {
		rs = append(rs, strings.NewReader(b))
	}
	if err := s.Put(context.Background(), e, rs...); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func readBody(t *testing.T, s Store, id string, n int) string {
	t.Helper()
	rc, err := s.OpenBody(context.Background(), id, n)
	if err != nil {
		t.Fatalf("OpenBody(%s, %d): %v", id, n, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatalf("read body %s.%d: %v", id, n, err)
	}
	return buf.String()
}

// listDir returns the names in dir/sub.
func listDir(t *testing.T, dir, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		t.Fatalf("read %s: %v", sub, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// assertNoEntry checks that nothing was left in body/, env/ or tmp/, and
// that the log holds no message.
func assertNoEntry(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{dirBody, dirEnv, dirTmp} {
		if names := listDir(t, dir, sub); len(names) != 0 {
			t.Errorf("%s/ not empty: %v", sub, names)
		}
	}
	envs, damaged, err := Snapshot(dir)
	if err != nil || len(envs) != 0 || len(damaged) != 0 {
		t.Errorf("log holds %d messages, %v damaged (%v)", len(envs), damaged, err)
	}
}

// damageBody changes one byte of body n of message id where the store
// keeps it (inline in a log segment, or a file in body/), behind its back.
func damageBody(t *testing.T, s *FileStore, id string, n int) {
	t.Helper()
	s.imu.Lock()
	e := s.idx[id]
	s.imu.Unlock()
	if e == nil {
		t.Fatalf("damageBody: no message %s", id)
	}
	path, off := e.put.path, e.inline[n]
	if off < 0 {
		path, off = s.bodyPath(id, n), 0
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// damageHeader changes the last byte of the header of message id's put
// record (the closing brace of its JSON) behind the store's back, so the
// envelope can no longer be read. The message must have an inline body.
func damageHeader(t *testing.T, s *FileStore, id string) {
	t.Helper()
	s.imu.Lock()
	e := s.idx[id]
	s.imu.Unlock()
	if e == nil || e.inline[0] < 0 {
		t.Fatalf("damageHeader: no message %s with an inline body", id)
	}
	f, err := os.OpenFile(e.put.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{'X'}, e.inline[0]-1); err != nil {
		t.Fatal(err)
	}
}

// putLegacy writes a message in the file-per-message format of earlier
// releases (env/<id>.json, body/<id>.<n>), as such a spool holds it.
func putLegacy(t *testing.T, dir string, e *Envelope, bodies ...string) {
	t.Helper()
	e.ID = NewID()
	e.Received = time.Now().UTC().Round(0)
	for i := range e.Recipients {
		e.Recipients[i].State = StatePending
	}
	for n, b := range bodies {
		sum := sha256.Sum256([]byte(b))
		e.Bodies[n].Size, e.Bodies[n].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
		writeFile(t, filepath.Join(dir, dirBody, e.ID+"."+strconv.Itoa(n)), b)
	}
	data, err := encodeEnvelope(e)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, dirEnv, e.ID+".json"), string(data))
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readers(rs []*strings.Reader) []io.Reader {
	out := make([]io.Reader, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
