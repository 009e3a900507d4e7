package peermsg

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"passerelle/bridge/ox"
)

func TestSealOpen(t *testing.T) {
	a, b, m := domainKey(t, "mail.a.example"), domainKey(t, "mail.b.example"), domainKey(t, "mail.m.example")
	ct, err := Seal(SealConfig{To: "mail.b.example", Envelope: sampleEnvelope(), Signer: a,
		Peer: publicOnly(t, b), Time: testNow})
	if err != nil {
		t.Fatal(err)
	}
	open := func(cfg OpenConfig) (*Envelope, error) {
		if cfg.Self == "" {
			cfg.Self = "mail.b.example"
		}
		if cfg.Keys == nil {
			cfg.Keys = b
		}
		if cfg.Sender == nil {
			cfg.Sender = publicOnly(t, a)
		}
		if cfg.Now.IsZero() {
			cfg.Now = testNow.Add(time.Hour)
		}
		return Open(ct, cfg)
	}
	got, err := open(OpenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleEnvelope()) {
		t.Errorf("opened %+v", got)
	}
	for _, tc := range []struct {
		name string
		cfg  OpenConfig
		want error
	}{
		{"another gateway's key claims to have signed", OpenConfig{Sender: publicOnly(t, m)}, ox.ErrBadSignature},
		{"replayed to another gateway", OpenConfig{Self: "mail.c.example"}, ox.ErrWrongRecipient},
		{"not our key", OpenConfig{Keys: m}, ox.ErrNoDecryptionKey},
		{"too old", OpenConfig{Now: testNow.Add(8 * 24 * time.Hour)}, ox.ErrBadTime},
		{"too large", OpenConfig{Limits: Limits{MaxBytes: 100}}, ox.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := open(tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("Open: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSealRefusesInvalid(t *testing.T) {
	a, b := domainKey(t, "mail.a.example"), domainKey(t, "mail.b.example")
	e := sampleEnvelope()
	e.MailFrom = "mallory@c.example"
	if _, err := Seal(SealConfig{To: "mail.b.example", Envelope: e, Signer: a, Peer: b}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Seal with a sender outside sender-domain: %v", err)
	}
}
