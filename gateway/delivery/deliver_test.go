package delivery

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"passerelle/gateway/queue"
)

var _ queue.Target = (*Target)(nil)

func TestDeliverAdapter(t *testing.T) {
	ts := startServer(t, serverOpts{})
	tg := newTestTarget(t, ts.port, nil)
	d := &queue.Delivery{
		ID: "abc", From: "", IsDSN: true, // a DSN: null reverse-path
		Recipient: queue.Recipient{Addr: "bob@example.org", ORCPT: "rfc822;bob@example.org", Notify: []string{"never"}},
		Body:      queue.Body{Size: int64(len(dotBody))},
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(dotBody)), nil
		},
	}
	if err := tg.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	r := ts.next(t)
	if r.from != "" || r.to != "bob@example.org" || !bytes.Equal(r.body, []byte(dotBody)) {
		t.Errorf("got from %q to %q body %q", r.from, r.to, r.body)
	}
}
