#!/usr/bin/env bash
# Offline checks of offsite's Nix packaging (make check-nix). Nothing from
# nixpkgs can be fetched here, so this checks what can be checked honestly:
#   1. every .nix file parses, and the stand-in behaves like nixpkgs' lib
#      where offsite relies on it (nix/check/lib-test.nix);
#   2. nix/module.nix, evaluated with the stand-in lib and NixOS in
#      nix/check/nixpkgs/, renders etcd-offload.service (and .timer), and
#      the verify and drill units, that pass `systemd-analyze verify`
#      without a word and `systemd-analyze security` at exposure <= 1.6,
#      keep the settings that matter, and see none of a node's secrets:
#      derived from each unit file (nix/check/readable.sh), then run for
#      real under systemd in a container laid out like a k3s server
#      (nix/check/probe.sh); broken settings fail with clear assertion
#      messages;
#   3. every env var the units and the CronJobs set is one offsite reads;
#   4. the CronJobs decode strictly into Kubernetes' types (go test ./nix/k8s);
#   5. the flake's outputs evaluate with nixpkgs replaced by the stand-in;
#   6. vendorHash in nix/package.nix matches go.mod, go.sum and the sources.
# What it cannot see: real nixpkgs argument names and option types, the Go
# build inside Nix, the image, the VM test, NixOS's own systemd (the probe
# boots this machine's). `nix flake check` does, where nixpkgs can be
# fetched.
#
# It installs nothing. It needs nix-instantiate and nix (Debian: nix-bin),
# systemd-analyze (Debian: systemd), go and git, and for the probe root,
# systemd-nspawn (systemd-container) and a static busybox (busybox-static);
# it fails without them. OFFSITE_CHECK_NIX_PROBE=0 leaves the probe out
# (and says so), for a machine where it cannot run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

fail() {
	echo "check-nix: FAIL: $*" >&2
	exit 1
}
step() { echo "check-nix: $*"; }

for tool in nix-instantiate nix systemd-analyze go git; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (Debian packages: nix-bin systemd git; Go from go.dev)"
done

# Root without a Nix daemon, offline (Debian's nix-bin as CI uses it).
export NIX_CONFIG="${NIX_CONFIG:-$'build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command flakes'}"
nixx=(nix --extra-experimental-features 'nix-command flakes')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- 1. parse
step "parse"
count=0
while IFS= read -r f; do
	nix-instantiate --parse "$f" >/dev/null || fail "$f does not parse"
	count=$((count + 1))
done < <(git ls-files --cached --others --exclude-standard '*.nix')
[ "$count" -gt 0 ] || fail "no .nix files found"
step "  $count .nix files parse"

step "stand-in module system behaves as nixpkgs' does (nix/check/lib-test.nix)"
[ "$(nix-instantiate --eval --strict nix/check/lib-test.nix)" = true ] || fail "nix/check/lib-test.nix"

# --- 2. the NixOS module, rendered to units
step "build offsite for the unit's ExecStart and the env var cross-check"
mkdir -p "$tmp/package/bin"
go build -o "$tmp/package/bin/offsite" ./cmd/offsite
offsite="$tmp/package/bin/offsite"

# The module to check; OFFSITE_CHECK_MODULE=<file> checks another one (a
# former revision's, to see a check fail before its fix).
module=${OFFSITE_CHECK_MODULE:-$repo/nix/module.nix}
modeval() { # attribute [nix eval args...]: evaluate nix/check/module.nix
	local attr=$1
	shift
	"${nixx[@]}" eval --impure --file nix/check/module.nix --argstr package "$tmp/package" \
		--arg module "$module" "$attr" "$@"
}

render() { # scenario attribute -> $tmp/<scenario>/<unit files>; prints the names
	local dir=$tmp/$1 attr=$2 names name
	mkdir -p "$dir"
	names=$(modeval "$attr" --raw --apply 'u: builtins.concatStringsSep " " (builtins.attrNames u)')
	[ -n "$names" ] || fail "module renders no units for $attr"
	for name in $names; do
		modeval "$attr.\"$name\"" --raw >"$dir/$name"
	done
	echo "$names"
}
render_parts() { # scenario attribute: units, tmpfiles.conf, groups
	render "$1" "$2.units" >/dev/null
	modeval "$2.tmpfiles" --raw >"$tmp/$1/tmpfiles.conf"
	modeval "$2.groups" --raw >"$tmp/$1/groups"
}

has() { grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks the line: $2"; }
hasnt() { ! grep -qE -- "$2" "$1" || fail "$(basename "$1") must not match /$2/: $(grep -E -- "$2" "$1" | head -1)"; }
only() { # unit key value: every Key= line has exactly this value, and there is one
	local lines
	lines=$(grep -E "^$2=" "$1" || true)
	[ "$lines" = "$2=$3" ] || fail "$(basename "$1"): want exactly $2=$3, got: ${lines:-nothing}"
}

# reads VAR: the help text on stdin lists $VAR (urfave/cli shows [$VAR]).
reads() { grep -qE "\\\$$1([^A-Za-z0-9_]|\$)"; }

# What a node holds that no unit of the module may see: the sandbox must
# hide each, whatever the unit's settings.
secrets=(
	/etc/shadow /etc/gshadow /etc/ssh/ssh_host_ed25519_key /etc/ssh/ssh_host_rsa_key
	/etc/rancher/k3s/k3s.yaml /var/lib/rancher/k3s/server/token /var/lib/rancher/k3s/server/cred/passwd
	/var/lib/rancher/k3s/server/tls/server-ca.key /var/lib/sops-nix/key.txt /var/lib/postgresql/16/pgpass
	/run/secrets/minio_etcd_secret_access_key /run/secrets/grafana_admin_password /run/secrets.d/1/x
	/run/keys/wireguard.key /run/agenix/restic-password /run/credentials/other.service/token
	/root/.ssh/id_ed25519 /home/alice/.ssh/id_ed25519
)
snap=/var/lib/rancher/k3s/server/db/snapshots

# check_unit SERVICE: what every service of the module must be.
check_unit() {
	local svc=$1 u out
	u=$(basename "$svc")
	out=$(cd "$(dirname "$svc")" && systemd-analyze verify --man=no "./$u" 2>&1) || fail "systemd-analyze verify $u failed: $out"
	[ -z "$out" ] || fail "systemd-analyze verify $u complained: $out"
	out=$(cd "$(dirname "$svc")" && systemd-analyze security --offline=true --threshold=16 "./$u" 2>&1) ||
		fail "systemd-analyze security: exposure of $u above 1.6: $(echo "$out" | grep -F 'Overall exposure' || echo "$out")"
	step "  $(echo "$out" | grep -F 'Overall exposure')"
	has "$svc" "DynamicUser=true"
	has "$svc" "ProtectSystem=strict"
	has "$svc" "NoNewPrivileges=true"
	has "$svc" "PrivateTmp=true"
	has "$svc" "ProtectHome=true"
	has "$svc" "UMask=0077"
	only "$svc" CapabilityBoundingSet CAP_DAC_READ_SEARCH
	only "$svc" AmbientCapabilities CAP_DAC_READ_SEARCH
	# The capability reads any root-only file the unit can see: it must see
	# none of a node's secrets (nix/check/readable.sh derives what it sees
	# from the unit file; nix/check/probe.sh runs it).
	nix/check/readable.sh "$svc" "${secrets[@]}" >"$tmp/readable.out" 2>&1 ||
		fail "$u can read secrets:
$(cat "$tmp/readable.out")"
	# The offload unit sees its snapshots; verify and drill read MinIO only.
	local dir
	dir=$(sed -n 's/^Environment="OFFSITE_SNAPSHOT_DIR=\(.*\)"$/\1/p' "$svc")
	if [ -n "$dir" ]; then
		if nix/check/readable.sh "$svc" "$dir/etcd-snapshot-cp1-1700000000" >/dev/null; then
			fail "$u cannot see the snapshots in $dir"
		fi
	else
		nix/check/readable.sh "$svc" "$snap/etcd-snapshot-cp1-1700000000" >/dev/null ||
			fail "$u does not read snapshots, yet sees them"
	fi
	# No write access under the k3s dir, by any route.
	hasnt "$svc" '^(ReadWritePaths|BindPaths)=[-+]?/var/lib/rancher'
	hasnt "$svc" '^(StateDirectory|CacheDirectory|LogsDirectory|RuntimeDirectory)=.*rancher'
	# Secrets only as credentials, never as values.
	hasnt "$svc" '^Environment="(MINIO|RGW)_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)='
	hasnt "$svc" '^Environment="OFFSITE_(PING_URL|PUSHGATEWAY_URL|AGE_IDENTITY)='
	# Ordered after k3s at most: never tied to it.
	hasnt "$svc" '^(Requires|Requisite|BindsTo|PartOf|Upholds|Conflicts|Wants)=.*k3s'
	hasnt "$svc" 'systemctl|ExecStop'
	# A oneshot that hangs must end: its timer would never start it again.
	if grep -qx 'Type=oneshot' "$svc"; then
		grep -qE '^TimeoutStartSec=[1-9]' "$svc" || fail "$u is a oneshot without TimeoutStartSec"
	fi
}

# check_env SERVICE: every env var of the unit is one its offsite command
# reads (its help lists them as [$NAME]); an unknown one would be silently
# ignored. A command not in this build yet is checked against the contract
# it is built to: drill etcd reads what verify etcd reads.
check_env() {
	local svc=$1 cmd help var
	cmd=$(sed -n 's/^ExecStart="[^"]*" "\([^"]*\)" "\([^"]*\)".*/\1 \2/p' "$svc")
	# shellcheck disable=SC2086 # $cmd is a command and its subcommand
	if ! help=$("$offsite" --help && "$offsite" $cmd --help 2>/dev/null); then
		case $cmd in
		"drill etcd") help=$("$offsite" --help && "$offsite" verify etcd --help) ;;
		*) fail "offsite $cmd --help failed: is the command there?" ;;
		esac
		step "  offsite $cmd is not in this build: its env vars are checked against verify etcd's"
	fi
	while IFS= read -r var; do
		reads "$var" <<<"$help" || fail "$(basename "$svc") sets $var, which offsite $cmd does not read"
	done < <(sed -n 's/^Environment="\([A-Z_]*\)=.*/\1/p' "$svc")
}

