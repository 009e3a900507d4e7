package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// TestSystemdUnit: deploy/systemd/passerelle.service passes
// `systemd-analyze verify` with no complaint at all (systemd 252 only warns
// about an unknown key, so any output fails the test), and its sandbox
// rates as "OK" in `systemd-analyze security` (exposure at most 2.0 of 10).
func TestSystemdUnit(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found (Debian package systemd): run make deps")
	}
	b, err := os.ReadFile("../deploy/systemd/passerelle.service")
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that the binary exists: point it at the one built here.
	unit := filepath.Join(t.TempDir(), "passerelle.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/bin/passerelle", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for passerelle.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	if v, _ := strconv.ParseFloat(string(m[1]), 64); v > 2.0 {
		t.Errorf("exposure level %v, want at most 2.0:\n%s", v, out)
	}
	t.Logf("systemd-analyze security: exposure %s", m[1])
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "User=passerelle",
		"ReadWritePaths=/var/spool/passerelle /var/lib/passerelle", "CapabilityBoundingSet=\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}

// dockerfile is the instructions of a Dockerfile by stage, continuation
// lines joined.
type dockerfile [][]string

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(strings.ToUpper(ins), "FROM ") {
			d = append(d, nil)
		}
		if len(d) == 0 {
			t.Fatalf("%s: %q before FROM", path, ins)
		}
		d[len(d)-1] = append(d[len(d)-1], ins)
	}
	return d
}

// TestContainerFiles checks the Dockerfiles and docker-compose.yml without
// a container engine (none runs on the test machine): the Passerelle image
// is multi-stage, builds a static binary and runs it as a non-root user
// with nothing but the binary; Prosody and Postfix are built from
// Dockerfiles too, their packages installed at build time; the compose
// file starts nothing with a package install, and the configuration it
// mounts passes check-config and prosodyctl.
func TestContainerFiles(t *testing.T) {
	main := parseDockerfile(t, "../Dockerfile")
	if len(main) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a runtime stage", len(main))
	}
	build, final := strings.Join(main[0], "\n"), main[len(main)-1]
	if !strings.Contains(build, "CGO_ENABLED=0 go build") {
		t.Error("the build stage does not build a static binary (CGO_ENABLED=0)")
	}
	var user string
	for _, ins := range final {
		op, arg, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(op) {
		case "RUN":
			t.Errorf("runtime stage runs %q: the image should need no shell", arg)
		case "USER":
			user = arg
		case "FROM":
			if !strings.Contains(arg, "distroless/static") {
				t.Errorf("runtime base %q, want distroless/static", arg)
			}
		}
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("runtime USER = %q, want a non-root user", user)
	}

	var compose struct {
		Volumes  map[string]any `yaml:"volumes"`
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     any               `yaml:"command"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			DependsOn   []string          `yaml:"depends_on"`
			Build       struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"passerelle", "prosody", "postfix"} {
		s, ok := compose.Services[name]
		if !ok {
			t.Errorf("compose has no %s service", name)
			continue
		}
		if s.Image != "" || s.Build.Dockerfile == "" {
			t.Errorf("%s: image %q, dockerfile %q: want it built from a Dockerfile here", name, s.Image, s.Build.Dockerfile)
			continue
		}
		df := filepath.Join("..", s.Build.Context, s.Build.Dockerfile)
		stages := parseDockerfile(t, df)
		if name != "passerelle" && !strings.Contains(strings.Join(stages[len(stages)-1], "\n"), "apt-get install") {
			t.Errorf("%s: %s installs no package at build time", name, df)
		}
		for _, ins := range stages[len(stages)-1] {
			if op, arg, _ := strings.Cut(ins, " "); (op == "CMD" || op == "ENTRYPOINT") && strings.Contains(arg, "apt") {
				t.Errorf("%s: installs packages at start: %s", name, ins)
			}
		}
		if cmd, _ := yaml.Marshal(s.Command); strings.Contains(string(cmd), "apt") {
			t.Errorf("%s: installs packages at start: %s", name, cmd)
		}
		for _, v := range s.Volumes {
			if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}

	check := exec.Command(binary, "check-config", "-c", "../deploy/compose/passerelle.toml")
	check.Env = append(os.Environ(), "PASSERELLE_COMPONENT_SECRET=0123456789abcdef0123456789abcdef")
	if out, err := check.CombinedOutput(); err != nil || strings.Contains(string(out), "warning") {
		t.Errorf("check-config deploy/compose/passerelle.toml: %v\n%s", err, out)
	}
	abs, _ := filepath.Abs("../deploy/compose/prosody.cfg.lua")
	pc := exec.Command("prosodyctl", "--config", abs, "check", "config")
	pc.Env = append(os.Environ(), "PASSERELLE_COMPONENT_SECRET=x")
	if out, err := pc.CombinedOutput(); err != nil || !strings.Contains(string(out), "All checks passed") {
		t.Errorf("prosodyctl check config: %v\n%s", err, out)
	}
}
