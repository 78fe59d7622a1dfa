package bytesize

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 64 << 10: "64 KiB", 1536: "1.5 KiB",
		1 << 20: "1.0 MiB", 1<<20 + 1: "1.0 MiB", 1100000: "1.0 MiB", 5 << 30: "5.0 GiB", 1 << 62: "4.0 EiB",
	} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
	}
}
