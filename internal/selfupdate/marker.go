package selfupdate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
)

// MarkerName is the marker's file name in the state folder.
const MarkerName = "self-update.json"

// MarkerKind identifies a marker document.
const MarkerKind = "SelfUpdate"

// Phases of a self-update in flight.
const (
	// PhaseTrial: <exe>.new runs as the daemon (or is about to) and has
	// not reconciled once yet; <exe> is the old binary.
	PhaseTrial = "Trial"
	// PhaseCommitting: the new updater reconciled and is renaming itself
	// over <exe>; a process that finds this finishes the rename.
	PhaseCommitting = "Committing"
)

// Marker is <stateDir>/self-update.json: the self-update in flight, written
// before the exec into the new binary and removed once it is settled, so
// whichever binary starts next knows what happened.
type Marker struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// From is the version that handed over; To the one on trial.
	From string `json:"from"`
	To   string `json:"to"`
	// Exe is the binary the daemon runs as (symlinks resolved); New is
	// the staged binary beside it (Exe + ".new").
	Exe       string    `json:"exe"`
	New       string    `json:"new"`
	Phase     string    `json:"phase"`
	StartedAt time.Time `json:"startedAt"`
	// Attempts counts the starts of the new binary on trial.
	Attempts int `json:"attempts"`
}

// readMarker reads the marker at path; ok is false when there is none.
func readMarker(path string) (m Marker, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, fmt.Errorf("cannot read %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Marker{}, false, fmt.Errorf("cannot read %s: %w; it records a self-update in flight: remove it if no self-update is running", path, err)
	}
	if m.APIVersion != apiversion.V1 || m.Kind != MarkerKind || m.From == "" || m.To == "" || !filepath.IsAbs(m.Exe) || m.New != m.Exe+".new" {
		return Marker{}, false, fmt.Errorf("cannot read %s: not a self-update marker of this updater (apiVersion %q kind %q); remove it if no self-update is running", path, m.APIVersion, m.Kind)
	}
	return m, true, nil
}

// writeMarker writes m to path atomically.
func writeMarker(path string, m Marker) error {
	m.APIVersion, m.Kind = apiversion.V1, MarkerKind
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// removeFile removes path, durably; a missing file is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot remove %s: %w", path, err)
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}
