package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"go.uber.org/zap"
)

// Recover checks the whole spool after a start or crash and builds the
// index. It empties tmp/; replays the log segments in order (a torn record
// at a segment's end, a write a crash cut short, was never acknowledged and
// is ignored; a damaged region elsewhere is copied to quarantine/ and
// replay resumes at the next sound record); quarantines every message whose
// bodies are missing, short or do not match their SHA-256; imports the
// messages of the file-per-message format (env/, body/) into the log;
// deletes body files no message claims and segments nothing refers to.
// It returns what it quarantined; each is also logged at error level.
// Recover waits for operations in progress.
func (s *FileStore) Recover(ctx context.Context) ([]Damaged, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.clearTmp(); err != nil {
		return nil, err
	}
	legacy, damaged, err := s.checkEnvelopes(ctx)
	if err != nil {
		return damaged, err
	}
	d, err := s.replayLog(ctx)
	damaged = append(damaged, d...)
	if err != nil {
		return damaged, err
	}
	if err := s.importLegacy(ctx, legacy); err != nil {
		return damaged, err
	}
	err = s.removeOrphans(func(id string, n int) bool {
		e := s.idx[id]
		return e != nil && n < len(e.inline) && e.inline[n] < 0
	})
	if err != nil {
		return damaged, err
	}
	segs := s.reclaim()
	sortDamaged(damaged)
	s.log.Info("spool recovered", zap.Int("messages", len(s.idx)), zap.Int("quarantined", len(damaged)),
		zap.Int("log_segments", segs), zap.Int("imported", len(legacy)))
	return damaged, nil
}

// replayLog rebuilds the index from the log and quarantines the messages
// whose bodies do not check out.
func (s *FileStore) replayLog(ctx context.Context) ([]Damaged, error) {
	if err := s.w.close(); err != nil {
		return nil, fmt.Errorf("recover spool: %w", err)
	}
	w, err := newWAL(s.sub(dirLog), s.fs)
	if err != nil {
		return nil, fmt.Errorf("recover spool: %w", err)
	}
	w.segMax = s.w.segMax
	s.w = w
	s.idx = make(map[string]*logEntry)
	seqs, err := listSegments(s.fs, s.sub(dirLog))
	if err != nil {
		return nil, fmt.Errorf("recover spool: %w", err)
	}
	var damaged []Damaged
	bad := map[string]string{} // id -> reason, for bodies that do not check out
	lost := lostPuts{}
	for _, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return damaged, err
		}
		seg := &segment{seq: seq, path: filepath.Join(s.sub(dirLog), segName(seq))}
		s.w.segs = append(s.w.segs, seg)
		data, err := s.readAllFile(seg.path)
		if err != nil {
			return damaged, fmt.Errorf("recover spool: %w", err)
		}
		var regions []damageSpan
		replaySegment(data, func(rec *rawRecord) {
			lost.apply(rec)
			s.applyLocked(rec, seg, bad)
		}, func(sp damageSpan) {
			if n := sp.rec.damagedBody(); n >= 0 {
				// The envelope checks out and body n explains the damage:
				// the message is known, so its sender can be told.
				env := sp.rec.hdr.Env
				lost[env.ID] = &lostPut{env: env, region: data[sp.from:sp.to],
					reason: fmt.Sprintf("%v: body %d sha256 mismatch (log segment %s at %d)", ErrDamaged, n, segName(seq), sp.from)}
				if e := s.idx[env.ID]; e != nil {
					s.dropLocked(e) // an older copy (compaction): the damaged one superseded it
				}
				return
			}
			regions = append(regions, sp)
		})
		for _, sp := range regions {
			d, err := s.quarantineRegion(seg, data, sp)
			if err != nil {
				return damaged, err
			}
			damaged = append(damaged, d)
		}
	}
	d, err := s.quarantineLost(lost)
	damaged = append(damaged, d...)
	if err != nil {
		return damaged, err
	}
	for id := range s.idx {
		if e := s.idx[id]; bad[id] == "" && lost[id] == nil {
			if err := s.checkFileBodies(e); err != nil {
				bad[id] = err.Error()
			}
		}
	}
	ids := make([]string, 0, len(bad))
	for id := range bad {
		if s.idx[id] != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		env := s.idx[id].env
		if err := s.quarantineEntry(s.idx[id], bad[id]); err != nil {
			return damaged, err
		}
		damaged = append(damaged, Damaged{ID: id, Reason: bad[id], Envelope: env})
	}
	return damaged, nil
}

