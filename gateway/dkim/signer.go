package dkim

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
	"go.uber.org/zap"
)

// ErrNoKey means no key is configured for the domain.
var ErrNoKey = errors.New("dkim: no key for domain")

// DefaultHeaders are the header fields signed when a [DomainConfig] names
// none: RFC 6376 §5.4.1's list plus MIME and Autocrypt fields, with From
// oversigned.
var DefaultHeaders = []string{
	"From", "From", "Reply-To", "Sender", "To", "Cc", "Subject", "Date",
	"Message-ID", "In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Autocrypt",
}

// DomainConfig is one signing key for one domain.
type DomainConfig struct {
	Domain   string
	Selector string
	KeyFile  string        // PEM; see ParsePrivateKey
	Key      crypto.Signer // instead of KeyFile
	Headers  []string      // default DefaultHeaders; must include From
}

// Config configures a [Signer].
type Config struct {
	Domains []DomainConfig
	Logger  *zap.Logger
}

// Signer adds DKIM signatures. It is safe for concurrent use.
type Signer struct {
	keys map[string][]*dkim.SignOptions
	log  *zap.Logger
}

// New loads the keys of cfg.
func New(cfg Config) (*Signer, error) {
	s := &Signer{keys: make(map[string][]*dkim.SignOptions), log: cfg.Logger}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	s.log = s.log.Named("dkim")
	for _, d := range cfg.Domains {
		opts, err := signOptions(d)
		if err != nil {
			return nil, err
		}
		s.keys[opts.Domain] = append(s.keys[opts.Domain], opts)
	}
	return s, nil
}

func signOptions(d DomainConfig) (*dkim.SignOptions, error) {
	if d.Domain == "" || d.Selector == "" {
		return nil, errors.New("dkim: domain and selector are required")
	}
	key := d.Key
	if key == nil {
		var err error
		if key, err = LoadKeyFile(d.KeyFile); err != nil {
			return nil, err
		}
	}
	headers := d.Headers
	if headers == nil {
		headers = DefaultHeaders
	}
	if !slices.ContainsFunc(headers, func(h string) bool { return strings.EqualFold(h, "From") }) {
		return nil, fmt.Errorf("dkim: %s: From must be signed", d.Domain)
	}
	return &dkim.SignOptions{
		Domain: strings.ToLower(d.Domain), Selector: d.Selector, Signer: key,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             slices.Clone(headers),
	}, nil
}

// Signs reports whether the Signer has a key for domain.
func (s *Signer) Signs(domain string) bool {
	return len(s.keys[strings.ToLower(domain)]) > 0
}

// Header reads a whole message from r and returns the DKIM-Signature
// header fields (CRLF-terminated) to prepend to it, one per key of domain.
// It does not keep the message: a caller that spools the message anyway
// can sign while spooling and prepend the result.
func (s *Signer) Header(domain string, r io.Reader) (string, error) {
	opts := s.keys[strings.ToLower(domain)]
	if len(opts) == 0 {
		return "", fmt.Errorf("%w %s", ErrNoKey, domain)
	}
	signers := make([]*dkim.Signer, 0, len(opts))
	writers := make([]io.Writer, 0, len(opts))
	defer func() {
		for _, ds := range signers {
			ds.Close()
		}
	}()
	for _, o := range opts {
		ds, err := dkim.NewSigner(o)
		if err != nil {
			return "", fmt.Errorf("dkim: %s: %w", domain, err)
		}
		signers, writers = append(signers, ds), append(writers, ds)
	}
	// In blocks: go-msgauth's canonicalizers copy each Write, and a
	// *bytes.Reader would hand them the whole message at once (62 MB of
	// garbage for a 25 MB mail).
	if _, err := io.CopyBuffer(io.MultiWriter(writers...), struct{ io.Reader }{r}, make([]byte, 32<<10)); err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	return s.collect(domain, signers)
}

func (s *Signer) collect(domain string, signers []*dkim.Signer) (string, error) {
	var b strings.Builder
	for _, ds := range signers {
		if err := ds.Close(); err != nil {
			return "", fmt.Errorf("dkim: sign: %w", err)
		}
		b.WriteString(ds.Signature())
	}
	s.log.Debug("signed", zap.String("domain", domain), zap.Int("signatures", len(signers)))
	return b.String(), nil
}

// Sign copies the message from r to w with DKIM-Signature header fields
// for domain prepended. The message is held in memory once, as the
// signature must precede it; use [Signer.Header] to avoid that.
func (s *Signer) Sign(domain string, r io.Reader, w io.Writer) error {
	var buf bytes.Buffer
	h, err := s.Header(domain, io.TeeReader(r, &buf))
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, h); err != nil {
		return fmt.Errorf("dkim: write: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("dkim: write: %w", err)
	}
	return nil
}