for mode in watch timer; do
	units=$(render "$mode" "units.$mode")
	step "$mode mode: $units"
	svc="$tmp/$mode/etcd-offload.service"
	[ -f "$svc" ] || fail "no etcd-offload.service in $mode mode"
	for u in $units; do
		out=$(cd "$tmp/$mode" && systemd-analyze verify --man=no "./$u" 2>&1) || fail "systemd-analyze verify $u failed: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $u ($mode) complained: $out"
	done
	check_unit "$svc"
	check_env "$svc"
	has "$svc" "LoadCredential=minio_access_key_id:/run/secrets/minio_etcd_access_key_id"
	has "$svc" "LoadCredential=minio_secret_access_key:/run/secrets/minio_etcd_secret_access_key"
	has "$svc" 'Environment="MINIO_ACCESS_KEY_ID_FILE=%d/minio_access_key_id"'
	has "$svc" 'Environment="MINIO_SECRET_ACCESS_KEY_FILE=%d/minio_secret_access_key"'
	has "$svc" "Environment=\"OFFSITE_SNAPSHOT_DIR=$snap\""
	has "$svc" "StateDirectory=offsite"
	has "$svc" "BindReadOnlyPaths=-$(dirname "$snap")"

	case $mode in
	watch)
		has "$svc" 'ExecStart="'"$offsite"'" "offload" "watch"'
		has "$svc" "Restart=on-failure"
		has "$svc" "RestartPreventExitStatus=2"
		has "$svc" "StartLimitBurst=5"
		has "$svc" "WantedBy=multi-user.target"
		[ ! -e "$tmp/$mode/etcd-offload.timer" ] || fail "watch mode must not install a timer"
		;;
	timer)
		timer="$tmp/$mode/etcd-offload.timer"
		[ -f "$timer" ] || fail "no etcd-offload.timer in timer mode"
		has "$svc" 'ExecStart="'"$offsite"'" "offload" "once"'
		has "$svc" "Type=oneshot"
		has "$svc" "TimeoutStartSec=1h"
		hasnt "$svc" '^WantedBy='
		has "$timer" "OnCalendar=hourly"
		has "$timer" "Persistent=true"
		has "$timer" "RandomizedDelaySec=10m"
		has "$timer" "WantedBy=timers.target"
		;;
	esac
