package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"
)

// Errors Unmarshal wraps, so callers can map them to their own sentinels.
var (
	// ErrSyntax: not YAML, or fields that do not fit the type.
	ErrSyntax = errors.New("invalid YAML")
	// ErrAliasBomb: the document's aliases expand it past the limit.
	ErrAliasBomb = errors.New("YAML aliases expand the document too far")
	// ErrMultipleDocuments: a second document after ---.
	ErrMultipleDocuments = errors.New("more than one YAML document")
	// ErrFieldCase: a field name that differs from a known one only in case.
	ErrFieldCase = errors.New("field name in the wrong case")
	// ErrUnknownField: a field the type does not have, in a document that
	// is otherwise valid (it decodes once unknown fields are ignored).
	// For a file a program writes, that usually means a newer program.
	ErrUnknownField = errors.New("unknown field")
)

// Unmarshal decodes data into v (a pointer to a struct with json tags).
// maxExpansion bounds the document's size with its aliases resolved (a byte
// per node plus string lengths); without aliases a document is about its
// own size, so a few times the file size limit refuses nothing a person
// writes.
//
// Alias bombs: go.yaml.in/yaml/v2 copies an alias's value at every use, and
// sigs.k8s.io/yaml renders each copy as JSON before any field is checked,
// so a 21 KB file nesting four levels of ten aliases over a 20 KB string
// took 6-9 s and 1.4 GB to refuse. Decoding into interface{} first shares
// the strings, so measuring the expansion here is cheap.
//
// A second document: yaml.Unmarshal reads the first and ignores the rest,
// even when the rest is not YAML, so a file someone appended to would
// silently keep its first version.
func Unmarshal(data []byte, v any, maxExpansion int) error {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	var doc any
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		doc = nil // empty: the caller's field checks say what is missing
	case err != nil:
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	default:
		budget := maxExpansion
		if !fits(doc, &budget) {
			return fmt.Errorf("%w: past %d bytes; write the values out instead of using anchors (&) and aliases (*)", ErrAliasBomb, maxExpansion)
		}
		switch err := dec.Decode(new(any)); {
		case errors.Is(err, io.EOF):
		case err != nil:
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		default:
			return fmt.Errorf("%w: keep one, without a second ---", ErrMultipleDocuments)
		}
		if err := checkCase(doc, reflect.TypeOf(v), ""); err != nil {
			return err
		}
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		// Aliases are bounded and there is one document, so the lenient
		// decode below costs what the strict one did.
		lenient := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if yaml.Unmarshal(data, lenient) == nil {
			return &syntaxError{kind: ErrUnknownField, msg: tidy(err)}
		}
		return &syntaxError{msg: tidy(err)}
	}
	return nil
}

// syntaxError is ErrSyntax (and kind, when set) with the decoder's words.
type syntaxError struct {
	kind error
	msg  string
}

func (e *syntaxError) Error() string { return ErrSyntax.Error() + ": " + e.msg }

// Is makes errors.Is true for ErrSyntax and for the error's kind.
func (e *syntaxError) Is(target error) bool {
	return target == ErrSyntax || (e.kind != nil && target == e.kind)
}

// tidy drops the layers sigs.k8s.io/yaml puts before the decoder's own
// message ("error unmarshaling JSON: while decoding JSON: json: "): the
// reader of updater.yaml or desired.yaml never wrote JSON.
func tidy(err error) string {
	msg := err.Error()
	for _, p := range []string{"error unmarshaling JSON: ", "while decoding JSON: ", "json: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// fits subtracts v's expanded size from budget and reports whether it
// stayed non-negative; it stops walking as soon as it did not.
func fits(v any, budget *int) bool {
	*budget--
	switch v := v.(type) {
	case string:
		*budget -= len(v)
	case []any:
		for _, e := range v {
			if !fits(e, budget) {
				return false
			}
		}
	case map[any]any:
		for k, e := range v {
			if !fits(k, budget) || !fits(e, budget) {
				return false
			}
		}
	}
	return *budget >= 0
}

// checkCase walks doc along t and refuses a key that names a field of t
// only when compared ignoring case: `Version:` beside `version:` would
// otherwise be accepted, and one of the two silently dropped.
func checkCase(doc any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch d := doc.(type) {
	case map[any]any:
		if t.Kind() != reflect.Struct {
			return nil // maps (annotations) take any key
		}
		fields := jsonFields(t)
		for k, e := range d {
			key, ok := k.(string)
			if !ok {
				continue // UnmarshalStrict reports it
			}
			if f, ok := fields[key]; ok {
				if err := checkCase(e, f, join(path, key)); err != nil {
					return err
				}
				continue
			}
			for name := range fields {
				if strings.EqualFold(name, key) {
					return fmt.Errorf("%w: %s; did you mean %s? Field names are case-sensitive", ErrFieldCase, join(path, key), join(path, name))
				}
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range d {
				if err := checkCase(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields (embedded structs
// flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for n, ft := range jsonFields(f.Type) {
				out[n] = ft
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
