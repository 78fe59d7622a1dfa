#!/usr/bin/env bash
# Installs what `make demo` and `make test` need beyond Go and git: Node.js
# and npm build the example app's frontend. Extra commands to install (by
# their Debian package name, e.g. rsync for `make bench`) may be passed as
# arguments. Idempotent; prints what it does.
set -euo pipefail

need=()
command -v git >/dev/null || need+=(git)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
for extra in "$@"; do
	command -v "$extra" >/dev/null || need+=("$extra")
done
[ ${#need[@]} -eq 0 ] && exit 0

echo "ensure-deps: installing ${need[*]} with apt-get" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
