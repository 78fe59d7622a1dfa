package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// notesDB is the notes database inside the data folder, created by
// migration 1.
const notesDB = "app.db.json"

// maxNoteBytes bounds the request body of POST /api/notes.
const maxNoteBytes = 64 << 10

type note struct {
	ID        int       `json:"id"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
}

// loadNotesDB reads the database as raw JSON. Top-level fields and note
// fields this version does not know are kept as they are, so saving never
// drops what a newer version wrote.
func (s *server) loadNotesDB() (db map[string]json.RawMessage, notes []json.RawMessage, err error) {
	path := filepath.Join(s.dataDir, notesDB)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &db); err != nil {
		return nil, nil, fmt.Errorf("cannot parse %s: %w", path, err)
	}
	if raw, ok := db["notes"]; ok {
		if err := json.Unmarshal(raw, &notes); err != nil {
			return nil, nil, fmt.Errorf("cannot parse notes in %s: %w", path, err)
		}
	}
	return db, notes, nil
}

func (s *server) handleListNotes(w http.ResponseWriter, r *http.Request) {
	s.notesMu.Lock()
	_, notes, err := s.loadNotesDB()
	s.notesMu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse{Error: err.Error()})
		return
	}
	if notes == nil {
		notes = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notes": notes})
}

func (s *server) handleAddNote(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxNoteBytes)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "body must be JSON like {\"text\": \"...\"}"})
		return
	}
	text := strings.TrimSpace(req.Text)
	if text == "" {
		writeJSON(w, http.StatusBadRequest, errorResponse{Error: "text must not be empty"})
		return
	}

	n, err := s.appendNote(text)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, errorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

// appendNote adds a note and saves the database atomically, so a crash
// leaves either the old or the new database, never a torn file.
func (s *server) appendNote(text string) (note, error) {
	s.notesMu.Lock()
	defer s.notesMu.Unlock()

	db, notes, err := s.loadNotesDB()
	if err != nil {
		return note{}, err
	}
	n := note{ID: len(notes) + 1, Text: text, CreatedAt: time.Now().UTC()}
	raw, err := json.Marshal(n)
	if err != nil {
		return note{}, fmt.Errorf("cannot encode note: %w", err)
	}
	if db["notes"], err = json.Marshal(append(notes, raw)); err != nil {
		return note{}, fmt.Errorf("cannot encode notes: %w", err)
	}
	data, err := json.MarshalIndent(db, "", "  ")
	if err != nil {
		return note{}, fmt.Errorf("cannot encode notes database: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.dataDir, notesDB), append(data, '\n')); err != nil {
		return note{}, err
	}
	return n, nil
}
