// Package yamltest holds the helpers the fuzz tests of spec and status share:
// the seed type and its committed corpus files, generators for hostile YAML
// (alias bombs, deep nesting), the alias-expansion bound check and an
// independent strict decode of accepted input.
//
// Like net/http/httptest it is imported only by _test.go files; it exists so
// both parsers are held to the same checks, written once.
package yamltest
