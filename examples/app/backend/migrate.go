package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"regexp"
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

// migrationsDir, inside the data folder, holds one record file per applied
// migration, named by recordName. A record is created once and never
// rewritten, so recording a migration only ever adds a file: every file
// present in the data folder before a boot is byte-identical after it, which
// is the promise the updater checks.
const migrationsDir = "migrations"

// recordPattern matches a record file name: "<id, at least 4 digits>-<name>.json".
var recordPattern = regexp.MustCompile(`^([0-9]{4,})-([^/]+)\.json$`)

// recordName is the file name of m's record, e.g. "0001-create-notes-db.json".
// The zero-padded id makes `ls` list records in the order they apply.
func recordName(m migration) string {
	return fmt.Sprintf("%04d-%s.json", m.id, m.name)
}

// migrationRecord is the content of a record file. Only the file name counts
// when deciding what is applied; the content is for humans and support.
type migrationRecord struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	AppliedAt string `json:"appliedAt"`
}

// migrate applies, in order, the migrations of ms that have no record in
// migrationsDir yet, and records each one right after it succeeds. Records
// whose ids ms does not know were written by a newer version; they are left
// alone, which is what lets an older version run after a rollback.
func migrate(dataDir string, ms []migration) error {
	dir := filepath.Join(dataDir, migrationsDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create migrations folder %s: %w", dir, err)
	}
	// Make the new folders' names durable before records go in them.
	if err := syncDir(dataDir); err != nil {
		return err
	}
	applied, err := appliedMigrations(dir)
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
		if err := recordMigration(dir, m); err != nil {
			return fmt.Errorf("cannot record migration %d %s: %w", m.id, m.name, err)
		}
		log.Printf("applied migration %d %s", m.id, m.name)
	}
	return nil
}

// appliedMigrations returns the ids of the records in dir. A name that is
// not a record (a stray file, a folder) is logged and ignored rather than
// failing the boot: it cannot mean a migration was applied. Hidden names are
// temporary files of a write a crash interrupted; the migration they belong
// to is not applied yet, so they are skipped quietly.
func appliedMigrations(dir string) (map[int]bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[int]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read migrations folder %s: %w", dir, err)
	}
	applied := map[int]bool{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		match := recordPattern.FindStringSubmatch(name)
		if match == nil || !e.Type().IsRegular() {
			log.Printf("ignoring %s in %s: not a migration record <id>-<name>.json", name, dir)
			continue
		}
		id, err := strconv.Atoi(match[1])
		if err != nil {
			log.Printf("ignoring %s in %s: migration id %s is out of range", name, dir, match[1])
			continue
		}
		applied[id] = true
	}
	return applied, nil
}

// recordMigration creates m's record file in dir atomically, so a crash
// leaves either no record (m runs again, which up tolerates) or a whole one.
func recordMigration(dir string, m migration) error {
	data, err := json.MarshalIndent(migrationRecord{
		ID:        m.id,
		Name:      m.name,
		Version:   version,
		AppliedAt: time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode migration record: %w", err)
	}
	return createIfMissing(filepath.Join(dir, recordName(m)), append(data, '\n'))
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
