package peer

import (
	"encoding/xml"
	"io"
)

// tokenSlice reads a slice of tokens.
type tokenSlice struct{ t []xml.Token }

func (s *tokenSlice) Token() (xml.Token, error) {
	if len(s.t) == 0 {
		return nil, io.EOF
	}
	t := s.t[0]
	s.t = s.t[1:]
	return t, nil
}

func xmlTokens(t []xml.Token) xml.TokenReader { return &tokenSlice{t: t} }
