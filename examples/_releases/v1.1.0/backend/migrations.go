package main

import "path/filepath"

// migrations lists, in order, every migration this version knows. Append
// new ones at the end with the next id; never edit or remove a released one.
var migrations = []migration{
	{id: 1, name: "create-notes-db", up: createNotesDB},
	{id: 2, name: "create-settings", up: createSettings},
}

// createNotesDB creates the empty notes database.
func createNotesDB(dataDir string) error {
	return createIfMissing(filepath.Join(dataDir, notesDB), []byte("{\"notes\": []}\n"))
}

// createSettings adds the settings file with defaults. It is a new file
// rather than a new field in app.db.json, so v1.0.0 never sees a database
// it did not write.
func createSettings(dataDir string) error {
	return createIfMissing(filepath.Join(dataDir, "settings.json"), []byte("{\"notesOrder\": \"newestFirst\"}\n"))
}