done

step "every unit of the module, everything on (verify, drill, pings, metrics), in both modes"
for scenario in full fullTimer; do
	render_parts "$scenario" "$scenario"
	for f in "$tmp/$scenario"/*.service "$tmp/$scenario"/*.timer; do
		out=$(cd "$tmp/$scenario" && systemd-analyze verify --man=no "./$(basename "$f")" 2>&1) || fail "systemd-analyze verify $(basename "$f") failed: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $(basename "$f") ($scenario) complained: $out"
	done
	for u in etcd-offload etcd-offload-verify etcd-offload-drill; do
		svc="$tmp/$scenario/$u.service"
		[ -f "$svc" ] || fail "$scenario: no $u.service"
		check_unit "$svc"
		check_env "$svc"
		has "$svc" "LoadCredential=minio_secret_access_key:/run/secrets/minio_etcd_secret_access_key"
		has "$svc" 'Environment="OFFSITE_PING_URL_FILE=%d/ping_url"'
		has "$svc" 'Environment="OFFSITE_PUSHGATEWAY_URL_FILE=%d/pushgateway_url"'
		has "$svc" "LoadCredential=pushgateway_url:/run/secrets/offsite_pushgateway_url"
		has "$svc" "BindPaths=/var/lib/prometheus-node-exporter-text-files"
		has "$svc" "SupplementaryGroups=offsite-metrics"
		if nix/check/readable.sh "$svc" /var/lib/prometheus-node-exporter-text-files/x.prom >/dev/null; then
			fail "$u cannot see the textfile directory"
		fi
	done
	d=$tmp/$scenario
	has "$d/etcd-offload.service" 'Environment="OFFSITE_METRICS_FILE=/var/lib/prometheus-node-exporter-text-files/offsite-offload.prom"'
	has "$d/etcd-offload-verify.service" 'Environment="OFFSITE_METRICS_FILE=/var/lib/prometheus-node-exporter-text-files/offsite-verify-etcd.prom"'
	has "$d/etcd-offload-drill.service" 'Environment="OFFSITE_METRICS_FILE=/var/lib/prometheus-node-exporter-text-files/offsite-drill-etcd.prom"'
	has "$d/etcd-offload.service" "LoadCredential=ping_url:/run/secrets/offsite_ping_etcd_offload"
	has "$d/etcd-offload-verify.service" "LoadCredential=ping_url:/run/secrets/offsite_ping_etcd_verify"
	has "$d/etcd-offload-drill.service" "LoadCredential=ping_url:/run/secrets/offsite_ping_etcd_drill"
	has "$d/etcd-offload-verify.service" 'ExecStart="'"$offsite"'" "verify" "etcd"'
	has "$d/etcd-offload-drill.service" 'ExecStart="'"$offsite"'" "drill" "etcd"'
	for u in etcd-offload-verify etcd-offload-drill; do
		has "$d/$u.service" "Type=oneshot"
		hasnt "$d/$u.service" '^(StateDirectory|WantedBy)='
		has "$d/$u.timer" "WantedBy=timers.target"
		has "$d/$u.timer" "Persistent=true"
	done
	has "$d/etcd-offload-verify.timer" "OnCalendar=*-*-* 06:30:00"
	has "$d/etcd-offload-drill.timer" "OnCalendar=Sun *-*-* 05:00:00"
	# The sandbox's root, and write access to the textfile directory for
	# the units' group only.
	for u in etcd-offload etcd-offload-verify etcd-offload-drill; do
		has "$d/$u.service" "RootDirectory=/run/offsite-sandbox/$u"
		has "$d/tmpfiles.conf" "d /run/offsite-sandbox/$u 0755 root root -"
	done
	has "$d/tmpfiles.conf" "a+ /var/lib/prometheus-node-exporter-text-files - - - - group:offsite-metrics:rwx"
	has "$d/groups" "offsite-metrics"
done
step "  what etcd-offload.service can read, from its unit file:"
nix/check/readable.sh "$tmp/full/etcd-offload.service" | sed 's/^/    /'

step "the units run under systemd (nix/check/probe.sh: a container laid out like a k3s server)"
if [ "${OFFSITE_CHECK_NIX_PROBE:-1}" = 0 ]; then
	step "  SKIPPED: OFFSITE_CHECK_NIX_PROBE=0"
else
	nix/check/probe.sh "$tmp/probe" "$tmp/full" etcd-offload.service etcd-offload-verify.service etcd-offload-drill.service ||
		fail "a unit sees what it must not, or misses what it needs (nix/check/probe.sh, above)"
	step "  what etcd-offload.service read, running (the Nix store's contents left out):"
	grep -E '^(read|write) ' "$tmp/probe/etcd-offload.service.txt" | sed 's/^/    /'
fi

step "a timer given OnCalendar alone keeps the other defaults"
render timerOnCalendar timerOnCalendar >/dev/null
for t in etcd-offload etcd-offload-verify etcd-offload-drill; do
	has "$tmp/timerOnCalendar/$t.timer" "Persistent=true"
	grep -qE '^RandomizedDelaySec=' "$tmp/timerOnCalendar/$t.timer" || fail "$t.timer lost RandomizedDelaySec"
done
only "$tmp/timerOnCalendar/etcd-offload.timer" OnCalendar "*:0/30"
only "$tmp/timerOnCalendar/etcd-offload-verify.timer" OnCalendar "*-*-* 07:00:00"

step "snapshot directories: outside k3s's layout, and with a trailing slash"
render_parts snapshotVarLib snapshotVarLib
svc=$tmp/snapshotVarLib/etcd-offload.service
has "$svc" "BindReadOnlyPaths=-/var/lib/etcd-snapshots"
hasnt "$svc" '^BindReadOnlyPaths=-?/var/lib$'
has "$tmp/snapshotVarLib/tmpfiles.conf" "d /var/lib/etcd-snapshots 0700 root root -"
nix/check/readable.sh "$svc" /var/lib/postgresql/16/pgpass /var/lib/sops-nix/key.txt || fail "snapshotDir under /var/lib shows /var/lib"
check_unit "$svc"
render_parts snapshotTrailingSlash snapshotTrailingSlash
svc=$tmp/snapshotTrailingSlash/etcd-offload.service
has "$svc" "BindReadOnlyPaths=-$(dirname "$snap")"
has "$svc" "Environment=\"OFFSITE_SNAPSHOT_DIR=$snap\""

step "k3s takes its snapshots as the module says (k3s.manageSnapshots)"
flags=$(modeval k3s.k3sFlags --json)
for want in '"--disable=traefik"' \
	'"\"--etcd-snapshot-schedule-cron=0 */12 * * *\""' \
	'"\"--etcd-snapshot-retention=5\""' \
	"\"\\\"--etcd-snapshot-dir=$snap\\\"\""; do
	grep -qF -- "$want" <<<"$flags" || fail "services.k3s.extraFlags lacks $want: $flags"
