package ejabberdtest

import (
	"os"
	"testing"
)

// Config is the configuration Start would write for opts, without
// starting anything.
func Config(t testing.TB, opts Options) (string, error) {
	s, err := newServer(t, opts)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(s.ConfigFile)
	return string(b), err
}
