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

// name is the full name of point in ctx.
func name(ctx context.Context, point string) string {
	if step, ok := ctx.Value(stepKey{}).(string); ok && step != "" {
		return step + ":" + point
	}
	return point
}
