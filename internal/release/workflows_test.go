package release

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"
)

// workflow is the part of a GitHub Actions workflow the tests check. The
// key "on" is YAML 1.1's boolean true to yaml.v2; decoding into a struct
// field tagged "on" matches it by its text.
type workflow struct {
	On          map[string]any    `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		Permissions map[string]string `yaml:"permissions"`
		Steps       []struct {
			Uses string `yaml:"uses"`
			Run  string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// check parses a workflow and returns its run: scripts in order (one job
// expected for the ordering to mean anything) and the problems common to
// both workflows: no triggers or jobs, actions not pinned to a commit,
// jobs that set their own permissions.
func check(data []byte) (w workflow, scripts, problems []string) {
	if err := yaml.Unmarshal(data, &w); err != nil {
		return w, nil, []string{err.Error()}
	}
	if len(w.On) == 0 || len(w.Jobs) == 0 {
		problems = append(problems, "no triggers or no jobs")
	}
	for job, j := range w.Jobs {
		if j.Permissions != nil {
			problems = append(problems, fmt.Sprintf("job %s sets its own permissions %v", job, j.Permissions))
		}
		for _, s := range j.Steps {
			if s.Uses != "" {
				_, ref, _ := strings.Cut(s.Uses, "@")
				if len(ref) != 40 || strings.Trim(ref, "0123456789abcdef") != "" {
					problems = append(problems, fmt.Sprintf("job %s: %s is not pinned to a full commit SHA", job, s.Uses))
				}
			}
			if s.Run != "" {
				scripts = append(scripts, s.Run)
			}
		}
	}
	return w, scripts, problems
}

func indexOf(scripts []string, part string) int {
	return slices.IndexFunc(scripts, func(s string) bool { return strings.Contains(s, part) })
}

// checkRelease returns what is wrong with release.yml: it must run on tag
// pushes v* only, with contents: write and nothing else, in one job that
// runs make test, then make release with a signing key, then uploads the
// archives, SHA256SUMS and SHA256SUMS.minisig.
func checkRelease(data []byte) []string {
	w, scripts, problems := check(data)
	if len(w.On) != 1 || w.On["push"] == nil {
		return append(problems, fmt.Sprintf("must trigger on push only, got %v", w.On))
	}
	push, _ := w.On["push"].(map[any]any)
	tags, _ := push["tags"].([]any)
	if len(push) != 1 || len(tags) != 1 || tags[0] != "v*" {
		problems = append(problems, fmt.Sprintf("on.push must be tags: [v*] only, got %v", w.On["push"]))
	}
	if len(w.Permissions) != 1 || w.Permissions["contents"] != "write" {
		problems = append(problems, fmt.Sprintf("permissions = %v, want contents: write only", w.Permissions))
	}
	if len(w.Jobs) != 1 {
		problems = append(problems, fmt.Sprintf("%d jobs, want one (test, build, publish in order)", len(w.Jobs)))
	}
	test, rel, publish := indexOf(scripts, "make test"), indexOf(scripts, "make release VERSION="), indexOf(scripts, "gh release create")
	if test < 0 || rel < 0 || publish < 0 || !(test < rel && rel < publish) {
		return append(problems, fmt.Sprintf("must run make test, then make release, then gh release create, got steps %q", scripts))
	}
	for _, asset := range []string{"dist/*.tar.gz", "dist/SHA256SUMS ", "dist/SHA256SUMS.minisig"} {
		if !strings.Contains(scripts[publish]+" ", asset) {
			problems = append(problems, fmt.Sprintf("does not upload %s: %q", strings.TrimSpace(asset), scripts[publish]))
		}
	}
	if !strings.Contains(scripts[rel], "MINISIGN_KEY_FILE=") {
		problems = append(problems, fmt.Sprintf("make release runs without MINISIGN_KEY_FILE: %q", scripts[rel]))
	}
	return problems
}

// checkCI returns what is wrong with ci.yml: make test on push and
// pull_request, contents: read, nothing published.
func checkCI(data []byte) []string {
	w, scripts, problems := check(data)
	for _, event := range []string{"push", "pull_request"} {
		if _, ok := w.On[event]; !ok {
			problems = append(problems, fmt.Sprintf("does not run on %s: %v", event, w.On))
		}
	}
	if len(w.Permissions) != 1 || w.Permissions["contents"] != "read" {
		problems = append(problems, fmt.Sprintf("permissions = %v, want contents: read", w.Permissions))
	}
	if indexOf(scripts, "make test") < 0 {
		problems = append(problems, fmt.Sprintf("does not run make test: %q", scripts))
	}
	if i := indexOf(scripts, "release"); i >= 0 {
		problems = append(problems, fmt.Sprintf("must not build or publish a release: %q", scripts[i]))
	}
	return problems
}

func readWorkflow(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestReleaseWorkflow(t *testing.T) {
	good := readWorkflow(t, "release.yml")
	if p := checkRelease([]byte(good)); len(p) > 0 {
		t.Fatalf("release.yml:\n%s", strings.Join(p, "\n"))
	}
	// The checks catch what they are for: each edit breaks one rule.
	for name, edit := range map[string][2]string{
		"branches too":     {`tags: ["v*"]`, "tags: [\"v*\"]\n    branches: [main]"},
		"pull requests":    {"on:\n", "on:\n  pull_request:\n"},
		"schedule":         {"on:\n", "on:\n  schedule:\n    - cron: '0 0 * * *'\n"},
		"any tag":          {`tags: ["v*"]`, `tags: ["*"]`},
		"more permissions": {"contents: write", "contents: write\n  packages: write"},
		"no test":          {"run: make test", "run: echo skipped"},
		"no signature":     {"dist/SHA256SUMS dist/SHA256SUMS.minisig", "dist/SHA256SUMS"},
		"no sums":          {" dist/SHA256SUMS dist", " dist"},
		"unpinned action":  {"@11bd71901bbe5b1630ceea73d27597364c9af683", "@v4"},
		"no key":           {`export MINISIGN_KEY_FILE="$RUNNER_TEMP/minisign.key"`, ""},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Errorf("%s: %q is not in release.yml", name, edit[0])
			continue
		}
		if p := checkRelease([]byte(bad)); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

func TestCIWorkflow(t *testing.T) {
	good := readWorkflow(t, "ci.yml")
	if p := checkCI([]byte(good)); len(p) > 0 {
		t.Fatalf("ci.yml:\n%s", strings.Join(p, "\n"))
	}
	for name, edit := range map[string][2]string{
		"no pull requests": {"  pull_request:\n", ""},
		"write access":     {"contents: read", "contents: write"},
		"no test":          {"run: make test", "run: go build ./..."},
		"job permissions":  {"    runs-on:", "    permissions:\n      contents: write\n    runs-on:"},
	} {
		bad := strings.Replace(good, edit[0], edit[1], 1)
		if bad == good {
			t.Errorf("%s: %q is not in ci.yml", name, edit[0])
			continue
		}
		if p := checkCI([]byte(bad)); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}
