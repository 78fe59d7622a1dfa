package config

import (
	"errors"
	"strings"
	"testing"
)

// base is minimal plus what every valid config needs and minimal leaves
// out: where the app answers its health checks.
const base = minimal + `service:
  exec:
    env: ["ADDR=127.0.0.1:8080"]
`

// withBuildEnv adds build.env: env to yaml, which has a build block.
func withBuildEnv(yaml, env string) string {
	return strings.Replace(yaml, "build:\n", "build:\n  env: "+env+"\n", 1)
}

// TestServiceExpandsFolders: $(DATA_DIR), $(INSTALL_DIR) and $(STATE_DIR)
// in the service's command and environment are the folders updater.yaml
// names, so the app's --dir and dataDir cannot disagree.
func TestServiceExpandsFolders(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(minimal+`service:
  exec:
    command: ["$(INSTALL_DIR)/server", "--state=$(STATE_DIR)", "--data", "$(DATA_DIR)", "$$(DATA_DIR)"]
    env: ["ADDR=127.0.0.1:8080", "DATA_DIR=$(DATA_DIR)", "LOGS=$(STATE_DIR)/logs"]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	wantCmd := []string{"/etc/bp/app/server", "--state=/etc/bp/state", "--data", "/etc/bp/app/data", "$(DATA_DIR)"}
	if strings.Join(c.Service.Exec.Command, " ") != strings.Join(wantCmd, " ") {
		t.Errorf("service.exec.command = %q, want %q", c.Service.Exec.Command, wantCmd)
	}
	wantEnv := []string{"ADDR=127.0.0.1:8080", "DATA_DIR=/etc/bp/app/data", "LOGS=/etc/bp/state/logs"}
	if strings.Join(c.Service.Exec.Env, " ") != strings.Join(wantEnv, " ") {
		t.Errorf("service.exec.env = %q, want %q", c.Service.Exec.Env, wantEnv)
	}
}

// TestHealthURLFollowsServiceAddress: without health.url, the gate probes
// the address the service is told to listen on, never a silent :8080.
func TestHealthURLFollowsServiceAddress(t *testing.T) {
	tests := []struct{ env, want string }{
		{`["ADDR=127.0.0.1:9090"]`, "http://127.0.0.1:9090/api/health"},
		{`["ADDR=:9091"]`, "http://127.0.0.1:9091/api/health"},
		{`["ADDR=0.0.0.0:9092"]`, "http://127.0.0.1:9092/api/health"},
		{`["ADDR=[::]:9093"]`, "http://[::1]:9093/api/health"},
		{`["ADDR=[::1]:9094"]`, "http://[::1]:9094/api/health"},
		{`["ADDR=localhost:9095"]`, "http://localhost:9095/api/health"},
		{`["PORT=9096"]`, "http://127.0.0.1:9096/api/health"},
		{`["PORT=9097", "ADDR=127.0.0.2:9098"]`, "http://127.0.0.2:9098/api/health"},
		{`["ADDR=127.0.0.1:1", "ADDR=127.0.0.1:9099"]`, "http://127.0.0.1:9099/api/health"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c, err := Parse("/etc/bp/updater.yaml", []byte(minimal+"service:\n  exec:\n    env: "+tt.env+"\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Health.URL != tt.want {
				t.Errorf("health.url = %q, want %q", c.Health.URL, tt.want)
			}
		})
	}
	// An explicit URL wins.
	c, err := Parse("/etc/bp/updater.yaml", []byte(base+"health:\n  url: http://127.0.0.1:7000/healthz\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Health.URL != "http://127.0.0.1:7000/healthz" {
		t.Errorf("health.url = %q, want the explicit one", c.Health.URL)
	}
}

func TestHealthFailureThreshold(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Health.FailureThreshold != 3 {
		t.Errorf("health.failureThreshold = %d, want the default 3", c.Health.FailureThreshold)
	}
	c, err = Parse("/etc/bp/updater.yaml", []byte(base+"health:\n  failureThreshold: 1\n  allowRemote: true\n  url: http://10.0.0.5:8080/api/health\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Health.FailureThreshold != 1 || !c.Health.AllowRemote {
		t.Errorf("health = %+v, want failureThreshold 1 and allowRemote", c.Health)
	}
}

// TestRefusesRiskyConfig: each risky setting is refused at load with an
// error naming the field and the fix.
func TestRefusesRiskyConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown name in service env", minimal + "service:\n  exec:\n    env: [\"ADDR=127.0.0.1:8080\", \"DATA_DIR=$(DATADIR)\"]\n",
			[]string{"service.exec.env[1]", "$(DATADIR)", "$(DATA_DIR)", "$$("}},
		{"unknown name in service command", base + "    command: [\"./server\", \"--dir=$(DIR)\"]\n",
			[]string{"service.exec.command[1]", "$(DIR)"}},
		{"version in service", base + "    command: [\"./server\", \"--version=$(VERSION)\"]\n",
			[]string{"service.exec.command[1]", "$(VERSION)", "not available"}},
		{"env entry without =", minimal + "service:\n  exec:\n    env: [\"ADDR=127.0.0.1:8080\", \"DEBUG\"]\n",
			[]string{"service.exec.env[1]", "NAME=value"}},
		{"state in data", strings.Replace(base, "stateDir: state\n", "stateDir: app/data/state\n", 1),
			[]string{"stateDir", "inside dataDir"}},
		{"backups in data", base + "backupDir: app/data/backups\n",
			[]string{"backupDir", "inside dataDir"}},
		{"data in backups", strings.Replace(base, "installDir: app\n", "installDir: backups/app\n", 1) + "backupDir: backups\n",
			[]string{"dataDir", "inside backupDir"}},
		{"data in state", strings.Replace(base, "installDir: app\n", "installDir: state/app\n", 1),
			[]string{"dataDir", "inside stateDir"}},
		{"state in install", strings.Replace(base, "stateDir: state\n", "stateDir: app/.updater\n", 1),
			[]string{"stateDir", "inside installDir"}},
		{"backups in install", base + "backupDir: app/backups\n",
			[]string{"backupDir", "inside installDir"}},
		{"no health address", minimal,
			[]string{"health.url: required", "ADDR="}},
		{"bad ADDR", minimal + "service:\n  exec:\n    env: [\"ADDR=8080\"]\n",
			[]string{"service.exec.env", "ADDR", "host:port"}},
		{"remote health", base + "health:\n  url: http://example.com:8080/api/health\n",
			[]string{"health.url", "not a loopback", "allowRemote"}},
		{"remote derived health", minimal + "service:\n  exec:\n    env: [\"ADDR=192.0.2.7:8080\"]\n",
			[]string{"health.url", "not a loopback", "ADDR"}},
		{"failure threshold", base + "health:\n  failureThreshold: -1\n",
			[]string{"health.failureThreshold", "at least 1"}},
		{"build env entry", withBuildEnv(base, `["GOFLAGS"]`),
			[]string{"build.env[0]", "NAME=value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/bp/updater.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestDigest: the digest changes with any setting, not with how the file
// is written.
func TestDigest(t *testing.T) {
	digest := func(yaml string) string {
		t.Helper()
		c, err := Parse("/etc/bp/updater.yaml", []byte(yaml))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return c.Digest()
	}
	d := digest(base)
	if len(d) != 64 {
		t.Errorf("Digest() = %q, want 64 hex digits", d)
	}
	if got := digest("# a comment\n" + base + "backupsToKeep: 5\n"); got != d {
		t.Errorf("a comment and a default written out changed the digest")
	}
	if got := digest(base + "backup:\n  paths: []\n"); got != d {
		t.Errorf("backup.paths: [], the default, changed the digest")
	}
	if got := digest(base + "backup:\n  paths: [.env]\n"); got == d {
		t.Errorf("backup.paths kept the digest")
	}
	if got := digest(base + "backupsToKeep: 6\n"); got == d {
		t.Errorf("backupsToKeep 6 kept the digest")
	}
	if got := digest(withBuildEnv(base, `["GOFLAGS=-mod=vendor"]`)); got == d {
		t.Errorf("build.env kept the digest")
	}
}

// TestBackupPaths: backup.paths are kept as written when they are clean
// paths inside installDir, and every risky entry is refused at load,
// naming the entry and the fix.
func TestBackupPaths(t *testing.T) {
	paths := func(list string) string { return base + "backup:\n  paths: " + list + "\n" }
	c, err := Parse("/etc/bp/updater.yaml", []byte(paths(`[".env", "migrations", "var/generated"]`)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := strings.Join(c.Backup.Paths, " "); got != ".env migrations var/generated" {
		t.Errorf("backup.paths = %q, want them as written", got)
	}
	tests := []struct {
		name, list string
		want       []string
	}{
		{"absolute", `["/etc/app.env"]`, []string{"backup.paths[0]", "absolute", "relative to installDir"}},
		{"dot-dot", `["../other/.env"]`, []string{"backup.paths[0]", "outside installDir"}},
		{"escapes in the middle", `["migrations/../../x"]`, []string{"backup.paths[0]", "outside installDir"}},
		{"dot-dot inside", `["migrations/../.env"]`, []string{"backup.paths[0]", "not a clean path", `".env"`}},
		{"not clean", `["./migrations/"]`, []string{"backup.paths[0]", `"migrations"`}},
		{"empty", `[""]`, []string{"backup.paths[0]", "empty"}},
		{"install root", `["."]`, []string{"backup.paths[0]", "installDir itself"}},
		{"git", `[".git"]`, []string{"backup.paths[0]", ".git", "remove"}},
		{"inside git", `[".git/config"]`, []string{"backup.paths[0]", ".git"}},
		{"inside data", `["data/cache"]`, []string{"backup.paths[0]", "inside dataDir", "already"}},
		{"data itself", `["data"]`, []string{"backup.paths[0]", "dataDir"}},
		{"holds data", strings.Replace(base, "installDir: app\n", "installDir: app\ndataDir: var/data\n", 1) + "backup:\n  paths: [var]\n",
			[]string{"backup.paths[0]", "holds dataDir"}},
		{"build output", `["server"]`, []string{"backup.paths[0]", "build.backend.output", "every update"}},
		{"duplicate", `[".env", "migrations", ".env"]`, []string{"backup.paths[2]", "listed twice", "backup.paths[0]"}},
		{"nested", `["migrations", "migrations/generated"]`, []string{"backup.paths[1]", "inside backup.paths[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := tt.list
			if !strings.Contains(yaml, "apiVersion") {
				yaml = paths(tt.list)
			}
			_, err := Parse("/etc/bp/updater.yaml", []byte(yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
