package strictyaml

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Version string `json:"version"`
}

type doc struct {
	Kind  string            `json:"kind"`
	Spec  inner             `json:"spec"`
	Items []inner           `json:"items,omitempty"`
	Notes map[string]string `json:"notes,omitempty"`
	Since *time.Time        `json:"since,omitempty"`
}

func TestUnmarshal(t *testing.T) {
	bomb := "a: &a [" + strings.Repeat(`"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",`, 100) + "]\n" +
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
	tests := []struct {
		name, in string
		err      error
		msg      string
	}{
		{name: "valid", in: "kind: X\nspec:\n  version: v1\nitems:\n- version: v2\nnotes:\n  Any-Case: ok\n"},
		{name: "empty", in: ""},
		{name: "unknown field", in: "kind: X\nspek: {}\n", err: ErrSyntax, msg: "spek"},
		{name: "duplicate key", in: "kind: X\nkind: Y\n", err: ErrSyntax},
		{name: "wrong case at the top", in: "Kind: X\n", err: ErrFieldCase, msg: "did you mean kind?"},
		{name: "wrong case nested", in: "spec:\n  Version: v9\n  version: v1\n", err: ErrFieldCase, msg: "spec.Version; did you mean spec.version?"},
		{name: "wrong case in a list", in: "items:\n- VERSION: v1\n", err: ErrFieldCase, msg: "items[0].VERSION"},
		{name: "second document", in: "kind: X\n---\nkind: Y\n", err: ErrMultipleDocuments},
		{name: "broken second document", in: "kind: X\n---\nspec: [\n", err: ErrSyntax},
		{name: "alias bomb", in: bomb, err: ErrAliasBomb, msg: "anchors"},
		{name: "not yaml", in: "spec: [", err: ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			err := Unmarshal([]byte(tt.in), &d, 64<<10)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.err, tt.msg)
			}
		})
	}
}
