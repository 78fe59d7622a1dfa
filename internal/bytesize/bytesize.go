// Package bytesize writes byte counts the way people read them.
package bytesize

import "fmt"

// Format returns n in IEC units with one decimal above a KiB ("512 B",
// "64 KiB", "1.0 MiB", "3.2 GiB"); whole KiB are written without a decimal
// so limits such as 64 KiB read as they are configured.
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n)/unit, 0
	for v >= unit && i < len(units)-1 {
		v /= unit
		i++
	}
	if i == 0 && n%unit == 0 {
		return fmt.Sprintf("%d KiB", n/unit)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
