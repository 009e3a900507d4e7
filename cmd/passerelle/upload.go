package main

import (
	"fmt"
	"time"

	"mellium.im/xmpp/jid"

	"passerelle/bridge/upload"
	"passerelle/internal/forward"
	"passerelle/internal/reverse"
)

// sharedUploader returns the XEP-0363 client for mail too large for a
// stanza, made once and shared by both paths, or nil when
// xmpp.upload_service is not set.
func (g *gateway) sharedUploader() (*upload.Uploader, error) {
	x := g.cfg.XMPP
	if x.UploadService == "" || g.upload != nil {
		return g.upload, nil
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
		AllowLoopbackHTTP: x.UploadAllowLoopbackHTTP, FetchGuard: g.cfg.Egress.guard(),
		FetchTimeout: g.cfg.Reverse.DownloadTimeout.Duration, FetchHosts: g.cfg.Reverse.DownloadHosts, Log: g.log})
	if err != nil {
		return nil, err
	}
	g.upload = u
	return u, nil
}

// uploader is the forward path's uploader, or nil.
func (g *gateway) uploader() (forward.Uploader, error) {
	u, err := g.sharedUploader()
	if u == nil || err != nil { // no typed nil in the interface
		return nil, err
	}
	return u, nil
}

// fetcher is the reverse path's downloader of mail sent as an upload, or
// nil (such mail is then refused).
func (g *gateway) fetcher() (reverse.Fetcher, error) {
	u, err := g.sharedUploader()
	if u == nil || err != nil {
		return nil, err
	}
	return u, nil
}
