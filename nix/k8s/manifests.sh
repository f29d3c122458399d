#!/usr/bin/env bash
# make manifests: the rgw-mirror CronJobs and the Secrets they read, one
# JSON file per object, for `kubectl apply --server-side -f OUT`:
#
#   nix/k8s/manifests.sh CONFIG SOPS_FILE OUT
#
# CONFIG holds the arguments of nix/k8s/cronjob.nix (see
# nix/k8s/examples/cluster.nix). SOPS_FILE is the SOPS file with the secret
# values (keys: nix/k8s/secrets.nix): decrypted with `sops -d` into a
# private temp file, read by `nix eval` (never copied into the Nix store),
# removed. A file without SOPS metadata is taken as already decrypted JSON
# (nix/k8s/examples/secrets.example.json stands in for one in the tests),
# with a warning. OUT gets mode 0700 and its files 0600: the Secrets hold
# the values. Secrets the CronJobs read that the SOPS file does not
# provide are listed: yours to create.
set -euo pipefail

if [ $# -ne 3 ]; then
	echo "usage: $0 CONFIG SOPS_FILE OUT" >&2
	exit 2
fi
config=$1 sops_file=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
fail() {
	echo "manifests: $*" >&2
	exit 1
}
[ -f "$config" ] || fail "no settings file $config (MANIFESTS_CONFIG)"
[ -f "$sops_file" ] || fail "no SOPS file $sops_file (SOPS_FILE)"
command -v nix >/dev/null || fail "nix is not installed (Debian: nix-bin)"
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
decrypted=$work/secrets.json

# SOPS files carry their metadata under a top-level "sops" key.
if grep -qE '^sops:|"sops"[[:space:]]*:' "$sops_file"; then
	command -v sops >/dev/null || fail "$sops_file is encrypted with SOPS, and sops is not installed"
	timeout 60 sops --decrypt --output-type json "$sops_file" >"$decrypted" ||
		fail "sops could not decrypt $sops_file (exit code $?)"
else
	case $sops_file in
	*.json) ;;
	*) fail "$sops_file has no SOPS metadata and is not JSON: give the encrypted file, or decrypted JSON" ;;
	esac
	echo "manifests: warning: $sops_file is not encrypted: taken as decrypted SOPS values" >&2
	cp "$sops_file" "$decrypted"
fi

nixeval() {
	timeout 120 nix --extra-experimental-features nix-command eval --raw --impure \
		--file "$here/manifests.nix" --argstr configFile "$config" --argstr secretsFile "$decrypted" "$@"
}
rendered=$(nixeval files) || fail "nix eval failed (above)"
missing=$(nixeval missing) || fail "nix eval failed (above)"

mkdir -p "$out"
chmod 0700 "$out"
n=0
while IFS=$'\t' read -r file json; do
	[ -n "$file" ] || continue
	case $file in */* | .*) fail "unexpected file name $file" ;; esac
	printf '%s\n' "$json" >"$out/$file"
	n=$((n + 1))
done <<<"$rendered"
echo "manifests: $n objects in $out/ (apply with: kubectl apply --server-side -f $(printf '%q' "$out")/)"
if [ -n "$missing" ]; then
	echo "manifests: the CronJobs also read these Secrets, not in $sops_file: create them yourself:"
	printf '%s' "$missing" | sed 's/^/  /'
fi
