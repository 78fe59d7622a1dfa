package status

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// jsonToYAML must write what yaml.JSONToYAML writes, numbers included:
// Save relies on it to write yaml.Marshal's bytes.
func TestJSONToYAMLWritesWhatSigsYAMLWrites(t *testing.T) {
	docs := []string{
		`{}`,
		`{"b":1,"a":[1,-2,0,-0,3.5,1e3,1.5e-7,9223372036854775807,9223372036854775808,18446744073709551616,1e400]}`,
		`{"k10":"x","k2":"y","k1":{"z":null,"y":true,"x":false}}`,
		`{"s":["true","1","","null","~","a: b","- x","line\nbreak","\u00e9\u2028","<&>","  padded  "]}`,
		`{"long":"a message that goes on and on, longer than the eighty columns the encoder folds plain scalars at, to be sure"}`,
		`[{"a":[]},{"b":{}}]`,
	}
	for _, doc := range docs {
		want, err := yaml.JSONToYAML([]byte(doc))
		if err != nil {
			t.Fatalf("JSONToYAML(%s): %v", doc, err)
		}
		got, err := jsonToYAML([]byte(doc))
		if err != nil {
			t.Fatalf("jsonToYAML(%s): %v", doc, err)
		}
		if string(got) != string(want) {
			t.Errorf("jsonToYAML(%s) =\n%s\nwant\n%s", doc, got, want)
		}
	}
}

// Save encodes only the fields that changed since the last save (toYAML);
// what it writes must stay yaml.Marshal's bytes through a journal's
// sequence of saves, fields appearing, changing and going away.
func TestSaveWritesYAMLMarshalBytesAsFieldsChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.yaml")
	st := New()
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	st.KnownTags = map[string]string{"v1.0.0": strings.Repeat("a", 40), "v1.10.0": strings.Repeat("b", 40), "v1.9.0": strings.Repeat("c", 40)}
	for i := range 5 {
		st.History = append(st.History, HistoryEntry{ID: fmt.Sprintf("op-%d", i), To: "v1.0.0", Result: ResultSucceeded,
			Message: strings.Repeat("a long message that the encoder folds at eighty columns ", 3), StartedAt: at, FinishedAt: at})
	}
	steps := []func(){
		func() {},
		func() {
			st.Operation = &Operation{ID: "op-5", From: Revision{Version: "v1.0.0"}, To: Revision{Version: "v1.1.0"}, Step: "backup", Phase: PhaseDo, Attempt: 1}
			st.Conditions = []Condition{{Type: TypeReady, Status: False, Reason: "Progressing", Message: "updating\nto v1.1.0", LastTransitionTime: at}}
		},
		func() { st.Operation.Step, st.Operation.Done = "checkout", []string{"backup"} },
		func() { st.ObservedGeneration++ },
		func() {
			st.Operation = nil
			st.Conditions[0].Status, st.Conditions[0].Message = True, "running v1.1.0"
			st.History = append(st.History[:1], st.History...)
		},
	}
	for i, step := range steps {
		step()
		if err := Save(path, st); err != nil {
			t.Fatal(err)
		}
		written, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := yaml.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if string(written) != string(want) {
			t.Fatalf("save %d wrote\n%s\nwant yaml.Marshal's\n%s", i, written, want)
		}
	}
}

// The fields are encoded one by one only when every key of the status is
// letters only (lettersOnly); a key with another character sends every
// save down the whole-document path, still right but slower.
func TestStatusKeysAreLettersOnly(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[VersionStatus]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !lettersOnly(name) {
				t.Errorf("field %s has the JSON key %q: not letters only", f.Name, name)
			}
		}
	}
}
