// Package release builds the updater's own releases: the archive names and
// layout self-update relies on, reproducible .tar.gz archives, and Build,
// which cross-compiles, archives, checksums and signs a release into a
// folder. `make release` runs it through scripts/release.
//
// A release of version V (vMAJOR.MINOR.PATCH[-pre]) is, for each of Targets:
//
//	better-paas-updater_V_<os>_<arch>.tar.gz
//	  better-paas-updater_V_<os>_<arch>/             0755
//	  better-paas-updater_V_<os>_<arch>/LICENSE       0644
//	  better-paas-updater_V_<os>_<arch>/README.md     0644
//	  better-paas-updater_V_<os>_<arch>/better-paas-updater  0755
//
// plus SHA256SUMS over the archives and, when a key is given,
// SHA256SUMS.minisig (package signedsums defines both).
//
// Everything is a function of the commit, its time and the key: the
// binaries are built with -trimpath -buildvcs=false and a fixed
// environment, stamped with the commit and its time (not the clock), the
// archives carry the commit time and no owner or host details, and Ed25519
// signatures are deterministic. So building one commit twice gives the same
// bytes, and anyone can check a published release against the source.
package release
