package upload

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
	"mellium.im/xmpp/jid"

	"passerelle/internal/netguard"
)

// Config configures an Uploader. IQ and one of Domain or Service are
// required.
type Config struct {
	IQ      IQer    // the component's IQ round trip
	Domain  jid.JID // XMPP server domain searched when Service is empty
	Service jid.JID // upload service JID, e.g. upload.example.org; skips discovery
	Self    jid.JID // the component's own JID, skipped by discovery

	MaxSize int64         // refuse larger blobs before asking; default 64 MiB
	Timeout time.Duration // one slot request, PUT or GET, body included; default 10 min

	TLS               *tls.Config // nil: system roots
	AllowLoopbackHTTP bool        // accept http:// URLs to loopback hosts (tests only)
	// FetchGuard filters the addresses Fetch connects to (its URL comes
	// from a remote party); the zero Guard allows public addresses only.
	FetchGuard netguard.Guard
	// FetchTimeout bounds one Fetch, body included; default Timeout.
	FetchTimeout time.Duration
	// FetchHosts, if set, are the only hosts Fetch and its redirects go
	// to (e.g. the provider's upload services); empty: any host.
	FetchHosts []string
	HTTPClient *http.Client // nil: built from the fields above; else used for PUT and GET

	Log *zap.Logger // named "upload"; nil means no logging
}

// Uploader stores blobs with HTTP File Upload. It is safe for concurrent
// use; the discovered service is remembered until a slot request says it
// is gone.
type Uploader struct {
	cfg   Config
	putc  *http.Client // slots from the configured service
	fetch *http.Client // URLs from remote parties
	log   *zap.Logger

	mu  sync.Mutex
	svc *Service // discovered or configured; nil until known
}

// New checks cfg and returns an Uploader.
func New(cfg Config) (*Uploader, error) {
	if cfg.IQ == nil || (cfg.Domain.String() == "" && cfg.Service.String() == "") {
		return nil, errors.New("upload: Config needs IQ and Domain or Service")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = cfg.Timeout
	}
	u := &Uploader{cfg: cfg, putc: cfg.HTTPClient, fetch: cfg.HTTPClient, log: cfg.Log.Named("upload")}
	if u.putc == nil {
		u.putc, u.fetch = newPutClient(cfg), newFetchClient(cfg)
	}
	return u, nil
}

// Upload stores the next size bytes of r (an encrypted blob) under a
// random name and returns the URL to GET it from. Errors are *Error.
func (u *Uploader) Upload(ctx context.Context, r io.Reader, size int64) (string, error) {
	return u.UploadAs(ctx, r, size, ".eml")
}

// UploadAs is Upload under a random name ending in ext (".pdf"): XEP-0454
// clients take the type of an aesgcm:// link from its extension. ext is
// reduced to at most 8 lower-case letters and digits after the dot; what
// is left empty becomes ".bin".
func (u *Uploader) UploadAs(ctx context.Context, r io.Reader, size int64, ext string) (string, error) {
	if err := u.checkSize(size, u.cfg.MaxSize); err != nil {
		return "", err
	}
	svc, err := u.Service(ctx)
	if err != nil {
		return "", err
	}
	if err := u.checkSize(size, svc.MaxSize); err != nil {
		return "", err
	}
	slot, err := u.requestSlot(ctx, svc.JID, size, randomName(ext))
	if err != nil {
		return "", err
	}
	if _, err := u.parseURL(slot.GetURL); err != nil {
		return "", err
	}
	began := time.Now()
	if err := u.put(ctx, slot, r, size); err != nil {
		return "", err
	}
	u.log.Debug("uploaded", zap.Int64("size", size), zap.Duration("took", time.Since(began)))
	return slot.GetURL, nil
}

func (u *Uploader) checkSize(size, limit int64) error {
	switch {
	case size <= 0:
		return &Error{Op: "slot", Kind: ErrRefused, Err: fmt.Errorf("size %d", size)}
	case limit > 0 && size > limit:
		return &Error{Op: "slot", Kind: ErrTooLarge, MaxSize: limit, Err: fmt.Errorf("size %d", size)}
	}
	return nil
}

// Service returns the upload service, discovering it on first use. A
// configured Service is asked once for its max-file-size, so a file too
// large is refused before a slot is requested.
func (u *Uploader) Service(ctx context.Context) (Service, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.svc != nil {
		return *u.svc, nil
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	var svc Service
	var err error
	if u.cfg.Service.String() != "" {
		svc, _, err = probe(ctx, u.cfg.IQ, u.cfg.Service)
		svc.JID = u.cfg.Service // trusted even if its disco#info says nothing
	} else {
		svc, err = Discover(ctx, u.cfg.IQ, u.cfg.Domain, u.cfg.Self)
	}
	if err != nil {
		return Service{}, err
	}
	u.log.Info("upload service found", zap.Stringer("jid", svc.JID), zap.Int64("max_size", svc.MaxSize))
	u.svc = &svc
	return svc, nil
}

// requestSlot asks svc for a slot (XEP-0363 §3).
func (u *Uploader) requestSlot(ctx context.Context, svc jid.JID, size int64, name string) (Slot, error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	resp, err := u.cfg.IQ.IQ(ctx, svc, requestPayload(name, size))
	if err != nil {
		return Slot{}, u.slotFailed(iqError("slot", err))
	}
	slot, err := ParseSlot(resp)
	if err != nil {
		return Slot{}, u.slotFailed(err.(*Error)) // ParseSlot returns only *Error
	}
	return slot, nil
}

// slotFailed forgets a discovered service that says it is not one.
func (u *Uploader) slotFailed(e *Error) error {
	if errors.Is(e, ErrNoService) && u.cfg.Service.String() == "" {
		u.mu.Lock()
		u.svc = nil
		u.mu.Unlock()
	}
	return e
}
