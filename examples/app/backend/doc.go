// Command backend is the server of the Better-PaaS example app, the app the
// updater installs, updates and rolls back in the demo and the tests.
//
// It is deliberately small and uses only the standard library, so a host can
// build it offline with `go build -ldflags "-X main.version=v1.2.3" -o server
// ./backend`.
//
// Configuration comes from the environment:
//
//	ADDR          listen address (default 127.0.0.1:8080, loopback only)
//	LISTEN_FDS    with LISTEN_PID equal to the app's pid: serve on the
//	              socket passed as fd 3 instead of ADDR (systemd socket
//	              activation; the updater's service.exec.listen)
//	FRONTEND_DIR  built web UI served at / (default frontend/dist)
//	DATA_DIR      data folder (default data)
//
// Endpoints:
//
//	GET  /api/health  200 {"status":"ok","version":"v1.2.3"} when ready
//	GET  /api/notes   the notes stored in DATA_DIR/app.db.json
//	POST /api/notes   {"text":"..."} appends a note
//
// On boot it applies the numbered migrations this version knows and records
// each one as a new file, DATA_DIR/migrations/<id>-<name>.json. Migrations
// and their records are additive (see migrate.go): every file in DATA_DIR
// before a boot is byte-identical after it, and an older version keeps
// working on a data folder a newer version migrated, which is what makes
// rolling back a failed update safe.
//
// `server --version` prints the version it was built with and exits, so the
// updater can tell which version is installed without starting it.
package main
