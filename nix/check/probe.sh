#!/usr/bin/env bash
# Runs rendered units for real, under systemd, and lists what each one can
# read (make check-nix, after nix/check/readable.sh has derived it from the
# unit files):
#
#   nix/check/probe.sh OUT UNITDIR UNIT...
#
# UNITDIR holds the rendered units, tmpfiles.conf (the module's tmpfiles
# rules) and groups (the groups it declares, one a line). A container
# (systemd-nspawn, booting this machine's systemd from /usr) gets a file
# system laid out like a NixOS k3s server, with the secrets a node holds:
# SSH host keys, /etc/shadow, k3s's token and kubeconfig, sops-nix's key,
# /run/secrets, /run/keys, /run/agenix, another unit's credentials. Each
# UNIT runs there with its own settings, its ExecStart replaced by a probe
# (busybox, static, added to the Nix store) that walks / and reports what
# it can read and where it can write. OUT/<unit>.txt gets the report.
# Exits 1 when a unit reads a secret, misses its snapshots or credentials,
# or cannot write its state or metrics.
#
# Needs root, systemd-nspawn (Debian: systemd-container), a static busybox
# (Debian: busybox-static), nix-store, and a systemd in /usr. The systemd
# is this machine's (Debian 12: 252), not NixOS's; the namespace settings
# the module uses behave the same in both.
set -euo pipefail

