package bytesize

import (
	"math"
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
