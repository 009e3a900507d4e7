package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// smtpSource is one run of Postfix's smtp-source load generator, with -v so
// that every server reply is seen, and -N so that every message has its own
// recipient address; accepted collects the recipients whose DATA got a 250.
type smtpSource struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu       sync.Mutex
	accepted []string
	refused  map[string]int // reply code class after DATA -> count
}

// startSMTPSource runs `smtp-source -v -N -m n -l size -t to addr`.
func startSMTPSource(t testing.TB, addr, to string, n, size int) *smtpSource {
	t.Helper()
	return startSMTPSourceArgs(t, "-v", "-N", "-d", "-s", "1", "-m", itoa(n), "-l", itoa(size),
		"-f", "sender@remote.example", "-t", to, addr)
}

// startSMTPSourceArgs runs smtp-source with args (which must include -v).
func startSMTPSourceArgs(t testing.TB, args ...string) *smtpSource {
	t.Helper()
	path, err := exec.LookPath("smtp-source")
	if err != nil {
		t.Fatalf("smtp-source (Postfix) is not installed: run `make deps`: %v", err)
	}
	s := &smtpSource{done: make(chan struct{}), refused: map[string]int{}}
	s.cmd = exec.Command(path, args...)
	out, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start smtp-source: %v", err)
	}
	go func() {
		s.parse(out)
		s.cmd.Wait()
		close(s.done)
	}()
	return s
}

// parse follows the verbose transcript: RCPT names the message, the first
// reply after the lone "." is its fate.
func (s *smtpSource) parse(r io.Reader) {
	sc := bufio.NewScanner(r)
	var rcpt string
	afterDot := false
	for sc.Scan() {
		line := sc.Text() // "/usr/sbin/smtp-source: <<< 250 ..."
		if i := strings.Index(line, ": "); i >= 0 {
			line = line[i+2:]
		}
		switch {
		case strings.HasPrefix(line, "RCPT TO:<"):
			rcpt = strings.TrimSuffix(strings.TrimPrefix(line, "RCPT TO:<"), ">")
		case line == ".":
			afterDot = true
		case afterDot && strings.HasPrefix(line, "<<< "):
			afterDot = false
			s.mu.Lock()
			if strings.HasPrefix(line, "<<< 250") {
				s.accepted = append(s.accepted, rcpt)
			} else {
				s.refused[line[4:5]]++
			}
			s.mu.Unlock()
		}
	}
}

func (s *smtpSource) wait() { <-s.done }

func (s *smtpSource) result() ([]string, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...), s.refused
}

func itoa(n int) string { return strconv.Itoa(n) }
