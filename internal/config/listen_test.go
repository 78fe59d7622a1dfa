package config

import (
	"errors"
	"strings"
	"testing"
)

// TestListenGivesHealthURL: with service.exec.listen, the gate probes the
// socket the supervisor owns, whatever ADDR= says (a plain-way release
// listens there too, so they must agree anyway).
func TestListenGivesHealthURL(t *testing.T) {
	tests := []struct{ service, want string }{
		{"listen: 127.0.0.1:9090", "http://127.0.0.1:9090/api/health"},
		{"listen: 127.0.0.1:9090\n    env: [\"ADDR=127.0.0.1:9090\"]", "http://127.0.0.1:9090/api/health"},
		{"listen: \":9091\"", "http://127.0.0.1:9091/api/health"},
		{"listen: 0.0.0.0:9092", "http://127.0.0.1:9092/api/health"},
		{"listen: \"[::]:9093\"", "http://[::1]:9093/api/health"},
		{"listen: localhost:9094", "http://localhost:9094/api/health"},
		{"listen: 127.0.0.1:9095\n    env: [\"PORT=1\"]", "http://127.0.0.1:9095/api/health"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			wantHealthURL(t, minimal+"service:\n  exec:\n    "+tt.service+"\n", tt.want)
		})
	}
	c := wantHealthURL(t, minimal+"service:\n  exec:\n    listen: unix:/run/app.sock\nhealth:\n  url: http://127.0.0.1:8080/api/health\n",
		"http://127.0.0.1:8080/api/health")
	if c.Service.Exec.Listen != "unix:/run/app.sock" {
		t.Errorf("listen %q, want it kept as written with health.url", c.Service.Exec.Listen)
	}
}

func TestListenRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"not an address", minimal + "service:\n  exec:\n    listen: \"8080\"\n",
			[]string{"service.exec.listen", "host:port", "unix:/path"}},
		{"port 0", minimal + "service:\n  exec:\n    listen: 127.0.0.1:0\n",
			[]string{"service.exec.listen", "fixed port"}},
		{"relative socket", minimal + "service:\n  exec:\n    listen: unix:app.sock\nhealth:\n  url: http://127.0.0.1:1/api/health\n",
			[]string{"service.exec.listen", "absolute"}},
		{"unix without health.url", minimal + "service:\n  exec:\n    listen: unix:/run/app.sock\n",
			[]string{"health.url", "required with service.exec.listen unix:/run/app.sock"}},
		{"ADDR elsewhere", minimal + "service:\n  exec:\n    listen: 127.0.0.1:8080\n    env: [\"ADDR=127.0.0.1:9090\"]\n",
			[]string{"service.exec.env", "ADDR=127.0.0.1:9090 differs from service.exec.listen 127.0.0.1:8080"}},
		{"socket variables", minimal + "service:\n  exec:\n    listen: 127.0.0.1:8080\n    env: [\"LISTEN_FDS=2\"]\n",
			[]string{"service.exec.env[0]", "LISTEN_FDS", "set by the supervisor"}},
		{"systemd", minimal + "service:\n  manager: systemd\n  exec:\n    listen: 127.0.0.1:8080\n",
			[]string{"service.exec.listen", "only used with service.manager: exec", ".socket unit"}},
		{"remote", minimal + "service:\n  exec:\n    listen: 192.0.2.7:8080\n",
			[]string{"health.url", "not a loopback", "derived from service.exec.listen 192.0.2.7:8080"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantInvalid(t, tt.yaml, tt.want...) })
	}
}

// wantHealthURL parses yaml and checks the URL the health gate probes.
func wantHealthURL(t *testing.T, yaml, want string) *Config {
	t.Helper()
	c, err := Parse("/etc/bp/updater.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Health.URL != want {
		t.Errorf("health.url = %q, want %q", c.Health.URL, want)
	}
	return c
}

// wantInvalid checks that yaml is refused with ErrInvalid, in an error
// that says each of want (the field, the value, the fix).
func wantInvalid(t *testing.T, yaml string, want ...string) {
	t.Helper()
	_, err := Parse("/etc/bp/updater.yaml", []byte(yaml))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}
