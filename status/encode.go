package status

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"sync"

	yamlv2 "go.yaml.in/yaml/v2"
)

// toYAML returns what yaml.JSONToYAML(j) returns for the JSON object j
// that json.Marshal wrote of a status (what yaml.Marshal writes), encoding
// only the top-level fields whose JSON changed since they were last
// encoded (fieldYAML). The encoder writes the entries of a mapping one
// after another from the same column, in its key order, which is byte
// order for keys of letters only (the status's): so the YAML of the
// mapping is its entries' YAML, one after the other. A journal write
// changes the operation and the conditions, not the history and the
// known tags, which are most of the file. FuzzParseStatus checks that
// Save writes yaml.Marshal's bytes.
func toYAML(j []byte) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(j, &fields); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		if !lettersOnly(k) {
			return jsonToYAML(j)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return jsonToYAML(j)
	}
	slices.Sort(keys)
	var out bytes.Buffer
	for _, k := range keys {
		b, err := fieldYAML(k, fields[k])
		if err != nil {
			return nil, err
		}
		out.Write(b)
	}
	return out.Bytes(), nil
}

// encodedFields remembers the YAML of the top-level fields encoded last,
// by key, with the JSON it encodes: a pure function of the two, so one
// memo serves every status file of the process.
var encodedFields struct {
	sync.Mutex
	m map[string]encodedField
}

type encodedField struct{ json, yaml []byte }

// fieldYAML is the YAML of the one-entry mapping {key: value}, value
// being JSON, from the memo when value is as it was.
func fieldYAML(key string, value json.RawMessage) ([]byte, error) {
	encodedFields.Lock()
	f, ok := encodedFields.m[key]
	encodedFields.Unlock()
	if ok && bytes.Equal(f.json, value) {
		return f.yaml, nil
	}
	entry := make([]byte, 0, len(key)+len(value)+4)
	entry = append(entry, `{"`...)
	entry = append(entry, key...)
	entry = append(entry, `":`...)
	entry = append(entry, value...)
	entry = append(entry, '}')
	b, err := jsonToYAML(entry)
	if err != nil {
		return nil, err
	}
	encodedFields.Lock()
	defer encodedFields.Unlock()
	if encodedFields.m == nil {
		encodedFields.m = map[string]encodedField{}
	}
	encodedFields.m[key] = encodedField{json: value, yaml: b}
	return b, nil
}

// lettersOnly reports whether k is made of ASCII letters, which the
// encoder orders as bytes and writes unquoted.
func lettersOnly(k string) bool {
	for i := range len(k) {
		if c := k[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return k != ""
}

// jsonToYAML returns what yaml.JSONToYAML(j) returns for the JSON that
// json.Marshal writes (what yaml.Marshal(s) writes): the value is decoded
// by encoding/json, with numbers as the YAML parser types them (an int
// when one fits, else a float), instead of by the YAML parser, at a third
// of the cost; the same encoder writes it. FuzzParseStatus checks Save
// writes yaml.Marshal's bytes.
func jsonToYAML(j []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return yamlv2.Marshal(yamlTyped(v))
}

// yamlTyped replaces, in place, the json.Numbers of a decoded JSON value
// by the int64, uint64 or float64 the YAML parser would have read.
func yamlTyped(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = yamlTyped(e)
		}
	case []any:
		for i, e := range v {
			v[i] = yamlTyped(e)
		}
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(string(v), 10, 64); err == nil {
			return u
		}
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return f
		}
		return string(v) // out of range: the YAML parser reads a string
	}
	return v
}
