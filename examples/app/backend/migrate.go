package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A migration prepares the data folder for a feature.
//
// Migrations are additive: they create files or records that are missing and
// never delete or rewrite data an older version wrote. That keeps the data
// folder readable by the previous release, so the updater can roll back a
// failed update without restoring data.
//
// up must be idempotent: if the process dies after up but before the
// migration is recorded, up runs again on the next boot.
type migration struct {
	id   int
	name string
	up   func(dataDir string) error
}

// migrationsLog records applied migrations, one line each, appended and
// never rewritten: "<id> <name> <version> <time>".
const migrationsLog = "migrations.log"

// migrate applies, in order, the migrations of ms that migrationsLog does not
// list yet. Ids in the log that ms does not know were applied by a newer
// version; they are left alone, which is what lets an older version run
// after a rollback.
func migrate(dataDir string, ms []migration) error {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return fmt.Errorf("cannot create data folder %s: %w", dataDir, err)
	}
	logPath := filepath.Join(dataDir, migrationsLog)
	applied, err := appliedMigrations(logPath)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[m.id] {
			continue
		}
		if err := m.up(dataDir); err != nil {
			return fmt.Errorf("cannot apply migration %d %s: %w", m.id, m.name, err)
		}
		line := fmt.Sprintf("%d %s %s %s\n", m.id, m.name, version, time.Now().UTC().Format(time.RFC3339))
		if err := appendLine(logPath, line); err != nil {
			return fmt.Errorf("cannot record migration %d %s: %w", m.id, m.name, err)
		}
		log.Printf("applied migration %d %s", m.id, m.name)
	}
	return nil
}

// appliedMigrations reads the ids recorded in the log at path. A missing log
// means a fresh data folder.
func appliedMigrations(path string) (map[int]bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()

	applied := map[int]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		id, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("cannot parse %s line %d: migration id %q is not a number", path, n, fields[0])
		}
		applied[id] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return applied, nil
}

// createIfMissing writes data to path unless path exists: the building
// block of additive migrations.
func createIfMissing(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot stat %s: %w", path, err)
	}
	return writeFileAtomic(path, data)
}