done

step "disabled module renders nothing"
[ "$(modeval units.disabled --json)" = "{}" ] || fail "a disabled module must render no units"

step "environmentFile instead of credential files"
modeval 'environmentFileOnly."etcd-offload.service"' --raw >"$tmp/envfile.service"
has "$tmp/envfile.service" "EnvironmentFile=/run/secrets/etcd-offload.env"
hasnt "$tmp/envfile.service" '^LoadCredential='
hasnt "$tmp/envfile.service" '_FILE='

step "age recipients reach the unit, inline or as a credential"
modeval 'ageRecipients."etcd-offload.service"' --raw >"$tmp/age.service"
modeval 'ageRecipients."etcd-offload-drill.service"' --raw >"$tmp/age-drill.service"
has "$tmp/age-drill.service" 'LoadCredential=age_identity:/run/secrets/offsite_age_identity'
has "$tmp/age-drill.service" 'Environment="OFFSITE_AGE_IDENTITY_FILE=%d/age_identity"'
hasnt "$tmp/age.service" 'age_identity|AGE_IDENTITY' # the identity goes to the drill alone
has "$tmp/age.service" 'Environment="OFFSITE_AGE_RECIPIENTS=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p,ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb0ZBx5SzyEvFB6sNNXyHHI5NZ4g4iSjwlgC4MdUw7Y"'
modeval 'ageRecipientsFile."etcd-offload.service"' --raw >"$tmp/agefile.service"
has "$tmp/agefile.service" 'LoadCredential=age_recipients:/etc/offsite/age-recipients.txt'
has "$tmp/agefile.service" 'Environment="OFFSITE_AGE_RECIPIENTS_FILE=%d/age_recipients"'
hasnt "$tmp/agefile.service" 'OFFSITE_AGE_RECIPIENTS='

