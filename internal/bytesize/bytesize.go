// Package bytesize writes byte counts the way people read them, in every
// message and listing of the updater.
package bytesize

import (
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
