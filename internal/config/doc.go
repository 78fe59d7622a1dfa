// Package config reads updater.yaml, the administrator's description of the
// install the updater manages: where it lives, how to build it, how to run
// it and how to tell that it is healthy.
//
// Commands come only from this file, which only the administrator writes;
// desired.yaml, which tools and dashboards write, can choose a version but
// never what runs. Relative paths are resolved once, at load: installDir,
// stateDir, backupDir, desiredFile and hooksDir against the folder of
// updater.yaml; dataDir and build outputs against installDir.
package config
