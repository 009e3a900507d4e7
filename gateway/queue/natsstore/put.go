package natsstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// Put implements [queue.Store]. Bodies that fit go inline in the put
// record; larger ones are streamed to the object store first. Put returns
// nil once the server has acknowledged the put record, i.e. once it is
// stored on a quorum of the stream's replicas. An envelope with its ID
// set keeps it, and a Put of an ID already stored stores nothing
// ([queue.SharedStore]).
func (s *Store) Put(ctx context.Context, env *queue.Envelope, bodies ...io.Reader) error {
	e, err := queue.PrepareEnvelope(env, len(bodies))
	if err != nil {
		return err
	}
	if e.ID != "" {
		if !queue.ValidID(e.ID) {
			return fmt.Errorf("%w: bad id %q", queue.ErrInvalid, e.ID)
		}
		if s.stored(ctx, e.ID) {
			*env = *e
			s.log.Info("already spooled; not stored again", zap.String("id", e.ID))
			return nil
		}
	} else {
		e.ID = queue.NewID()
	}
	if err := s.put(ctx, e, bodies); err != nil {
		return fmt.Errorf("spool message: %w", err)
	}
	*env = *e
	s.log.Debug("spooled", zap.String("id", e.ID), zap.Int("rcpts", len(e.Recipients)))
	return nil
}

// stored reports whether a put record for id is in the stream.
func (s *Store) stored(ctx context.Context, id string) bool {
	_, err := s.stream.GetLastMsgForSubject(ctx, s.prefix+id)
	return err == nil
}

func (s *Store) put(ctx context.Context, e *queue.Envelope, bodies []io.Reader) (err error) {
	inline := make([]bool, len(bodies))
	var data [][]byte
	var objects []string
	defer func() {
		if err != nil {
			for _, name := range objects {
				_ = s.obj.Delete(context.WithoutCancel(ctx), name)
			}
		}
	}()
	budget := s.inlineMax
	for n, r := range bodies {
		b, err := io.ReadAll(io.LimitReader(ctxReader{ctx, r}, int64(budget)+1))
		if err != nil {
			return readError(ctx, n, err)
		}
		if len(b) <= budget {
			sum := sha256.Sum256(b)
			e.Bodies[n].Size, e.Bodies[n].SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
			inline[n], data, budget = true, append(data, b), budget-len(b)
			continue
		}
		name := s.objName(e.ID, n)
		objects = append(objects, name)
		h := sha256.New()
		info, err := s.obj.Put(ctx, jetstream.ObjectMeta{Name: name},
			io.TeeReader(io.MultiReader(bytes.NewReader(b), ctxReader{ctx, r}), h))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return temporary(fmt.Sprintf("store body %d", n), err)
		}
		e.Bodies[n].Size, e.Bodies[n].SHA256 = int64(info.Size), hex.EncodeToString(h.Sum(nil))
	}
	rec, err := encodePut(e, inline, data)
	if err != nil {
		return err
	}
	if len(rec) > int(s.nc.MaxPayload()) {
		return fmt.Errorf("%w: envelope of %d bytes exceeds the server's max_payload", queue.ErrInvalid, len(rec))
	}
	msg := &nats.Msg{Subject: s.prefix + e.ID, Data: rec}
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.ID), jetstream.WithExpectStream(s.cfg.Stream)); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isFull(err) {
			return fmt.Errorf("%w: publish: %w", queue.ErrSpoolFull, err)
		}
		return temporary("publish", err)
	}
	return nil
}

// isFull reports a stream or account out of storage.
func isFull(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10023, // insufficient resources
		10028, // memory resources exceeded
		10047, // storage resources exceeded
		10077: // stream store failed (maximum messages or bytes exceeded)
		return true
	}
	return false
}

func readError(ctx context.Context, n int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: read body %d: %w", queue.ErrTemporary, n, err)
}

// ctxReader stops a body read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
