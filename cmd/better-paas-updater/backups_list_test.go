package main

import (
	"encoding/json"
	"testing"
)

// TestBackupsListJSON: -o json prints the document GET /api/v1/backups
// answers, empty lists included; another format is refused.
func TestBackupsListJSON(t *testing.T) {
	cfg, _ := writeConfig(t)
	out, code := runCLI(t, "backups", "list", "-o", "json", "--config", cfg)
	var list struct {
		Backups  []any `json:"backups"`
		Replaced []any `json:"replaced"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || list.Backups == nil || list.Replaced == nil {
		t.Errorf("backups list -o json: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "backups", "list", "-o", "yaml", "--config", cfg); code != 1 {
		t.Errorf("-o yaml: exit %d\n%s", code, out)
	}
}
