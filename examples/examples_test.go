package examples

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestReleases(t *testing.T) {
	rels := Releases()
	var tags []string
	for _, r := range rels {
		tags = append(tags, r.Tag)
	}
	if got, want := strings.Join(tags, " "), "v1.0.0 v1.1.0 v1.2.0"; got != want {
		t.Fatalf("tags = %s, want %s", got, want)
	}

	tests := []struct {
		tag  string
		path string
	}{
		{"v1.0.0", ".gitignore"},
		{"v1.0.0", "backend/main.go"},
		{"v1.0.0", "frontend/build.mjs"},
		{"v1.0.0", "frontend/package.json"},
		{"v1.1.0", "backend/migrations.go"},
		{"v1.1.0", "frontend/src/app.js"},
		{"v1.2.0", "backend/health.go"},
	}
	for _, tt := range tests {
		for _, r := range rels {
			if r.Tag != tt.tag {
				continue
			}
			if _, err := fs.Stat(r.Overlay, tt.path); err != nil {
				t.Errorf("%s: %v", tt.tag, err)
			}
		}
	}
	// A go.mod in app/ would be a nested module, which go:embed refuses;
	// the sandbox writes it instead.
	if _, err := fs.Stat(App, "go.mod"); err == nil {
		t.Error("App contains go.mod")
	}
}

// TestOverlaysOnlyReplaceAppPaths catches an overlay whose path has a typo:
// every overlay file must replace an app file or sit in an app folder.
func TestOverlaysOnlyReplaceAppPaths(t *testing.T) {
	for _, r := range Releases()[1:] {
		err := fs.WalkDir(r.Overlay, ".", func(name string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, err := fs.Stat(App, path.Dir(name)); err != nil {
				t.Errorf("%s: %s is not in a folder of the app", r.Tag, name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, name := range []string{"updater.yaml", "desired.yaml"} {
		data, err := fs.ReadFile(Config, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "apiVersion: updates.better-paas.io/v1") {
			t.Errorf("%s has no apiVersion", name)
		}
	}
}

func TestFrontendBuild(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	script := filepath.Join("app", "frontend", "build.mjs")

	t.Run("missing output folder", func(t *testing.T) {
		out, err := exec.Command(node, script).CombinedOutput()
		if err == nil {
			t.Fatalf("build without output folder succeeded:\n%s", out)
		}
		if !strings.Contains(string(out), "usage:") {
			t.Errorf("output does not explain the usage:\n%s", out)
		}
	})

	t.Run("builds into a new folder", func(t *testing.T) {
		dist := filepath.Join(t.TempDir(), "new", "dist")
		cmd := exec.Command(node, script, dist)
		cmd.Env = append(os.Environ(), "VERSION=v7.7.7<b>")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build failed: %v\n%s", err, out)
		}
		html, err := os.ReadFile(filepath.Join(dist, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(html), "v7.7.7&#60;b&#62;") {
			t.Errorf("index.html does not show the escaped version:\n%s", html)
		}
		assets, err := filepath.Glob(filepath.Join(dist, "assets", "app.*.js"))
		if err != nil || len(assets) != 1 {
			t.Fatalf("assets = %v, %v; want one app.<hash>.js", assets, err)
		}
		if !strings.Contains(string(html), `src="assets/`+filepath.Base(assets[0])+`"`) {
			t.Errorf("index.html does not load %s:\n%s", assets[0], html)
		}
		js, err := os.ReadFile(assets[0])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(js), `"v7.7.7<b>"`) || strings.Contains(string(js), "__VERSION__") {
			t.Errorf("asset does not carry the version:\n%s", js)
		}
	})
}
