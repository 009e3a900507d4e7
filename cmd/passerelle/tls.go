package main

import (
	"crypto/tls"
	"fmt"
	"sync"
)

// certHolder serves the configured certificate and reloads it on demand,
// so a renewed certificate is picked up without a restart.
type certHolder struct {
	certFile, keyFile string
	mu                sync.RWMutex
	cert              *tls.Certificate
}

func (h *certHolder) reload() error {
	c, err := h.load()
	if err != nil {
		return err
	}
	h.set(c)
	return nil
}

// load reads the files without serving them yet.
func (h *certHolder) load() (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s: %w", h.certFile, err)
	}
	return &c, nil
}

func (h *certHolder) set(c *tls.Certificate) {
	h.mu.Lock()
	h.cert = c
	h.mu.Unlock()
}

func (h *certHolder) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cert, nil
}

// loadTLS returns nil when no certificate is configured (STARTTLS is then
// not offered). The holder reloads the files on SIGHUP.
func loadTLS(c TLSConfig) (*tls.Config, *certHolder, error) {
	if c.CertFile == "" {
		return nil, nil, nil
	}
	h := &certHolder{certFile: c.CertFile, keyFile: c.KeyFile}
	if err := h.reload(); err != nil {
		return nil, nil, err
	}
	return &tls.Config{GetCertificate: h.get, MinVersion: tls.VersionTLS12}, h, nil
}
