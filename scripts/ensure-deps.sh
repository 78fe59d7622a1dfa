#!/usr/bin/env bash
# Installs what `make demo` and `make test` need beyond Go and git: Node.js
# runs the example app's frontend build, pnpm drives it (the toolchain the
# product names: Go, Node, pnpm), npm installs pnpm and builds the frontend
# in a few tests, and Debian's Chromium runs the Software Updates page's
# browser test (web/, driven from Go with chromedp; never a browser a test
# tool downloads), and Debian's ansible-core runs the examples/ansible/
# playbook in its test; sqlite3, curl and ssh-keygen run the example hooks
# and the SSH-signed fleet commits in theirs, which would otherwise skip.
# Extra commands to install (by their Debian package name, e.g. rsync for
# `make bench`) may be passed as arguments. Idempotent: it installs only
# what is missing, and prints what it does.
#
# pnpm is not packaged by Debian 12, so it comes from the npm registry at a
# pinned version (PNPM_VERSION overrides it). The example frontend has no
# dependencies, so once installed, pnpm builds it offline.
set -euo pipefail

pnpm_version="${PNPM_VERSION:-12.21.0}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

need=()
command -v git >/dev/null || need+=(git)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
# Debian names both the package and the command chromium.
command -v chromium >/dev/null || need+=(chromium)
command -v systemd-analyze >/dev/null || need+=(systemd) # verifies examples/systemd/
command -v sqlite3 >/dev/null || need+=(sqlite3) # runs examples/hooks/ SQLite backup hook in its test
command -v curl >/dev/null || need+=(curl) # runs examples/hooks/ rollback webhook in its test
command -v ssh-keygen >/dev/null || need+=(openssh-client) # git signs and verifies SSH-signed fleet commits through it
for extra in "$@"; do
	command -v "$extra" >/dev/null || need+=("$extra")
done
updated=""
if [ ${#need[@]} -gt 0 ]; then
	echo "ensure-deps: installing ${need[*]} with apt-get" >&2
	$sudo apt-get update -qq
	updated=1
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Debian's Ansible engine runs the examples/ansible/ playbook for real in
# its test. ansible-core alone: the role uses only ansible.builtin, and the
# ansible package of collections it recommends is 250 MB more.
if ! command -v ansible-playbook >/dev/null; then
	echo "ensure-deps: installing ansible-core with apt-get" >&2
	[ -n "$updated" ] || $sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends ansible-core >/dev/null
fi

if ! command -v pnpm >/dev/null; then
	echo "ensure-deps: installing pnpm@${pnpm_version} with npm install -g" >&2
	$sudo npm install -g --no-fund --no-audit --loglevel=error "pnpm@${pnpm_version}" >/dev/null
	# npm's global bin folder may not be on PATH (a custom prefix).
	if ! command -v pnpm >/dev/null; then
		echo "ensure-deps: pnpm was installed into $(npm prefix -g)/bin, which is not on PATH; add it" >&2
		exit 1
	fi
fi
