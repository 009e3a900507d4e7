package xmpp

import (
	"encoding/xml"
	"io"
)

// Tokens returns an xml.TokenReader over a fixed list of tokens, for
// building a Message's Payload.
func Tokens(toks ...xml.Token) xml.TokenReader { return &tokenSlice{toks: toks} }

type tokenSlice struct {
	toks []xml.Token
	i    int
}

func (s *tokenSlice) Token() (xml.Token, error) {
	if s.i >= len(s.toks) {
		return nil, io.EOF
	}
	s.i++
	return s.toks[s.i-1], nil
}
