package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile to path until the returned function
// is called (at shutdown). An empty path does nothing. Operators set it
// through the PASSERELLE_CPUPROFILE environment variable to see where a
// loaded gateway spends its time (`go tool pprof bin/passerelle FILE`).
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("PASSERELLE_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("PASSERELLE_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startMemProfile writes a heap profile to path at shutdown (when the
// returned function is called). An empty path does nothing. Operators set
// it through the PASSERELLE_MEMPROFILE environment variable; the profile
// holds every allocation since start-up as well as what was live at the
// end, so `go tool pprof -sample_index=alloc_space bin/passerelle FILE`
// shows which code allocated a large mail's copies.
func startMemProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("PASSERELLE_MEMPROFILE: %w", err)
	}
	return func() {
		runtime.GC() // the live figures as of now
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "PASSERELLE_MEMPROFILE:", err)
		}
		f.Close()
	}, nil
}
