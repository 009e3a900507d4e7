package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"passerelle/gateway/queue"
)

// The queue commands that change a message (retry, hold, release, delete)
// reach the running gateway over a unix socket in the spool directory,
// served by the gateway itself: the scheduler owns the queue's state, so
// it applies each command between deliveries (queue.Queue.Retry, ...) and
// nothing depends on the spool's on-disk format. The socket is created
// only after the spool's lock is taken (one gateway per spool) and is
// mode 0600: whoever may use it may already read the spool.
const controlSocket = "control.sock"

// controlTimeout bounds one command, both sides.
const controlTimeout = 30 * time.Second

// controlRequest is one JSON line from `passerelle queue ...`.
type controlRequest struct {
	Op     string `json:"op"` // retry, hold, release, delete, show
	ID     string `json:"id,omitempty"`
	All    bool   `json:"all,omitempty"`    // retry: every message
	Silent bool   `json:"silent,omitempty"` // delete: no DSN
}

// controlResponse is the gateway's one JSON line back.
type controlResponse struct {
	N        int             `json:"n,omitempty"`
	Envelope *queue.Envelope `json:"envelope,omitempty"`
	Error    string          `json:"error,omitempty"`
	NotFound bool            `json:"not_found,omitempty"`
}

type controlServer struct {
	ln  net.Listener
	q   *queue.Queue
	log *zap.Logger
}

// listenControl binds spool.dir/control.sock, replacing a stale socket
// left by a gateway that died (the spool lock says none runs now).
func (g *gateway) listenControl() error {
	path := filepath.Join(g.cfg.Spool.Dir, controlSocket)
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	g.control = &controlServer{ln: ln, q: g.queue, log: g.log.Named("control")}
	return nil
}

// serve answers commands until ctx is done.
func (s *controlServer) serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and the like: mail goes on; so do commands, later.
			s.log.Warn("control socket accept", zap.Error(err))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		go s.handle(ctx, c)
	}
}

func (s *controlServer) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in control command", zap.Any("panic", p), zap.Stack("stack"))
		}
	}()
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadBytes('\n')
	if err != nil {
		return
	}
	var req controlRequest
	resp := controlResponse{}
	if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else {
		resp = s.do(ctx, req)
	}
	_ = json.NewEncoder(c).Encode(resp)
}

func (s *controlServer) do(ctx context.Context, req controlRequest) controlResponse {
	var resp controlResponse
	var err error
	switch req.Op {
	case "retry":
		id := req.ID
		if req.All {
			id = ""
		} else if id == "" {
			err = errors.New("retry: an id or all")
			break
		}
		resp.N, err = s.q.Retry(ctx, id)
	case "hold":
		err = s.q.Hold(ctx, req.ID)
	case "release":
		err = s.q.Release(ctx, req.ID)
	case "delete":
		err = s.q.Delete(ctx, req.ID, req.Silent)
	case "show":
		resp.Envelope, err = s.q.Show(ctx, req.ID)
	default:
		err = fmt.Errorf("unknown command %q", req.Op)
	}
	if err != nil {
		resp.Error, resp.NotFound = err.Error(), errors.Is(err, queue.ErrNotFound)
	}
	return resp
}

// errNoGateway means nothing serves the control socket.
var errNoGateway = errors.New("no gateway is running on this spool")

// askGateway sends one command to the gateway serving spoolDir.
func askGateway(ctx context.Context, spoolDir string, req controlRequest) (controlResponse, error) {
	path := filepath.Join(spoolDir, controlSocket)
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return controlResponse{}, fmt.Errorf("%w (%s: %w)", errNoGateway, path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return controlResponse{}, fmt.Errorf("control socket: %w", err)
	}
	var resp controlResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return controlResponse{}, fmt.Errorf("control socket: no answer: %w", err)
	}
	return resp, nil
}
