// Package yamltest holds the helpers the fuzz tests of spec and status share:
// the seed type and how seeds are added, generators for hostile YAML (alias
// bombs, deep nesting), the alias-expansion bound check and an independent
// strict decode of accepted input.
//
// Seeds are built in code, not committed under testdata/fuzz: a generated
// megabyte input says more as strings.Repeat than as a file, and stays in
// step with the limits it probes. An input go test -fuzz finds becomes a
// named seed in code once the bug is fixed.
//
// Like net/http/httptest it is imported only by _test.go files; it exists so
// both parsers are held to the same checks, written once.
package yamltest