// lostPut is a message whose put record is damaged in a body while its
// envelope checks out. Later records still apply to it: updates change
// its state, a removal means it was finished anyway, a new put (a
// compaction's copy) supersedes it.
type lostPut struct {
	env    *Envelope
	region []byte
	reason string
}

type lostPuts map[string]*lostPut

func (l lostPuts) apply(rec *rawRecord) {
	h := &rec.hdr
	p := l[h.ID]
	if p == nil {
		return
	}
	switch h.Op {
	case opUpdate:
		if sameRecipients(p.env.Recipients, h.Rcpts) == nil {
			p.env = p.env.Clone()
			p.env.Recipients = h.Rcpts
		}
	case opPut, opRemove, opQuarantine:
		delete(l, h.ID)
	}
}

// quarantineLost writes each lost message to quarantine/<id>/: its
// envelope, the damaged record and the reason.
func (s *FileStore) quarantineLost(lost lostPuts) ([]Damaged, error) {
	ids := make([]string, 0, len(lost))
	for id := range lost {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var damaged []Damaged
	for _, id := range ids {
		p := lost[id]
		env, err := encodeEnvelope(p.env)
		if err != nil {
			return damaged, err
		}
		qdir := filepath.Join(s.sub(dirQuarantine), id)
		if err := s.fs.MkdirAll(qdir); err != nil {
			return damaged, fmt.Errorf("quarantine %s: %w", id, err)
		}
		files := map[string][]byte{"reason.txt": []byte(p.reason + "\n"), id + ".json": env, "records": p.region}
		for name, b := range files {
			if _, err := s.writeAtomic(context.Background(), filepath.Join(qdir, name), b); err != nil {
				return damaged, fmt.Errorf("quarantine %s: %w", id, err)
			}
		}
		if err := s.fs.SyncDir(s.sub(dirQuarantine)); err != nil {
			return damaged, fmt.Errorf("quarantine %s: %w", id, err)
		}
		s.log.Error("message quarantined", zap.String("id", id), zap.String("reason", p.reason), zap.String("path", qdir))
		damaged = append(damaged, Damaged{ID: id, Reason: p.reason, Envelope: p.env})
	}
	return damaged, nil
}

func (s *FileStore) readAllFile(path string) ([]byte, error) {
	f, err := s.fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// damageSpan is a region of a segment that holds no sound record.
type damageSpan struct {
	from, to int64
	id       string     // the message the damaged record names, if readable
	rec      *rawRecord // what could be parsed of the damaged record
	err      error
}

// replaySegment calls apply for every sound record of a segment's bytes in
// order, and damaged for every damaged region, where it is met. An
// incomplete record or zeros at the end are a torn write: ignored.
func replaySegment(data []byte, apply func(*rawRecord), damaged func(damageSpan)) {
	off := int64(0)
	for {
		rec, err := parseRecord(data, off)
		switch {
		case err == io.EOF, errors.Is(err, errTorn):
			return
		case err != nil:
			sp := damageSpan{from: off, to: int64(len(data)), err: err, rec: rec}
			if rec == nil {
				sp.rec = &rawRecord{}
			}
			sp.id = sp.rec.hdr.ID
			next := frameEnd(data, off) // the record's own length, if it still frames it
			if next < 0 {
				next = resync(data, off)
			}
			if next > 0 {
				sp.to = next
			}
			damaged(sp)
			if next < 0 {
				return
			}
			off = next
		default:
			apply(rec)
			off += rec.size
		}
	}
}

// applyLocked replays one record into the index. Updates and removals of
// messages the index does not hold (moved by compaction, or removed in a
// segment already deleted) are ignored.
func (s *FileStore) applyLocked(rec *rawRecord, seg *segment, bad map[string]string) {
	h := &rec.hdr
	en := s.idx[h.ID]
	switch h.Op {
	case opPut:
		s.addLocked(&logEntry{env: h.Env, inline: rec.inlineOffsets()}, seg)
		delete(bad, h.ID)
		for n, in := range h.Inline {
			if !in {
				continue
			}
			if sha256Hex(rec.inlineBody(n)) != h.Env.Bodies[n].SHA256 {
				bad[h.ID] = fmt.Sprintf("%v: body %d sha256 mismatch", ErrDamaged, n)
			}
		}
	case opUpdate:
		if en == nil {
			return
		}
		ne := en.env.Clone()
		ne.Recipients = h.Rcpts
		if err := sameRecipients(en.env.Recipients, h.Rcpts); err != nil || ne.validate(true) != nil {
			s.log.Warn("log: update record does not fit its message", zap.String("id", h.ID))
			return
		}
		en.state.refs--
		en.state = seg
		seg.refs++
		en.env = ne
	case opRemove, opQuarantine:
		if en != nil {
			s.dropLocked(en)
		}
	}
}

// checkFileBodies verifies the bodies of e kept in body/.
func (s *FileStore) checkFileBodies(e *logEntry) error {
	for n, off := range e.inline {
		if off < 0 {
			if err := s.checkBody(e.env.ID, n, e.env.Bodies[n]); err != nil {
				return err
			}
		}
	}
	return nil
}

// quarantineRegion copies a damaged region of a segment to
// quarantine/log-<segment>-<offset>/ with the reason. The segment itself
// stays until nothing live refers to it.
func (s *FileStore) quarantineRegion(seg *segment, data []byte, sp damageSpan) (Damaged, error) {
	key := fmt.Sprintf("log-%016x-%d", seg.seq, sp.from)
	reason := sp.err.Error()
	if sp.id != "" {
		reason = fmt.Sprintf("message %s: %s", sp.id, reason)
	}
	qdir := filepath.Join(s.sub(dirQuarantine), key)
	if err := s.fs.MkdirAll(qdir); err != nil {
		return Damaged{}, fmt.Errorf("quarantine %s: %w", key, err)
	}
	for name, b := range map[string][]byte{"reason.txt": []byte(reason + "\n"), "records": data[sp.from:sp.to]} {
		if _, err := s.writeAtomic(context.Background(), filepath.Join(qdir, name), b); err != nil {
			return Damaged{}, fmt.Errorf("quarantine %s: %w", key, err)
		}
	}
	if err := s.fs.SyncDir(s.sub(dirQuarantine)); err != nil {
		return Damaged{}, fmt.Errorf("quarantine %s: %w", key, err)
	}
	s.log.Error("damaged log region quarantined", zap.String("id", key), zap.String("reason", reason),
		zap.String("path", qdir))
	return Damaged{ID: key, Reason: reason}, nil
}

// importLegacy moves the sound messages of the file-per-message format
// into the log: a put record per message whose bodies stay in body/ (same
// names), all sharing one fsync, then env/<id>.json is deleted. A crash in
// between leaves both; the next Recover sees the id in the log and only
// deletes the envelope file.
func (s *FileStore) importLegacy(ctx context.Context, legacy map[string]int) error {
	if len(legacy) == 0 {
		return nil
	}
	ids := make([]string, 0, len(legacy))
	for id := range legacy {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	type imported struct {
		e   *Envelope
		pos recPos
	}
	var done []imported
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.idx[id] != nil {
			continue
		}
		e, err := s.readEnvelope(id)
		if err != nil {
			return fmt.Errorf("import %s: %w", id, err)
		}
		rec, _, err := encodeRecord(&recHeader{Op: opPut, ID: id, Env: e, Inline: make([]bool, len(e.Bodies))})
		if err != nil {
			return fmt.Errorf("import %s: %w", id, err)
		}
		pos, err := s.w.append(rec)
		if err != nil {
			return fmt.Errorf("import %s: %w", id, err)
		}
		done = append(done, imported{e, pos})
	}
	if len(done) > 0 {
		if err := s.w.wait(done[len(done)-1].pos); err != nil {
			return fmt.Errorf("import spool: %w", err)
		}
	}
	for _, im := range done {
		inline := make([]int64, len(im.e.Bodies))
		for i := range inline {
			inline[i] = -1
		}
		s.addLocked(&logEntry{env: im.e, inline: inline}, im.pos.seg)
	}
	for _, id := range ids {
		s.removeQuietly(s.envPath(id))
	}
	return s.syncDir(dirEnv)
}
