package ejabberdtest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"passerelle/internal/ejabberdtest"
)

// TestREADMEExcerptIsTheDeployFile: the YAML the README's ejabberd section
// shows is part of deploy/ejabberd/ejabberd.yml, value for value, so the
// README cannot drift from the file the tests start ejabberd from.
func TestREADMEExcerptIsTheDeployFile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(filepath.Dir(ejabberdtest.DeployConfig()), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### ejabberd\n")
	_, block, ok2 := strings.Cut(section, "```yaml\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no ```yaml block in its ### ejabberd section")
	}
	deploy, err := os.ReadFile(ejabberdtest.DeployConfig())
	if err != nil {
		t.Fatal(err)
	}
	var shown, file any
	if err := yaml.Unmarshal([]byte(block), &shown); err != nil {
		t.Fatalf("README excerpt: %v", err)
	}
	if err := yaml.Unmarshal(deploy, &file); err != nil {
		t.Fatal(err)
	}
	if err := within(shown, file, ""); err != nil {
		t.Fatalf("the README's ejabberd excerpt is not in deploy/ejabberd/ejabberd.yml: %v", err)
	}
}

// within reports whether a is part of b: map keys with values within b's,
// list items each within some item of b's list, scalars equal.
func within(a, b any, path string) error {
	switch av := a.(type) {
	case map[any]any:
		bv, ok := b.(map[any]any)
		if !ok {
			return fmt.Errorf("%s: a map in the README, %T in the file", path, b)
		}
		for k, v := range av {
			w, ok := bv[k]
			if !ok {
				return fmt.Errorf("%s.%v: not in the file", path, k)
			}
			if err := within(v, w, fmt.Sprintf("%s.%v", path, k)); err != nil {
				return err
			}
		}
		return nil
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return fmt.Errorf("%s: a list in the README, %T in the file", path, b)
		}
		for i, item := range av {
			found := false
			for _, w := range bv {
				if within(item, w, path) == nil {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("%s[%d] = %v: no such item in the file", path, i, item)
			}
		}
		return nil
	}
	if !reflect.DeepEqual(a, b) {
		return fmt.Errorf("%s: %v in the README, %v in the file", path, a, b)
	}
	return nil
}
