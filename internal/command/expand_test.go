package command

import (
	"reflect"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"VERSION": "v1.2.3",
		"DIR":     "/srv/app",
		"EMPTY":   "",
		"LOOP":    "$(VERSION)", // a value is never expanded again
	}
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"no reference", "go", "go"},
		{"whole argument", "$(VERSION)", "v1.2.3"},
		{"inside text", "-X main.version=$(VERSION)", "-X main.version=v1.2.3"},
		{"several in one argument", "$(DIR)/bin/$(VERSION)/$(DIR)", "/srv/app/bin/v1.2.3//srv/app"},
		{"adjacent", "$(VERSION)$(VERSION)", "v1.2.3v1.2.3"},
		{"empty value", "a$(EMPTY)b", "ab"},
		{"unknown name kept", "$(NOPE)", "$(NOPE)"},
		{"unknown next to known", "$(NOPE)-$(VERSION)", "$(NOPE)-v1.2.3"},
		{"escaped reference", "$$(VERSION)", "$(VERSION)"},
		{"escaped then real", "$$(VERSION)=$(VERSION)", "$(VERSION)=v1.2.3"},
		{"double dollar alone", "cost: $$5", "cost: $5"},
		{"triple dollar", "$$$(VERSION)", "$v1.2.3"},
		{"value not re-expanded", "$(LOOP)", "$(VERSION)"},
		{"dollar without paren", "$HOME and $", "$HOME and $"},
		{"unterminated reference", "$(VERSION", "$(VERSION"},
		{"name runs to the first paren", "$($(VERSION)", "$($(VERSION)"},
		{"trailing dollar", "price$", "price$"},
		{"empty name", "$()", "$()"},
		{"unicode around", "é$(VERSION)ü", "év1.2.3ü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Expand([]string{tt.in}, vars)
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandKeepsArgumentsApartAndInputIntact(t *testing.T) {
	in := []string{"go", "build", "-ldflags", "-X main.v=$(V) -X main.d=$(D)", "$(V) two words"}
	orig := append([]string(nil), in...)
	got := Expand(in, map[string]string{"V": "1 2", "D": "x"})
	want := []string{"go", "build", "-ldflags", "-X main.v=1 2 -X main.d=x", "1 2 two words"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Expand = %q, want %q", got, want)
	}
	if !reflect.DeepEqual(in, orig) {
		t.Errorf("Expand modified its input: %q", in)
	}
	if got := Expand(nil, nil); len(got) != 0 {
		t.Errorf("Expand(nil) = %q", got)
	}
}

func TestReferences(t *testing.T) {
	got := References([]string{"go", "-X v=$(VERSION)", "$(OUTPUT)$(VERSION)", "$$(ESCAPED)", "$(UNTERMINATED", "$()", "$HOME"})
	want := []string{"VERSION", "OUTPUT", "VERSION", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("References = %q, want %q", got, want)
	}
	if got := References(nil); len(got) != 0 {
		t.Errorf("References(nil) = %q", got)
	}
}
