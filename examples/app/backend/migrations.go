package main

import "path/filepath"

// migrations lists, in order, every migration this version knows. Append
// new ones at the end with the next id; never edit or remove a released one.
var migrations = []migration{
	{id: 1, name: "create-notes-db", up: createNotesDB},
}

// createNotesDB creates the empty notes database.
func createNotesDB(dataDir string) error {
	return createIfMissing(filepath.Join(dataDir, notesDB), []byte("{\"notes\": []}\n"))
}
