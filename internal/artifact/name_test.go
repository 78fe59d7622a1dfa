package artifact

import (
	"strings"
	"testing"
)

func TestAssetName(t *testing.T) {
	vars := map[string]string{"name": "server", "version": "v1.2.3", "os": "linux", "arch": "amd64"}
	tests := []struct {
		template, want string
		untrusted      bool
		wantErr        string
	}{
		{template: "{name}_{version}_{os}_{arch}.tar.gz", want: "server_v1.2.3_linux_amd64.tar.gz"},
		{template: "plain", want: "plain"},
		{template: "{os}-{arch}-{os}", want: "linux-amd64-linux"},
		{template: "{name}_{goos}", wantErr: "unknown placeholder {goos}; known: {arch}, {name}, {os}, {version}"},
		{template: "{name", wantErr: "unclosed {"},
		{template: "name}", wantErr: "unmatched }"},
		{template: "../{name}", untrusted: true, wantErr: `"../server"`},
		{template: "dir/{name}", untrusted: true, wantErr: "not a plain file name"},
		{template: "{version}", want: "v1.2.3"},
		{template: "", untrusted: true, wantErr: "not a plain file name"},
	}
	for _, tt := range tests {
		got, err := AssetName(tt.template, vars)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("AssetName(%q) = %q, %v; want %q", tt.template, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("AssetName(%q) error = %v, want one containing %q", tt.template, err, tt.wantErr)
			continue
		}
		wantClass(t, err, tt.untrusted, false)
	}
	if _, err := AssetName("{version}", map[string]string{"version": "v1/../x"}); err == nil {
		t.Error("a version with a slash expanded to a name")
	}
}
