package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"go.uber.org/zap"
)

// certHolder serves the configured certificate and reloads it on demand,
// so a renewed certificate is picked up without a restart.
type certHolder struct {
	certFile, keyFile string
	mu                sync.RWMutex
	cert              *tls.Certificate
}

func (h *certHolder) reload() error {
	c, err := tls.LoadX509KeyPair(h.certFile, h.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s: %w", h.certFile, err)
	}
	h.mu.Lock()
	h.cert = &c
	h.mu.Unlock()
	return nil
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

// reloadOnHUP reloads the certificate on each SIGHUP until ctx is done; a
// bad new certificate is logged and the old one kept.
func (g *gateway) reloadOnHUP(ctx context.Context) {
	if g.certs == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := g.certs.reload(); err != nil {
				g.log.Error("certificate reload failed; keeping the old one", zap.Error(err))
				continue
			}
			g.log.Info("certificate reloaded", zap.String("file", g.certs.certFile))
		}
	}
}
