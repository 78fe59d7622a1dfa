package status

import "testing"

// TestSetLastKnownGoodKeepsThePreviousVersion: a new good version moves the
// old one to PreviousGood; the same version again leaves PreviousGood alone.
func TestSetLastKnownGoodKeepsThePreviousVersion(t *testing.T) {
	s := New()
	s.SetLastKnownGood(Revision{Version: "v1.0.0", Commit: "a"})
	if s.PreviousGood != nil || s.LastKnownGood.Version != "v1.0.0" {
		t.Fatalf("first: lastKnownGood %+v previousGood %+v", s.LastKnownGood, s.PreviousGood)
	}
	s.SetLastKnownGood(Revision{Version: "v1.1.0", Commit: "b"})
	if s.PreviousGood == nil || s.PreviousGood.Version != "v1.0.0" || s.LastKnownGood.Version != "v1.1.0" {
		t.Fatalf("second: lastKnownGood %+v previousGood %+v", s.LastKnownGood, s.PreviousGood)
	}
	// A repair or a resync marking v1.1.0 ready again.
	s.SetLastKnownGood(Revision{Version: "v1.1.0", Commit: "b", BinarySHA256: "f00d"})
	if s.PreviousGood == nil || s.PreviousGood.Version != "v1.0.0" || s.LastKnownGood.BinarySHA256 != "f00d" {
		t.Fatalf("same version again: lastKnownGood %+v previousGood %+v", s.LastKnownGood, s.PreviousGood)
	}
}
