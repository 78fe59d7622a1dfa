package artifact

import (
	"fmt"
	"slices"
	"strings"

	"github.com/better-paas/updater/internal/signedsums"
)

// AssetName expands an asset name template such as
// "{name}_{version}_{os}_{arch}.tar.gz" with vars (keys without braces:
// "name", "version", "os", "arch"). A placeholder not in vars, or a brace
// that does not close, is an error naming the template and the known
// placeholders: a configuration mistake. A result that is not a plain file
// name (signedsums.ValidName) wraps ErrUntrusted: it could name a path.
func AssetName(template string, vars map[string]string) (string, error) {
	var b strings.Builder
	rest := template
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		if rest[i] == '}' {
			return "", fmt.Errorf("cannot expand asset name template %q: unmatched }", template)
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("cannot expand asset name template %q: unclosed {", template)
		}
		key := rest[i+1 : i+end]
		v, ok := vars[key]
		if !ok {
			return "", fmt.Errorf("cannot expand asset name template %q: unknown placeholder {%s}; known: %s", template, key, known(vars))
		}
		b.WriteString(v)
		rest = rest[i+end+1:]
	}
	name := b.String()
	if !signedsums.ValidName(name) {
		return "", untrustedf("asset name %q (from template %q) is not a plain file name: it must match %s", name, template, signedsums.NamePattern)
	}
	return name, nil
}

func known(vars map[string]string) string {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, "{"+k+"}")
	}
	slices.Sort(keys)
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}
