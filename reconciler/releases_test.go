package reconciler_test

import (
	"io/fs"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/sandbox"
)

// isolated makes a release change only what it names: the files other
// misbehaving releases rewrite go back to the base app's, so releases can
// stack in one origin without inheriting each other's bugs.
func isolated(rel sandbox.Release) sandbox.Release {
	files := map[string]string{}
	for _, name := range []string{"backend/main.go", "backend/health.go", "backend/health_test.go", "frontend/build.mjs"} {
		b, err := fs.ReadFile(examples.App, name)
		if err != nil {
			panic(err)
		}
		files[name] = string(b)
	}
	for name, content := range rel.Files {
		files[name] = content
	}
	rel.Files = files
	return rel
}

func good(tag string) sandbox.Release {
	return isolated(sandbox.Release{Tag: tag, Files: map[string]string{
		"backend/release_note.go": "package main\n\n// releaseNote names the release.\nconst releaseNote = \"" + tag + "\"\n",
	}})
}
