package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"passerelle/internal/netguard"
	"passerelle/internal/offheap"
)

const maxRedirects = 3

// newPutClient is the client for slots: their URLs come from the
// configured upload service, so the address filter does not apply (the
// service may well sit on an internal address). No proxy from the
// environment: only cmd reads it.
func newPutClient(cfg Config) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg.TLS,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute, // after the body is sent
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		WriteBufferSize:       256 << 10,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // a PUT is not redirected
	}}
}

// newFetchClient is the client for Fetch, whose URL a remote party chose:
// it dials only what cfg.FetchGuard allows (checked on the address
// dialled, so DNS rebinding does not get past it) and follows at most
// maxRedirects redirects, each checked like the first URL.
func newFetchClient(cfg Config) *http.Client {
	c := &http.Client{Transport: cfg.FetchGuard.Transport(cfg.TLS)}
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &Error{Op: "get", Kind: ErrBadURL, Err: fmt.Errorf("more than %d redirects", maxRedirects)}
		}
		if err := checkURL(req.URL, cfg.AllowLoopbackHTTP); err != nil {
			return err
		}
		return checkFetchHost(req.URL, cfg.FetchHosts)
	}
	return c
}

// checkFetchHost refuses a host not in hosts, when hosts is not empty.
func checkFetchHost(u *url.URL, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	h := strings.TrimSuffix(u.Hostname(), ".")
	for _, ok := range hosts {
		if strings.EqualFold(h, strings.TrimSuffix(ok, ".")) {
			return nil
		}
	}
	return &Error{Op: "get", Kind: ErrBadURL, Err: fmt.Errorf("host %q is not one of the fetch hosts", h)}
}

// checkURL allows https, and plain http to a loopback address only when
// allowLoopback is set (tests): a GET URL may come from a remote sender.
func checkURL(u *url.URL, allowLoopback bool) error {
	switch {
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return nil
	case u.Scheme == "http" && allowLoopback && isLoopback(u.Hostname()) && u.User == nil:
		return nil
	}
	return &Error{Op: "url", Kind: ErrBadURL, Err: fmt.Errorf("scheme %q host %q", u.Scheme, u.Hostname())}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (u *Uploader) parseURL(raw string) (*url.URL, error) {
	p, err := url.Parse(raw)
	if err != nil {
		return nil, &Error{Op: "url", Kind: ErrBadURL, Err: err}
	}
	return p, checkURL(p, u.cfg.AllowLoopbackHTTP)
}

// put sends size bytes of r to the slot (XEP-0363 §5) and wants 201 or 200.
func (u *Uploader) put(ctx context.Context, s Slot, r io.Reader, size int64) error {
	target, err := u.parseURL(s.PutURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target.String(), io.LimitReader(r, size))
	if err != nil {
		return &Error{Op: "put", Kind: ErrBadURL, Err: err}
	}
	req.ContentLength = size
	req.Header = s.Header.Clone()
	req.Header.Set("Content-Type", contentType)
	resp, err := u.putc.Do(req)
	if err != nil {
		return &Error{Op: "put", Kind: ErrTransport, Transient: true, Err: err}
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return httpError("put", resp.StatusCode)
	}
	return nil
}

// Fetch downloads a blob of at most maxSize bytes from rawURL, which must
// be https (or loopback http when Config.AllowLoopbackHTTP is set), from
// an address Config.FetchGuard allows, on a host of Config.FetchHosts if
// set. A refused URL, redirect, host or address is a permanent ErrBadURL.
func (u *Uploader) Fetch(ctx context.Context, rawURL string, maxSize int64) ([]byte, error) {
	var b []byte
	err := u.get(ctx, rawURL, func(resp *http.Response) (err error) {
		b, err = readCapped(resp, maxSize)
		return err
	})
	return b, err
}

// FetchBuffer is Fetch into a buffer outside the Go heap (internal/offheap)
// of maxSize bytes, only the pages written resident: a large mail is held
// once, and the caller frees it as soon as it is done with it.
func (u *Uploader) FetchBuffer(ctx context.Context, rawURL string, maxSize int64) (*offheap.Buffer, error) {
	var buf *offheap.Buffer
	err := u.get(ctx, rawURL, func(resp *http.Response) error {
		if resp.ContentLength > maxSize {
			return &Error{Op: "get", Kind: ErrTooLarge, MaxSize: maxSize}
		}
		buf = offheap.New(int(maxSize))
		_, err := buf.ReadFrom(resp.Body)
		switch {
		case errors.Is(err, offheap.ErrFull):
			err = &Error{Op: "get", Kind: ErrTooLarge, MaxSize: maxSize}
		case err != nil:
			err = &Error{Op: "get", Kind: ErrTransport, Transient: true, Err: err}
		}
		if err != nil {
			buf.Free()
			buf = nil
		}
		return err
	})
	return buf, err
}

// get sends the GET of Fetch and hands a 200 response to read.
func (u *Uploader) get(ctx context.Context, rawURL string, read func(*http.Response) error) error {
	target, err := u.parseURL(rawURL)
	if err != nil {
		return err
	}
	if err := checkFetchHost(target, u.cfg.FetchHosts); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, u.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return &Error{Op: "get", Kind: ErrBadURL, Err: err}
	}
	resp, err := u.fetch.Do(req)
	if err != nil {
		return fetchError(err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return httpError("get", resp.StatusCode)
	}
	return read(resp)
}

func fetchError(err error) error {
	var e *Error
	switch {
	case errors.As(err, &e): // refused redirect
		return e
	case errors.Is(err, netguard.ErrRefused):
		return &Error{Op: "get", Kind: ErrBadURL, Err: err}
	}
	return &Error{Op: "get", Kind: ErrTransport, Transient: true, Err: err}
}

func readCapped(resp *http.Response, maxSize int64) ([]byte, error) {
	tooLarge := &Error{Op: "get", Kind: ErrTooLarge, MaxSize: maxSize}
	if resp.ContentLength > maxSize {
		return nil, tooLarge
	}
	var b bytes.Buffer
	b.Grow(int(max(resp.ContentLength, 0)) + bytes.MinRead) // no regrowth
	if _, err := b.ReadFrom(io.LimitReader(resp.Body, maxSize+1)); err != nil {
		return nil, &Error{Op: "get", Kind: ErrTransport, Transient: true, Err: err}
	}
	if int64(b.Len()) > maxSize {
		return nil, tooLarge
	}
	return b.Bytes(), nil
}

func httpError(op string, status int) *Error {
	return &Error{Op: op, Kind: ErrHTTP, Status: status, Transient: httpTemporary(status)}
}

// drain reads a little of an unread body so the connection can be reused.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	_ = body.Close()
}
