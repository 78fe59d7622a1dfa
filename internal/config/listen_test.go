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
			c, err := Parse("/etc/bp/updater.yaml", []byte(minimal+"service:\n  exec:\n    "+tt.service+"\n"))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Health.URL != tt.want {
				t.Errorf("health.url = %q, want %q", c.Health.URL, tt.want)
			}
		})
	}
	c, err := Parse("/etc/bp/updater.yaml", []byte(minimal+"service:\n  exec:\n    listen: unix:/run/app.sock\nhealth:\n  url: http://127.0.0.1:8080/api/health\n"))
	if err != nil {
		t.Fatalf("Parse with a unix socket and health.url: %v", err)
	}
	if c.Service.Exec.Listen != "unix:/run/app.sock" || c.Health.URL != "http://127.0.0.1:8080/api/health" {
		t.Errorf("listen %q, health.url %q: want both kept as written", c.Service.Exec.Listen, c.Health.URL)
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
