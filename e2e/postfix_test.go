package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postfixRelay is a throwaway Postfix 3.7 instance on loopback that relays
// everything to smtp-sink: its own main.cf/master.cf, queue and data
// directories under a temporary directory. Apart from what a private
// instance needs, it keeps Postfix's defaults (so fsync before 250).
// Facts and pitfalls: /work/shared/PEERS.md, "Postfix 3.7".
type postfixRelay struct {
	t      testing.TB
	dir    string // config directory
	queue  string
	Addr   string // smtpd listener
	Sink   *benchSink
	master int // pid of master(8)
}

const postfixMain = `compatibility_level = 3.6
queue_directory = {{queue}}
data_directory = {{data}}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.postfix.test
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{{sinkport}}
smtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file_prefixes = /tmp, /var
maillog_file = {{data}}/maillog
`

// postfixMaster is Debian's master.cf with the smtpd listener on our port
// and no services a relay does not use.
const postfixMaster = `{{addr}} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`

// startPostfixRelay starts smtp-sink and a Postfix relaying to it. It needs
// root (Postfix's master drops to the postfix user).
func startPostfixRelay(t testing.TB) *postfixRelay {
	t.Helper()
	requirePostfix(t)
	sink := startBenchSink(t)
	_, sinkPort, _ := strings.Cut(sink.Addr, ":")
	p := startPostfix(t, strings.ReplaceAll(postfixMain, "{{sinkport}}", sinkPort), nil)
	p.Sink = sink
	return p
}

// requirePostfix skips t where a private Postfix cannot run.
func requirePostfix(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("postfix is not installed: run `make deps`")
	}
	if os.Geteuid() != 0 {
		t.Skip("a private Postfix instance needs root")
	}
}

// startPostfix starts a throwaway Postfix from main, a main.cf in which
// {{queue}}, {{data}}, {{conf}} and {{addr}} (its smtpd listener) are
// filled in, with files (name -> text, same placeholders) written to its
// config directory beside it: transport maps and the like.
func startPostfix(t testing.TB, main string, files map[string]string) *postfixRelay {
	t.Helper()
	requirePostfix(t)
	pw, err := user.Lookup("postfix")
	if err != nil {
		t.Skipf("no postfix user: %v", err)
	}
	uid, _ := strconv.Atoi(pw.Uid)
	base, err := os.MkdirTemp("", "e2e-postfix")
	if err != nil {
		t.Fatal(err)
	}
	// master runs as root but its children as postfix: they must reach
	// the queue and data directories (mktemp's 0700 stops them).
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &postfixRelay{t: t, dir: filepath.Join(base, "conf"), queue: filepath.Join(base, "queue"), Addr: freePort(t)}
	data := filepath.Join(base, "data")
	for _, d := range []string{p.dir, p.queue, data} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(data, uid, -1); err != nil { // master.lock, maillog
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{queue}}", p.queue, "{{data}}", data, "{{conf}}", p.dir, "{{addr}}", p.Addr)
	all := map[string]string{"main.cf": main, "master.cf": postfixMaster}
	for name, text := range files {
		all[name] = text
	}
	for name, text := range all {
		if err := os.WriteFile(filepath.Join(p.dir, name), []byte(r.Replace(text)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		p.stop()
		os.RemoveAll(base)
	})
	if out, err := exec.Command("postfix", "-c", p.dir, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(data, "maillog"))
		t.Fatalf("postfix start: %v\n%s\n%s", err, out, log)
	}
	p.master = p.waitMaster()
	waitTCP(t, p.Addr)
	return p
}

// waitMaster reads master(8)'s pid from the queue directory.
func (p *postfixRelay) waitMaster() int {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(p.queue, "pid", "master.pid"))
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
	}
	p.t.Fatal("postfix master did not write its pid")
	return 0
}

// stop stops the instance (the master calls setsid: it is not our child).
func (p *postfixRelay) stop() {
	if p.master == 0 {
		return
	}
	_ = exec.Command("postfix", "-c", p.dir, "stop").Run()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.master)); err != nil {
			break
		}
	}
	p.master = 0
}

// queued counts the messages in Postfix's queues (the files under the
// incoming, active, deferred, hold and maildrop directories, hashed or not).
func (p *postfixRelay) queued() int {
	n := 0
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold"} {
		n += countFiles(filepath.Join(p.queue, q))
	}
	return n
}

func countFiles(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n += countFiles(filepath.Join(dir, e.Name()))
		} else {
			n++
		}
	}
	return n
}

// processes returns master(8) and all its descendants.
func (p *postfixRelay) processes() []int { return descendants(p.master) }

// benchSink is smtp-sink accepting and discarding everything (a bench
// must not measure the disk writes of the next hop).
type benchSink struct {
	Addr string
	cmd  *exec.Cmd
}

func startBenchSink(t testing.TB) *benchSink {
	t.Helper()
	bin, err := exec.LookPath("smtp-sink")
	if err != nil {
		t.Skip("smtp-sink (Postfix) is not installed: run `make deps`")
	}
	s := &benchSink{Addr: freePort(t)}
	var args []string
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // required as root
	}
	s.cmd = exec.Command(bin, append(args, s.Addr, "256")...)
	var stderr bytes.Buffer
	s.cmd.Stderr = &stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	waitTCP(t, s.Addr)
	return s
}

// procCPU is the CPU time (user+system) of pid and of its children it has
// reaped, in seconds, from /proc/<pid>/stat fields 14-17.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return 0
	}
	sum := 0.0
	for _, k := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, _ := strconv.ParseFloat(f[k], 64)
		sum += v
	}
	return sum / 100 // clock ticks
}

// treeCPU is the CPU time of a process tree: every live process's own and
// reaped children's time. A child that exits between two readings moves
// its time into its parent's cutime/cstime, so it is counted once.
func treeCPU(pids []int) float64 {
	sum := 0.0
	for _, pid := range pids {
		sum += procCPU(pid)
	}
	return sum
}

// treePSS sums the proportional set size of pids, in bytes: resident
// memory with each shared page divided among the processes mapping it, so
// Postfix's dozen processes do not count libc a dozen times (VmRSS would).
func treePSS(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		sum += procKB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	}
	return sum
}

// procStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func procStatus(pid int, field string) int64 {
	return procKB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// procKB reads a "field: N kB" line of a /proc file, in bytes.
func procKB(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// descendants returns root and every process below it, from /proc.
func descendants(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}
