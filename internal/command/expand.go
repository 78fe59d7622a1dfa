package command

import "strings"

// Expand replaces every $(NAME) in each argument with vars[NAME], the way
// Kubernetes expands a container's command. It lets an administrator write
// `go build -ldflags "-X main.version=$(VERSION)"` without a shell.
//
// The rules, identical to Kubernetes:
//   - $(NAME) with NAME in vars becomes vars[NAME]; several references in
//     one argument are all replaced; a replacement is never expanded again.
//   - $(NAME) with NAME not in vars is left as written, so a typo is visible
//     in the command's own error instead of silently becoming "".
//   - $$ becomes a single $, so $$(NAME) yields the literal text $(NAME).
//   - A $ followed by anything else, or an unterminated $(, is kept as is.
//
// Expand returns a new slice and never modifies argv.
func Expand(argv []string, vars map[string]string) []string {
	out := make([]string, len(argv))
	for i, arg := range argv {
		out[i] = expandOne(arg, vars)
	}
	return out
}

func expandOne(s string, vars map[string]string) string {
	return replaceRefs(s, func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// References returns the NAME of every $(NAME) in argv that Expand would
// replace if vars held NAME, in order and with repeats: escaped ($$(NAME))
// and unterminated references are not references. "$()" yields "". It
// lets a configuration refuse a name no one will ever set, instead of
// passing the literal text to a program.
func References(argv []string) []string {
	var names []string
	for _, arg := range argv {
		replaceRefs(arg, func(name string) (string, bool) {
			names = append(names, name)
			return "", false
		})
	}
	return names
}

// replaceRefs applies Expand's rules to s, asking lookup for the value of
// each reference; a reference lookup does not know is kept as written.
func replaceRefs(s string, lookup func(name string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated reference: keep "$(" and go on after it.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
