#!/usr/bin/env bash
# deps.sh: the Debian packages make test needs, installed when missing
# (make deps, and the first step of make test). Nothing missing: it says
# nothing and runs no apt. Missing, as root: apt-get update and install of
# the missing ones, non-interactive. Missing, not root: one line with the
# apt-get install command to run as root, and exit 1. On a system without
# dpkg it checks nothing: the steps of make test fail on a missing tool.
set -euo pipefail

# The one list: nix-bin, systemd, systemd-container and busybox-static for
# make check-nix; debootstrap and util-linux for the Ceph chroot (make rgw);
# make lint runs shellcheck; git and ca-certificates for the builds of the
# pinned servers.
packages=(ca-certificates git make debootstrap util-linux nix-bin systemd systemd-container busybox-static shellcheck)

if ! command -v dpkg-query >/dev/null; then
	echo "deps: no dpkg-query, not a Debian system: packages not checked (Debian names: ${packages[*]})" >&2
	exit 0
fi

# One dpkg-query for all: a package it does not know is missing (it says
# so on stderr and exits 1), and so is one known but not "installed"
# (removed, or half-installed).
declare -A have=()
# shellcheck disable=SC2016 # the ${...} are dpkg-query's fields
while read -r name _ _ status; do
	[ "$status" != installed ] || have[$name]=1
done < <(timeout 30 dpkg-query -W -f='${Package} ${Status}\n' "${packages[@]}" 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
	[ -n "${have[$p]:-}" ] || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages; as root, run: apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
# No prompt can wait for an answer (stdin is /dev/null), a held dpkg lock
# is waited for a minute, and neither step runs longer than its timeout.
export DEBIAN_FRONTEND=noninteractive
apt=(apt-get -qq -o DPkg::Lock::Timeout=60)
timeout -k 10 300 "${apt[@]}" update </dev/null ||
	{ echo "deps: apt-get update failed" >&2; exit 1; }
timeout -k 10 1800 "${apt[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null ||
	{ echo "deps: apt-get install of ${missing[*]} failed" >&2; exit 1; }
