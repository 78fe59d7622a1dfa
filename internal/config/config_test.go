package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: app
stateDir: state
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
`

func TestParseDefaultsAndResolvesPaths(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := map[string][2]string{
		"installDir":  {c.InstallDir, "/etc/bp/app"},
		"dataDir":     {c.DataDir, "/etc/bp/app/data"},
		"stateDir":    {c.StateDir, "/etc/bp/state"},
		"backupDir":   {c.BackupDir, "/etc/bp/state/backups"},
		"desiredFile": {c.DesiredFile, "/etc/bp/state/desired.yaml"},
		"hooksDir":    {c.HooksDir, "/etc/bp/state/hooks"},
		"binary":      {c.BackendBinary(), "/etc/bp/app/server"},
		"remote":      {c.Remote, "origin"},
		"health.url":  {c.Health.URL, "http://127.0.0.1:8080/api/health"},
		"exec":        {strings.Join(c.Service.Exec.Command, " "), "./server"},
		"frontendDir": {c.FrontendDir(), ""},
	}
	for name, got := range checks {
		if got[0] != got[1] {
			t.Errorf("%s = %q, want %q", name, got[0], got[1])
		}
	}
	if c.Health.Deadline.Duration != time.Minute || c.Health.SuccessThreshold != 3 || c.Health.FailureThreshold != 3 || c.BackupsToKeep != 5 {
		t.Errorf("health/backup defaults = %+v %d", c.Health, c.BackupsToKeep)
	}
	// Default is idempotent.
	before := *c
	c.Default("/elsewhere")
	if c.InstallDir != before.InstallDir || c.DataDir != before.DataDir {
		t.Errorf("second Default moved paths: %q %q", c.InstallDir, c.DataDir)
	}
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "config", "updater.yaml"))
	if err != nil {
		t.Fatalf("the shipped example does not load: %v", err)
	}
	if c.FrontendDir() == "" {
		t.Error("example config has no frontend build")
	}
	if got := c.Build.Frontend.Command[0]; got != "pnpm" {
		t.Errorf("frontend is built with %q, want pnpm (the product's toolchain)", got)
	}
	// The app's data folder is the one the updater backs up.
	if v, _ := lastEnv(c.Service.Exec.Env, "DATA_DIR"); v != c.DataDir {
		t.Errorf("service DATA_DIR = %q, want dataDir %q", v, c.DataDir)
	}
	// The health gate probes the address the service listens on.
	if c.Health.URL != "http://127.0.0.1:8080/api/health" {
		t.Errorf("health.url = %q, want the one derived from ADDR", c.Health.URL)
	}
	// The API listens where the documentation says, on loopback.
	if got := c.API.Address(); got != DefaultAPIListen {
		t.Errorf("api.listen = %q, want %q", got, DefaultAPIListen)
	}
}

func TestValidateNamesFieldAndFix(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", base + "instalDir: x\n", "instalDir"},
		{"bad duration", base + "resyncInterval: soon\n", "soon"},
		{"no install", strings.Replace(base, "installDir: app\n", "", 1), "installDir: required"},
		{"no backend", strings.Replace(base, `command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]`, "command: []", 1), "build.backend.command: required"},
		{"no output var", strings.Replace(base, `"$(OUTPUT)"`, `"server"`, 1), "must pass $(OUTPUT)"},
		{"output escapes", minimal + "    output: ../server\n", "must be a relative path inside installDir"},
		{"output in data", minimal + "    output: data/server\n", "inside dataDir"},
		{"data outside", base + "dataDir: /var/data\n", "not inside installDir"},
		{"manager", minimal + "service:\n  manager: upstart\n", `"upstart" is not supported`},
		{"unit name", minimal + "service:\n  manager: systemd\n  systemd:\n    unit: -x.service\n", "service.systemd.unit"},
		{"unit type", minimal + "service:\n  manager: systemd\n  systemd:\n    unit: backend.timer\n", "service.systemd.unit"},
		{"systemd health url", minimal + "service:\n  manager: systemd\n", "health.url: required with service.manager: systemd"},
		{"unit without systemd", minimal + "service:\n  systemd:\n    unit: backend.service\n", "only used with service.manager: systemd"},
		{"health url", base + "health:\n  url: localhost:8080\n", "health.url"},
		{"release source", base + "releases:\n  source: gitlab\n", `releases.source: "gitlab" is not a source`},
		{"api url", base + "releases:\n  github:\n    apiURL: api.github.com\n", "releases.github.apiURL"},
		{"wrong kind", strings.Replace(base, "UpdaterConfig", "DesiredVersion", 1), "apiVersion/kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/bp/updater.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "/etc/bp/updater.yaml") {
				t.Errorf("error %q lacks %q or the file name", err, tt.want)
			}
		})
	}
}

func TestSystemdService(t *testing.T) {
	const withURL = minimal + "health:\n  url: http://127.0.0.1:8080/api/health\n"
	for _, tt := range []struct{ yaml, want string }{
		{"service:\n  manager: systemd\n", DefaultSystemdUnit},
		{"service:\n  manager: systemd\n  systemd:\n    unit: app\n", "app.service"},
		{"service:\n  manager: systemd\n  systemd:\n    unit: app@blue.service\n", "app@blue.service"},
	} {
		c, err := Parse("/etc/bp/updater.yaml", []byte(withURL+tt.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if c.Service.Manager != ManagerSystemd || c.Service.Systemd.Unit != tt.want {
			t.Errorf("%q: manager %q unit %q, want systemd %q", tt.yaml, c.Service.Manager, c.Service.Systemd.Unit, tt.want)
		}
	}
}
