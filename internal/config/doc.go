// Package config reads updater.yaml, the administrator's description of the
// install the updater manages: where it lives, how to build it, how to run
// it and how to tell that it is healthy.
//
// Commands come only from this file, which only the administrator writes;
// desired.yaml, which tools and dashboards write, can choose a version but
// never what runs. Relative paths are resolved once, at load: installDir,
// stateDir, backupDir, desiredFile and hooksDir against the folder of
// updater.yaml; dataDir and build outputs against installDir.
//
// Load refuses, with an error naming the setting and the fix, layouts
// that would let the updater damage what it protects (state or backups
// inside dataDir or installDir, data inside stateDir or backupDir), a
// health URL off this host unless health.allowRemote, and a health gate
// that does not know the app's address: without health.url, the URL is
// derived from the service's ADDR= or PORT= entry, never a fixed port.
// Whether git tracks dataDir needs the checkout, so preflight checks that.
//
// $(INSTALL_DIR), $(DATA_DIR) and $(STATE_DIR) in the service's command
// and environment and in build.env are expanded once, at load, like the
// paths. Config.BuildEnv gives builds a defined environment, whatever the
// daemon was started with, and Config.Digest identifies the loaded
// configuration, so a record made under one configuration can be lifted
// when it changes.
//
// The api block says where the daemon serves its HTTP API and page:
// 127.0.0.1:8079 unless it says otherwise (a unix socket, another
// address, or "" for none), which Host names and Origins it accepts
// besides its own, and who may frame the page. Digest leaves it out.
package config
