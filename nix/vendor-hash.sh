#!/usr/bin/env bash
# Computes buildGoModule's vendorHash for nix/package.nix without building
# with Nix: buildGoModule's goModules output is the `go mod vendor` tree of
# the package's source (the git-tracked files but nix/), hashed as a NAR.
#
#   nix/vendor-hash.sh           print the hash
#   nix/vendor-hash.sh --check   fail unless nix/package.nix has it
#   nix/vendor-hash.sh --write   put it into nix/package.nix
#
# Needs go (the Go version nix/package.nix builds with: vendor/modules.txt
# records it), git and nix. Modules come from the module cache, or the
# proxy when GOPROXY allows.
set -euo pipefail

mode=${1:-print}
case $mode in
print | --check | --write) ;;
*)
	echo "usage: $0 [--check|--write]" >&2
	exit 2
	;;
esac

for tool in go git nix; do
	command -v "$tool" >/dev/null || {
		echo "vendor-hash: $tool is not installed" >&2
		exit 1
	}
done

repo=$(cd "$(dirname "$0")/.." && pwd)
package="$repo/nix/package.nix"
tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

# The package's source: tracked files as they are in the work tree, without
# nix/ (nix/package.nix filters it out too).
(cd "$repo" && git ls-files -z) | while IFS= read -r -d '' f; do
	case $f in nix/*) continue ;; esac
	[ -e "$repo/$f" ] || continue
	mkdir -p "$tmp/src/$(dirname "$f")"
	cp -p "$repo/$f" "$tmp/src/$f"
done

(
	cd "$tmp/src"
	rm -rf vendor
	GOFLAGS='' GOWORK=off GOTOOLCHAIN=local GO111MODULE=on go mod vendor
)
hash=$(nix --extra-experimental-features nix-command hash path --type sha256 --sri "$tmp/src/vendor")
current=$(sed -n 's/^ *vendorHash = "\(.*\)";/\1/p' "$package")

case $mode in
print) echo "$hash" ;;
--check)
	if [ "$hash" != "$current" ]; then
		echo "vendor-hash: nix/package.nix has vendorHash $current, the sources need $hash; run nix/vendor-hash.sh --write" >&2
		exit 1
	fi
	echo "vendor-hash: $hash is current"
	;;
--write)
	sed -i "s|^\( *vendorHash = \"\).*\(\";\)|\1$hash\2|" "$package"
	echo "vendor-hash: nix/package.nix now has $hash"
	;;
esac
