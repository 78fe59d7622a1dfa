package fault

import (
	"context"
	"errors"
)

// ErrInjected is wrapped by every error a fault returns.
var ErrInjected = errors.New("injected fault")

type stepKey struct{}

// WithStep returns a context whose fault points are named after step, e.g.
// "swap:do".
func WithStep(ctx context.Context, step string) context.Context {
	return context.WithValue(ctx, stepKey{}, step)
}
