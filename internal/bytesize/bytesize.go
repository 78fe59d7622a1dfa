// Package bytesize writes byte counts the way people read them, in every
// message and listing of the updater, and reads them as people write them
// in updater.yaml.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Format renders n in binary units with at most one decimal: "512 B",
// "1.5 KiB", "64 KiB", "300 MiB", "4 EiB". A value that rounds to 1024 of
// a unit is written as 1 of the next ("1 GiB", not "1024 MiB").
func Format(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if v >= 10 {
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	if s == "1024" && i < len(units)-1 { // 1023.7 MiB rounds up to the next unit
		s, i = "1", i+1
	}
	return strings.TrimSuffix(s, ".0") + " " + units[i]
}

// units are the suffixes Parse accepts and their multipliers: binary (KiB,
// MiB, GiB, TiB) and decimal (kB, MB, GB, TB) units, and B.
var units = map[string]uint64{
	"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// Parse reads a byte count as people write it in a config file: a whole
// number with an optional unit, "512MiB", "1 GiB", "100MB", "4096". A
// plain number is bytes. Units are case-sensitive as written above, so
// "mb" (millibits?) is refused rather than guessed.
func Parse(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size: write a whole number with a unit, such as 512MiB or 1GiB", s)
	}
	n, err := strconv.ParseUint(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	unit := strings.TrimSpace(t[i:])
	if unit == "" {
		return n, nil
	}
	m, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("%q has unknown unit %q: use B, KiB, MiB, GiB, TiB (or kB, MB, GB, TB)", s, unit)
	}
	if n > math.MaxUint64/m {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * m, nil
}
