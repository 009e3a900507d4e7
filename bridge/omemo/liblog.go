package omemo

import "go.mau.fi/libsignal/logger"

// libsignal keeps its logger in a package variable that it fills lazily on
// first use, unsynchronised: two goroutines making puppet devices at once
// race on it (seen under -race in bridge/pep). Setting it at package
// initialisation, before any goroutine can use libsignal, removes the lazy
// write. A program that wants libsignal's messages (cmd/passerelle routes
// them to zap) calls logger.Setup again before it starts serving.
func init() {
	var l logger.Loggable = discard{}
	logger.Setup(&l)
}

// discard drops libsignal's messages: by default it prints them to stdout.
type discard struct{}

func (discard) Debug(string, string)   {}
func (discard) Info(string, string)    {}
func (discard) Warning(string, string) {}
func (discard) Error(string, string)   {}
func (discard) Configure(string)       {}