step "link limits reach the unit, as variables offsite offload reads"
modeval 'limits."etcd-offload.service"' --raw >"$tmp/limits.service"
has "$tmp/limits.service" 'Environment="OFFSITE_BWLIMIT=08:00,2M 23:00,off"'
has "$tmp/limits.service" 'Environment="OFFSITE_TPS_LIMIT=10"'
for var in OFFSITE_BWLIMIT OFFSITE_TPS_LIMIT; do
	reads "$var" <<<"$("$offsite" offload watch --help)" || fail "offsite offload watch does not read $var"
done
hasnt "$tmp/watch/etcd-offload.service" 'OFFSITE_(BWLIMIT|TPS_LIMIT)='

step "broken settings fail with the option's name"
failures=$(modeval failures --raw \
	--apply 'f: builtins.concatStringsSep "\n" (builtins.concatLists (builtins.attrValues (builtins.mapAttrs (n: ms: map (m: n + ": " + m) ms) f)))')
for want in \
	"noEndpoint: services.offsite.etcdOffload.endpoint:" \
	"noCredentials: services.offsite.etcdOffload.accessKeyIdFile:" \
	"noCredentials: services.offsite.etcdOffload.secretAccessKeyFile:" \
	"secretInStore: services.offsite.etcdOffload.secretAccessKeyFile:" \
	"pingUrlInStore: services.offsite.etcdOffload.pingUrlFile:" \
	"relativeSnapshotDir: services.offsite.etcdOffload.snapshotDir:" \
	"sharedSnapshotDir: services.offsite.etcdOffload.snapshotDir:" \
	"bothAgeRecipients: services.offsite.etcdOffload.ageRecipients:" \
	"drillWithoutIdentity: services.offsite.etcdOffload.drill.ageIdentityFile:" \
	"sharedMetricsDir: services.offsite.etcdOffload.metrics.textfileDirectory:" \
	"k3sSqlite: services.offsite.etcdOffload.k3s.manageSnapshots: k3s takes etcd snapshots only" \
	"k3sExternalDatastore: services.offsite.etcdOffload.k3s.manageSnapshots: k3s takes etcd snapshots only" \
	"k3sBadSchedule: services.offsite.etcdOffload.k3s.snapshotSchedule:"; do
	grep -qF "$want" <<<"$failures" || fail "no assertion message starting \"$want\"; got:
