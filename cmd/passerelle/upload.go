package main

import (
	"fmt"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/upload"
	"passerelle/internal/forward"
)

// uploader returns the XEP-0363 client for mail too large for a stanza, or
// nil when xmpp.upload_service is not set.
func (g *gateway) uploader() (forward.Uploader, error) {
	x := g.cfg.XMPP
	if x.UploadService == "" {
		return nil, nil
	}
	svc, err := jid.Parse(x.UploadService)
	if err != nil {
		return nil, fmt.Errorf("xmpp.upload_service: %w", err)
	}
	self, err := jid.Parse(x.ComponentDomain)
	if err != nil {
		return nil, fmt.Errorf("xmpp.component_domain: %w", err)
	}
	u, err := upload.New(upload.Config{IQ: upload.ComponentIQ{C: g.component}, Service: svc, Self: self,
		MaxSize: g.cfg.SMTP.MaxMessageBytes + 1<<20, Timeout: 10 * time.Minute,
		AllowLoopbackHTTP: x.UploadAllowLoopbackHTTP, Log: g.log})
	if err != nil {
		return nil, err
	}
	return u, nil
}
