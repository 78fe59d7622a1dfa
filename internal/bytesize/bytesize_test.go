package bytesize

import (
	"math"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{10188, "9.9 KiB"},
		{10230, "10 KiB"}, // 9.99 rounds to 10.0, printed without the decimal
		{64 << 10, "64 KiB"},
		{1 << 20, "1 MiB"},
		{1100000, "1 MiB"},
		{300 << 20, "300 MiB"},
		{1200 << 20, "1.2 GiB"},
		{1<<30 - 1<<10, "1 GiB"}, // 1023.999 MiB
		{1 << 62, "4 EiB"},
		{math.MaxUint64, "16 EiB"},
	}
	for _, tt := range tests {
		if got := Format(tt.n); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		err  string
	}{
		{in: "4096", want: 4096},
		{in: "512MiB", want: 512 << 20},
		{in: "1 GiB", want: 1 << 30},
		{in: "100MB", want: 100e6},
		{in: "2kB", want: 2000},
		{in: "0B", want: 0},
		{in: "", err: "is not a size"},
		{in: "MiB", err: "is not a size"},
		{in: "1.5GiB", err: "unknown unit"},
		{in: "5mb", err: "unknown unit"},
		{in: "-1", err: "is not a size"},
		{in: "99999999999TiB", err: "too large"},
	} {
		got, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
