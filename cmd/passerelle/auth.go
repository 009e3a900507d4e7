package main

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"passerelle/gateway/smtpd"
)

// authenticator checks submission users against bcrypt hashes.
type authenticator struct {
	users map[string][]byte
	dummy []byte // compared against for unknown users, so timing does not tell
}

func newAuthenticator(users []SubmitUser) (*authenticator, error) {
	a := &authenticator{users: map[string][]byte{}}
	for i, u := range users {
		h, err := u.PasswordHash.Resolve()
		if err != nil {
			return nil, fmt.Errorf("smtp.submission.users[%d].password_hash: %w", i, err)
		}
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return nil, fmt.Errorf("smtp.submission.users[%d].password_hash: not a bcrypt hash: %w", i, err)
		}
		a.users[u.Name] = []byte(h)
		a.dummy = []byte(h)
	}
	return a, nil
}

func (a *authenticator) Authenticate(_ context.Context, user, password string) error {
	h, ok := a.users[user]
	if !ok {
		bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
		return smtpd.AuthFailed
	}
	if err := bcrypt.CompareHashAndPassword(h, []byte(password)); err != nil {
		return smtpd.AuthFailed
	}
	return nil
}
