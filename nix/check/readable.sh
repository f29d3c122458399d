#!/usr/bin/env bash
# What a rendered systemd service can see of the host's file system,
# derived from its unit file alone (make check-nix; nix/check/probe.sh runs
# the unit for real):
#
#   nix/check/readable.sh UNIT.service               list what it can see
#   nix/check/readable.sh UNIT.service PATH...       exit 1 if it sees one
#
# The model follows systemd's namespace setup (src/core/namespace.c) for
# the settings the module uses: the root is the host's, or empty with
# RootDirectory= (MountAPIVFS: /proc, /sys, /dev, an empty /run), or with
# TemporaryFileSystem=/, which systemd drops when ProtectSystem= is on
# (DynamicUser= implies it): its read-only / outranks the tmpfs. Over the
# root: Bind(ReadOnly)Paths= show their source at the destination;
# TemporaryFileSystem=, InaccessiblePaths=, ProtectHome= (true or tmpfs)
# and PrivateTmp= hide what is below; LoadCredential= shows
# /run/credentials/<unit>, StateDirectory= and its kin their directory. The
# longest matching path decides; on a tie, inaccessible beats bind beats
# tmpfs, as in systemd. It does not follow symbolic links (a bind shows
# whatever its source resolves to) and assumes RootDirectory= is empty.
set -euo pipefail

unit=$1
shift
[ -f "$unit" ] || {
	echo "readable: no unit file $unit" >&2
	exit 2
}
name=$(basename "$unit")

# values KEY: every value of KEY= in the unit, one word a line.
values() { sed -nE "s/^$1=//p" "$unit" | tr ' ' '\n' | sed '/^$/d'; }
last() { sed -nE "s/^$1=//p" "$unit" | tail -n 1; }
truthy() { case $1 in true | yes | 1 | on) return 0 ;; *) return 1 ;; esac; }

# entries: "PATH<TAB>KIND<TAB>WHAT", KIND one of show, hide, api.
entries=()
add() { entries+=("${1%/}"$'\t'"$2"$'\t'"$3"); }

root=host
protect_system=$(last ProtectSystem)
dynamic_user=$(last DynamicUser)
if [ -n "$(last RootImage)" ]; then
	echo "readable: RootImage= is not modelled" >&2
	exit 2
fi
if [ -n "$(last RootDirectory)" ]; then
	root=empty
fi
while IFS= read -r t; do
	path=${t%%:*}
	if [ "$path" = / ]; then
		if { [ -n "$protect_system" ] && ! [[ $protect_system =~ ^(no|false|0|off)$ ]]; } || truthy "${dynamic_user:-no}"; then
			echo "note: TemporaryFileSystem=/ is dropped by systemd: ProtectSystem= (or DynamicUser=) puts a read-only / in its place" >&2
		else
			root=empty
		fi
	else
		add "$path" hide "empty tmpfs (TemporaryFileSystem)"
	fi
done < <(values TemporaryFileSystem)

if [ "$root" = empty ]; then
	if truthy "$(last MountAPIVFS)" || [ -n "$(last RootDirectory)" ]; then
		add /proc api "kernel API (procfs)"
		add /sys api "kernel API (sysfs, read-only)"
		truthy "$(last PrivateDevices)" || add /dev api "devices"
		add /run hide "empty tmpfs"
	fi
fi
if truthy "$(last PrivateDevices)"; then add /dev api "private /dev (null, zero, random, urandom, tty)"; fi
if truthy "$(last PrivateTmp)"; then
	add /tmp hide "private, empty at start (PrivateTmp)"
	add /var/tmp hide "private, empty at start (PrivateTmp)"
fi
case $(last ProtectHome) in
true | yes | tmpfs)
	for p in /home /root /run/user; do add "$p" hide "hidden (ProtectHome)"; done
	;;
esac
while IFS= read -r p; do
	p=${p#-}
	p=${p#+}
	add "$p" inaccessible "hidden (InaccessiblePaths)"
done < <(values InaccessiblePaths)
for kind in BindReadOnlyPaths BindPaths; do
	mode=$([ "$kind" = BindPaths ] && echo read-write || echo read-only)
	while IFS= read -r b; do
		b=${b#-}
		b=${b#+}
		src=${b%%:*}
		rest=${b#"$src"}
		dst=$src
		if [ -n "$rest" ]; then
			dst=${rest#:}
			dst=${dst%%:*}
		fi
		add "$dst" show "$src, $mode ($kind)"
	done < <(values "$kind")
done
if grep -qE '^(LoadCredential|LoadCredentialEncrypted|SetCredential)=' "$unit"; then
	add "/run/credentials/$name" show "its own credentials (LoadCredential), read-only"
fi
for pair in StateDirectory:/var/lib CacheDirectory:/var/cache LogsDirectory:/var/log RuntimeDirectory:/run ConfigurationDirectory:/etc; do
	while IFS= read -r d; do
		add "${pair#*:}/$d" show "${pair%%:*}, read-write"
	done < <(values "${pair%%:*}")
done

# decide PATH: prints "KIND<TAB>WHAT" for the entry that decides PATH.
rank() { case $1 in inaccessible) echo 3 ;; show | api) echo 2 ;; *) echo 1 ;; esac; }
decide() {
	local path=$1 best="" best_len=-1 best_rank=0 e p len r
	for e in "${entries[@]}"; do
		p=${e%%$'\t'*}
		# "" is /, which holds every path.
		[ -z "$p" ] || [ "$path" = "$p" ] || [[ $path == "$p"/* ]] || continue
		len=${#p}
		r=$(rank "$(cut -f2 <<<"$e")")
		if [ "$len" -gt "$best_len" ] || { [ "$len" -eq "$best_len" ] && [ "$r" -gt "$best_rank" ]; }; then
			best=$e best_len=$len best_rank=$r
		fi
	done
	if [ -z "$best" ]; then
		printf '%s\t%s\n' "$([ "$root" = host ] && echo show || echo hide)" "root: $root"
	else
		cut -f2- <<<"$best"
	fi
}

if [ $# -eq 0 ]; then
	# In a host root, list what is hidden; in an empty one, what is shown.
	if [ "$root" = host ]; then
		echo "$name can read the host's / (with CAP_DAC_READ_SEARCH: every file), but for:"
		want=hidden
	else
		echo "$name can read (its root is an empty directory):"
		want=shown
	fi
	printf '%s\n' "${entries[@]}" | cut -f1 | sort -u | while IFS= read -r p; do
		verdict=$(decide "${p:-/}")
		case $verdict in show* | api*) is=shown ;; *) is=hidden ;; esac
		[ "$is" != "$want" ] || printf '  %-40s %s\n' "${p:-/}" "${verdict#*$'\t'}"
	done
	exit 0
fi

status=0
for path in "$@"; do
	verdict=$(decide "$path")
	case $verdict in
	show* | api*)
		echo "$name can read $path (${verdict#*$'\t'})"
		status=1
		;;
	esac
done
exit $status
