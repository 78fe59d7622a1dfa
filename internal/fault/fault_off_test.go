//go:build !faultinject

package fault

import (
	"context"
	"testing"
)

func TestInjectIsInertWithoutTheTag(t *testing.T) {
	t.Setenv("BETTER_PAAS_FAULTS", "x:do:mid=error")
	if Enabled || Inject(WithStep(context.Background(), "x:do"), "mid") != nil {
		t.Fatal("a normal build acted on a fault point")
	}
}