$failures"
done
if "${nixx[@]}" eval --raw --impure --expr "
	(import ./nix/check/nixpkgs/nixos.nix { lib = import ./nix/check/nixpkgs/lib.nix; }).eval {
	  modules = [ ./nix/module.nix { services.offsite.etcdOffload = { enable = true; endpoint = \"http://x\"; quietPeriode = \"1s\"; }; } ];
	}" --apply 'e: builtins.toJSON e.config.services' >/dev/null 2>"$tmp/typo.err"; then
	fail "a misspelt option evaluated without error"
fi
grep -qF "services.offsite.etcdOffload.quietPeriode' does not exist" "$tmp/typo.err" || fail "misspelt option: unexpected error: $(cat "$tmp/typo.err")"

# --- 4.
step "the CronJobs decode strictly into batch/v1, make manifests renders them and their Secrets (go test ./nix/k8s)"
OFFSITE_TEST_REQUIRE_NIX=1 go test -count=1 ./nix/k8s/

# --- 5. the flake, nixpkgs replaced by the stand-in
step "flake outputs evaluate against the stand-in nixpkgs"
[ -n "$(git ls-files flake.nix)" ] || fail "flake.nix is not tracked by git: flakes see tracked files only"
standin=(--no-write-lock-file --override-input nixpkgs "path:$repo/nix/check/nixpkgs")
"${nixx[@]}" flake check --no-build "${standin[@]}" "git+file://$repo" 2>"$tmp/flake.err" || {
	cat "$tmp/flake.err" >&2
	fail "nix flake check"
}
# flake check does not look inside apps and lib: evaluate them too.
"${nixx[@]}" eval --json "${standin[@]}" "git+file://$repo#apps" \
	--apply 'builtins.mapAttrs (_: a: assert a.default.type == "app"; a.default.program)' >/dev/null 2>"$tmp/flake.err" || {
	cat "$tmp/flake.err" >&2
	fail "apps do not evaluate"
}
"${nixx[@]}" eval --raw "${standin[@]}" "git+file://$repo#lib" --apply 'lib: (lib.mkRgwMirrorCronJob {
	image = "r/offsite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	rgwEndpoint = "http://rgw"; minioEndpoint = "http://minio"; buckets = "*"; timeZone = "Etc/UTC"; }).cronJob.kind
	+ builtins.concatStringsSep "" (builtins.attrNames (lib.secretsFor { decrypted = {
	minio_rgw_access_key_id = "k"; minio_rgw_secret_access_key = "s"; }; }))' >/dev/null 2>"$tmp/flake.err" || {
	cat "$tmp/flake.err" >&2
	fail "lib.mkRgwMirrorCronJob or lib.secretsFor does not evaluate"
}

# --- 6. vendorHash
step "vendorHash"
nix/vendor-hash.sh --check

# --- 3, for the CronJobs (last: they need the mirror and verify commands).
# Each CronJob's env vars are ones its command reads; drill rgw, not in
# this build yet, is checked against its contract: the mirror's env.
step "CronJob env vars are ones their offsite commands read"
# shellcheck disable=SC2016 # ${...} below is Nix's
while IFS=$'\t' read -r job cmd vars; do
	# shellcheck disable=SC2086 # $cmd is a command and its subcommand
	if ! help=$("$offsite" --help && "$offsite" $cmd --help 2>/dev/null); then
		[ "$cmd" = "drill rgw" ] || fail "offsite $cmd --help failed: is the command there?"
		step "  offsite $cmd is not in this build: its env vars are checked against offsite mirror's"
		help=$("$offsite" --help && "$offsite" mirror --help)
	fi
	for var in $vars; do
		reads "$var" <<<"$help" || fail "the CronJob $job sets $var, which offsite $cmd does not read"
	done
done < <("${nixx[@]}" eval --raw --impure --expr '
	let
	  built = import ./nix/k8s/cronjob.nix {
	    image = "r/offsite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	    rgwEndpoint = "http://rgw"; minioEndpoint = "http://minio"; timeZone = "Etc/UTC";
	    buckets = [ "a" ]; excludeBuckets = [ "b" ]; rgwRegion = "r"; shards = 3; backoffLimit = 0; maxDurationSeconds = 3600;
	    pingUrlSecret = { name = "p"; key = "mirror"; }; pushgatewayUrlSecret = { name = "p"; key = "push"; };
	    verify.pingUrlSecret = { name = "p"; key = "verify"; };
	    drill = { enable = true; bucket = "a"; sample = 10; pingUrlSecret = { name = "p"; key = "drill"; }; };
	  };
	  line = c: let x = builtins.head c.spec.jobTemplate.spec.template.spec.containers; in
	    "${c.metadata.name}\t${builtins.elemAt x.args 0} ${if builtins.length x.args > 1 then builtins.elemAt x.args 1 else ""}\t${builtins.concatStringsSep " " (map (e: e.name) x.env)}\n";
	in builtins.concatStringsSep "" (map line (builtins.attrValues built.cronJobs))' | sed 's/ \t/\t/')

step "OK"
