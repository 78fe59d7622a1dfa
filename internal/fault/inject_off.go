//go:build !faultinject

package fault

import "context"

// Enabled reports whether this build acts on fault points.
const Enabled = false

// Inject does nothing in a normal build.
func Inject(context.Context, string) error { return nil }