out=$1 units=$2
shift 2
probed=("$@")
fail() {
	echo "probe: FAIL: $*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || fail "must run as root (it boots a container)"
for tool in systemd-nspawn unshare nix-store timeout; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (Debian: systemd-container util-linux nix-bin)"
done
# Static: the sandbox has no /lib. A dynamic binary names its loader.
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || grep -q -e /lib64/ld-linux -e /lib/ld-linux "$busybox"; then fail "no static busybox (Debian: busybox-static)"; fi
if [ ! -f /usr/lib/os-release ] || [ ! -x /usr/lib/systemd/systemd ]; then fail "no systemd in /usr to boot the container with"; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# --- the probe, in the Nix store so the sandbox shows it
mkdir -p "$work/pkg/bin"
cp "$busybox" "$work/pkg/bin/busybox"
cat >"$work/pkg/probe.sh" <<'EOF'
bb=${0%/probe.sh}/bin/busybox
# Every path it can see, but for the kernel's, the store's and /usr's
# contents (the container's /usr is this machine's; a NixOS /usr holds
# /usr/bin/env alone).
"$bb" find / \( -path /proc -o -path /sys -o -path /dev -o -path /nix/store -o -path /usr \) -prune -o -print 2>/dev/null |
	while IFS= read -r p; do
		if [ -d "$p" ]; then
			if "$bb" ls "$p" >/dev/null 2>&1; then echo "list $p"; else echo "see $p"; fi
		elif [ -f "$p" ] && c=$("$bb" head -c 12 "$p" 2>/dev/null); then
			# Regular files only: opening a FIFO would wait for a writer.
			# A node's secrets hold "probe-secret" (an inaccessible node
			# over one reads empty, CAP_DAC_READ_SEARCH ignoring its 0000).
			if [ "$c" = probe-secret ]; then echo "secret $p"; else echo "read $p"; fi
		else
			echo "see $p"
		fi
	done
[ -d /nix/store ] && echo "list /nix/store"
[ -d /usr/lib ] && echo "list /usr"
for d in "${STATE_DIRECTORY:-}" "${OFFSITE_METRICS_FILE%/*}"; do
	[ -n "$d" ] || continue
	# A file of its own: the units share the metrics directory, and run at once.
	if "$bb" touch "$d/.probe-$PROBE_UNIT" 2>/dev/null && "$bb" rm -f "$d/.probe-$PROBE_UNIT"; then echo "write $d"; else echo "nowrite $d"; fi
done
EOF
pkg=$(nix-store --add "$work/pkg") || fail "nix-store --add failed"

# --- a NixOS k3s server's file system, with its secrets
fx=$work/fx
secret() { # path [marker]: a root-only file holding a made-up secret
	mkdir -p "$(dirname "$fx$1")"
	echo "${2:-probe-secret} $1" >"$fx$1"
	chmod 0600 "$fx$1"
}
mkdir -p "$fx"/{etc,var/lib,run/secrets,run/keys,run/agenix,run/secrets.d/1,run/credentials/other.service,root,home/alice}
storeetc=$work/storeetc
mkdir -p "$storeetc/etc/ssl/certs"
echo "probe ca bundle" >"$storeetc/etc/ssl/certs/ca-certificates.crt"
printf '127.0.0.1 localhost\n' >"$storeetc/etc/hosts"
printf 'hosts: files dns\n' >"$storeetc/etc/nsswitch.conf"
etcstore=$(nix-store --add "$storeetc") || fail "nix-store --add failed"
ln -s "$etcstore/etc" "$fx/etc/static"
ln -s /etc/static/hosts "$fx/etc/hosts"
ln -s /etc/static/nsswitch.conf "$fx/etc/nsswitch.conf"
mkdir -p "$fx/etc/ssl/certs"
ln -s /etc/static/ssl/certs/ca-certificates.crt "$fx/etc/ssl/certs/ca-certificates.crt"
echo "nameserver 10.10.10.1" >"$fx/etc/resolv.conf"
printf 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/var/empty:/bin/sh\n' >"$fx/etc/passwd"
{
	printf 'root:x:0:\nnogroup:x:65534:\n'
	gid=900
	while IFS= read -r g; do
		[ -n "$g" ] || continue
		echo "$g:x:$gid:"
		gid=$((gid + 1))
	done <"$units/groups"
} >"$fx/etc/group"
for f in /etc/shadow /etc/gshadow /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key \
	/etc/rancher/k3s/k3s.yaml /var/lib/rancher/k3s/server/token /var/lib/rancher/k3s/server/cred/passwd \
	/var/lib/rancher/k3s/server/tls/server-ca.key /var/lib/sops-nix/key.txt /var/lib/postgresql/16/pgpass \
	/run/secrets/grafana_admin_password /run/secrets.d/1/grafana_admin_password /run/keys/wireguard.key \
	/run/agenix/restic-password /run/credentials/other.service/token /root/.ssh/id_ed25519 \
	/home/alice/.ssh/id_ed25519; do
	secret "$f"
done
# Each credential a unit loads: made up, root-only, where sops-nix puts them.
sed -n 's/^LoadCredential=[^:]*://p' "$units"/*.service | sort -u | while IFS= read -r src; do
	case $src in
	/run/secrets/* | /etc/offsite/*) secret "$src" probe-credential ;;
	*) fail "credential source $src: the probe only lays out /run/secrets and /etc/offsite" ;;
	esac
done
# k3s's snapshots, root-only, and the etcd data beside them.
snap=/var/lib/rancher/k3s/server/db/snapshots/etcd-snapshot-cp1-1700000000
secret "$snap" probe-snapshot
secret /var/lib/rancher/k3s/server/db/etcd/member/snap/db probe-snapshot
chmod 0700 "$fx/var/lib/rancher/k3s/server/db/snapshots"

# The units, their ExecStart replaced by the probe; a driver starts them,
# saves the journal and powers the container off.
mkdir -p "$fx/etc/systemd/system" "$fx/etc/tmpfiles.d"
# No network in the container: network-online.target must not wait for it.
for w in systemd-networkd-wait-online.service NetworkManager-wait-online.service; do
	ln -s /dev/null "$fx/etc/systemd/system/$w"
done
cp "$units/tmpfiles.conf" "$fx/etc/tmpfiles.d/offsite.conf"
for u in "${probed[@]}"; do
	cp "$units/$u" "$fx/etc/systemd/system/$u"
	mkdir -p "$fx/etc/systemd/system/$u.d"
	cat >"$fx/etc/systemd/system/$u.d/probe.conf" <<EOF
[Service]
Type=oneshot
Restart=no
TimeoutStartSec=60
ExecStart=
ExecStart=$pkg/bin/busybox sh $pkg/probe.sh
Environment=PROBE_UNIT=$u
StandardOutput=file:/run/offsite-probe/$u.txt
StandardError=file:/run/offsite-probe/$u.err
EOF
done
cat >"$fx/etc/systemd/system/offsite-probe.service" <<EOF
[Unit]
Description=Start the probed units, keep the journal, power off
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStart=-/usr/bin/systemctl start ${probed[*]}
ExecStart=/bin/sh -c 'journalctl -b --no-pager -o short-monotonic >/run/offsite-probe/journal.txt 2>&1'
EOF

mkdir -p "$work/root/usr" "$work/out"
binds=()
for d in etc var/lib run/secrets run/secrets.d run/keys run/agenix run/credentials/other.service root home; do
	binds+=("--bind=$fx/$d:/$d")
done
# Private mount namespace: the /usr bind is gone when it exits.
# shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
if ! timeout -k 10 180 unshare --mount --propagation private sh -c '
	mount --rbind /usr "$1/root/usr" && shift && exec "$@"' sh "$work" \
	systemd-nspawn --quiet --volatile=yes --directory="$work/root" --private-network --register=no \
	--keep-unit --bind-ro=/nix/store "--bind=$work/out:/run/offsite-probe" "${binds[@]}" \
	--boot -- --unit=offsite-probe.service >"$work/boot.log" 2>&1; then
	tail -n 30 "$work/boot.log" >&2
	fail "the container did not run to its end (systemd-nspawn, 180 s)"
fi
cp "$work/out/journal.txt" "$out/journal.txt" 2>/dev/null || true

status=0
for u in "${probed[@]}"; do
	report=$work/out/$u.txt
	if [ ! -s "$report" ]; then
		grep -F "$u" "$work/out/journal.txt" 2>/dev/null | tail -n 10 >&2 || tail -n 30 "$work/boot.log" >&2
		fail "$u did not run (see above)"
	fi
	sort "$report" >"$out/$u.txt"
	if grep -q '^secret ' "$out/$u.txt"; then
		echo "probe: $u reads secrets: $(grep '^secret ' "$out/$u.txt" | cut -d' ' -f2 | tr '\n' ' ')" >&2
		status=1
	fi
	# Anything of a secret in sight, even unreadable, is a failure.
	for f in /etc/shadow /etc/gshadow /etc/ssh /etc/rancher /var/lib/rancher/k3s/server/token \
		/var/lib/rancher/k3s/server/cred /var/lib/rancher/k3s/server/tls /var/lib/sops-nix /var/lib/postgresql \
		/run/secrets /run/secrets.d /run/keys /run/agenix /run/credentials/other.service /root/.ssh /home/alice; do
		if grep -qE "^[a-z]+ $f(/|$)" "$out/$u.txt"; then
			echo "probe: $u sees $(grep -E "^[a-z]+ $f(/|$)" "$out/$u.txt" | head -n 3 | cut -d' ' -f2 | tr '\n' ' ')" >&2
			status=1
		fi
	done
	need() {
		grep -qxF "$1" "$out/$u.txt" || {
			echo "probe: $u: want \"$1\"" >&2
			status=1
		}
	}
	need "read /etc/resolv.conf"
	need "read /etc/ssl/certs/ca-certificates.crt"
	need "list /nix/store"
	while IFS= read -r cred; do
		need "read /run/credentials/$u/$cred"
	done < <(sed -n 's/^LoadCredential=\([^:]*\):.*/\1/p' "$units/$u")
	if grep -q '^StateDirectory=' "$units/$u"; then
		need "write /var/lib/$(sed -n 's/^StateDirectory=//p' "$units/$u")"
	fi
	if grep -q '^Environment="OFFSITE_SNAPSHOT_DIR=' "$units/$u"; then
		need "read $snap"
	elif grep -qE "^[a-z]+ /var/lib/rancher" "$out/$u.txt"; then
		echo "probe: $u does not read snapshots, yet sees /var/lib/rancher" >&2
		status=1
	fi
	metrics=$(sed -n 's/^Environment="OFFSITE_METRICS_FILE=\(.*\)"$/\1/p' "$units/$u")
	[ -z "$metrics" ] || need "write $(dirname "$metrics")"
done
exit $status
