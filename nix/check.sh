#!/usr/bin/env bash
# Offline checks of offsite's Nix packaging (make check-nix). Nothing from
# nixpkgs can be fetched here, so this checks what can be checked honestly:
#   1. every .nix file parses, and the stand-in behaves like nixpkgs' lib
#      where offsite relies on it (nix/check/lib-test.nix);
#   2. nix/module.nix, evaluated with the stand-in lib and NixOS in
#      nix/check/nixpkgs/, renders etcd-offload.service (and .timer) that
#      pass `systemd-analyze verify` without a word and
#      `systemd-analyze security` at exposure <= 2.0, and keep the settings
#      that matter; broken settings fail with clear assertion messages;
#   3. every env var the unit and the CronJob set is one offsite reads;
#   4. the CronJob decodes strictly into Kubernetes' types (go test ./nix/k8s);
#   5. the flake's outputs evaluate with nixpkgs replaced by the stand-in;
#   6. vendorHash in nix/package.nix matches go.mod, go.sum and the sources.
# What it cannot see: real nixpkgs argument names and option types, the Go
# build inside Nix, the image, the VM test. `nix flake check` does, where
# nixpkgs can be fetched.
#
# It installs nothing. It needs nix-instantiate and nix (Debian: nix-bin),
# systemd-analyze (Debian: systemd), go and git, and fails without them.
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

render() { # mode -> $tmp/<mode>/<unit files>
	local mode=$1 names name
	mkdir -p "$tmp/$mode"
	names=$("${nixx[@]}" eval --raw --impure --file nix/check/module.nix --argstr package "$tmp/package" "units.$mode" \
		--apply 'u: builtins.concatStringsSep " " (builtins.attrNames u)')
	[ -n "$names" ] || fail "module renders no units in $mode mode"
	for name in $names; do
		"${nixx[@]}" eval --raw --impure --file nix/check/module.nix --argstr package "$tmp/package" \
			"units.$mode.\"$name\"" >"$tmp/$mode/$name"
	done
	echo "$names"
}

has() { grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks the line: $2"; }
hasnt() { ! grep -qE -- "$2" "$1" || fail "$(basename "$1") must not match /$2/: $(grep -E -- "$2" "$1" | head -1)"; }
only() { # unit key value: every Key= line has exactly this value, and there is one
	local lines
	lines=$(grep -E "^$2=" "$1" || true)
	[ "$lines" = "$2=$3" ] || fail "$(basename "$1"): want exactly $2=$3, got: ${lines:-nothing}"
}

# reads VAR: the help text on stdin lists $VAR (urfave/cli shows [$VAR]).
# visible unit path: whether the unit's mount namespace shows path, from its
# rendered properties: a bind mount that holds it shows it; else an empty
# tmpfs, InaccessiblePaths or ProtectHome over it hides it.
visible() {
	local svc=$1 path=$2 p
	for p in $(sed -nE 's/^Bind(ReadOnly)?Paths=-?//p' "$svc" | tr ' ' '\n' | cut -d: -f2- | sed 's/^$//'); do
		case $path/ in "${p%/}"/*) return 0 ;; esac
	done
	for p in $(sed -nE 's/^(TemporaryFileSystem|InaccessiblePaths)=//p' "$svc" | tr ' ' '\n' | sed -E 's/^-//; s/:.*//'); do
		case $path/ in "${p%/}"/*) return 1 ;; esac
	done
	if grep -qx "ProtectHome=true" "$svc"; then
		case $path/ in /root/* | /home/* | /run/user/*) return 1 ;; esac
	fi
	return 0
}

reads() { grep -qE "\\\$$1([^A-Za-z0-9_]|\$)"; }

snap=/var/lib/rancher/k3s/server/db/snapshots
for mode in watch timer; do
	units=$(render "$mode")
	step "$mode mode: $units"
	for u in $units; do
		out=$(cd "$tmp/$mode" && systemd-analyze verify --man=no "./$u" 2>&1) || fail "systemd-analyze verify $u failed: $out"
		[ -z "$out" ] || fail "systemd-analyze verify $u ($mode) complained: $out"
	done
	svc="$tmp/$mode/etcd-offload.service"
	[ -f "$svc" ] || fail "no etcd-offload.service in $mode mode"
	out=$(cd "$tmp/$mode" && systemd-analyze security --offline=true --threshold=20 ./etcd-offload.service 2>&1) ||
		fail "systemd-analyze security: exposure above 2.0 in $mode mode: $(echo "$out" | grep -F 'Overall exposure' || echo "$out")"
	step "  $(echo "$out" | grep -F 'Overall exposure')"

	has "$svc" "ReadOnlyPaths=-$snap"
	has "$svc" "LoadCredential=minio_access_key_id:/run/secrets/minio_etcd_access_key_id"
	has "$svc" "LoadCredential=minio_secret_access_key:/run/secrets/minio_etcd_secret_access_key"
	has "$svc" 'Environment="MINIO_ACCESS_KEY_ID_FILE=%d/minio_access_key_id"'
	has "$svc" 'Environment="MINIO_SECRET_ACCESS_KEY_FILE=%d/minio_secret_access_key"'
	has "$svc" "DynamicUser=true"
	has "$svc" "StateDirectory=offsite"
	has "$svc" "ProtectSystem=strict"
	has "$svc" "NoNewPrivileges=true"
	has "$svc" "PrivateTmp=true"
	has "$svc" "ProtectHome=true"
	has "$svc" "UMask=0077"
	only "$svc" CapabilityBoundingSet CAP_DAC_READ_SEARCH
	only "$svc" AmbientCapabilities CAP_DAC_READ_SEARCH
	# What the capability could read: only the snapshot dir's parent and the
	# state dir of /var/lib, nothing of the secrets or of /root.
	has "$svc" "TemporaryFileSystem=/var/lib:ro"
	has "$svc" "BindReadOnlyPaths=-$(dirname "$snap")"
	for hidden in /var/lib/sops-nix/key.txt /var/lib/rancher/k3s/server/token /var/lib/postgresql /root/.ssh/id_ed25519 /run/secrets/minio_etcd_secret_access_key; do
		visible "$svc" "$hidden" && fail "the unit can see $hidden"
	done
	visible "$svc" "$snap/etcd-snapshot-cp1-1700000000" || fail "the unit cannot see the snapshots"
	# No write access under the k3s dir, by any route.
	hasnt "$svc" '^(ReadWritePaths|BindPaths)=[-+]?/var/lib/rancher'
	hasnt "$svc" '^(StateDirectory|CacheDirectory|LogsDirectory|RuntimeDirectory)=.*rancher'
	# Secrets only as credentials, never as values.
	hasnt "$svc" '^Environment="(MINIO|RGW)_(ACCESS_KEY_ID|SECRET_ACCESS_KEY)='
	# Ordered after k3s at most: never tied to it.
	hasnt "$svc" '^(Requires|Requisite|BindsTo|PartOf|Upholds|Conflicts|Wants)=.*k3s'
	hasnt "$svc" 'systemctl|ExecStop'

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
		hasnt "$svc" '^WantedBy='
		has "$timer" "OnCalendar=hourly"
		has "$timer" "Persistent=true"
		has "$timer" "RandomizedDelaySec=10m"
		has "$timer" "WantedBy=timers.target"
		;;
	esac

	# --- 3. every env var of the unit is one offsite reads (its help lists
	# them as [$NAME]); an unknown one would be silently ignored.
	sub=$([ "$mode" = watch ] && echo watch || echo once)
	help=$("$offsite" --help && "$offsite" offload "$sub" --help) || fail "offsite offload $sub --help failed: is the command there?"
	while IFS= read -r var; do
		reads "$var" <<<"$help" || fail "etcd-offload.service sets $var, which offsite offload $sub does not read"
	done < <(sed -n 's/^Environment="\([A-Z_]*\)=.*/\1/p' "$svc")
done

step "disabled module renders nothing"
[ "$("${nixx[@]}" eval --json --impure --file nix/check/module.nix units.disabled)" = "{}" ] || fail "a disabled module must render no units"

step "environmentFile instead of credential files"
"${nixx[@]}" eval --raw --impure --file nix/check/module.nix 'environmentFileOnly."etcd-offload.service"' >"$tmp/envfile.service"
has "$tmp/envfile.service" "EnvironmentFile=/run/secrets/etcd-offload.env"
hasnt "$tmp/envfile.service" '^LoadCredential='
hasnt "$tmp/envfile.service" '_FILE='

step "age recipients reach the unit, inline or as a credential"
"${nixx[@]}" eval --raw --impure --file nix/check/module.nix 'ageRecipients."etcd-offload.service"' >"$tmp/age.service"
has "$tmp/age.service" 'Environment="OFFSITE_AGE_RECIPIENTS=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p,ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb0ZBx5SzyEvFB6sNNXyHHI5NZ4g4iSjwlgC4MdUw7Y"'
"${nixx[@]}" eval --raw --impure --file nix/check/module.nix 'ageRecipientsFile."etcd-offload.service"' >"$tmp/agefile.service"
has "$tmp/agefile.service" 'LoadCredential=age_recipients:/etc/offsite/age-recipients.txt'
has "$tmp/agefile.service" 'Environment="OFFSITE_AGE_RECIPIENTS_FILE=%d/age_recipients"'
hasnt "$tmp/agefile.service" 'OFFSITE_AGE_RECIPIENTS='

step "link limits reach the unit, as variables offsite offload reads"
"${nixx[@]}" eval --raw --impure --file nix/check/module.nix 'limits."etcd-offload.service"' >"$tmp/limits.service"
has "$tmp/limits.service" 'Environment="OFFSITE_BWLIMIT=08:00,2M 23:00,off"'
has "$tmp/limits.service" 'Environment="OFFSITE_TPS_LIMIT=10"'
for var in OFFSITE_BWLIMIT OFFSITE_TPS_LIMIT; do
	reads "$var" <<<"$("$offsite" offload watch --help)" || fail "offsite offload watch does not read $var"
done
hasnt "$tmp/watch/etcd-offload.service" 'OFFSITE_(BWLIMIT|TPS_LIMIT)='

step "broken settings fail with the option's name"
failures=$("${nixx[@]}" eval --raw --impure --file nix/check/module.nix failures \
	--apply 'f: builtins.concatStringsSep "\n" (builtins.concatLists (builtins.attrValues (builtins.mapAttrs (n: ms: map (m: n + ": " + m) ms) f)))')
for want in \
	"noEndpoint: services.offsite.etcdOffload.endpoint:" \
	"noCredentials: services.offsite.etcdOffload.accessKeyIdFile:" \
	"noCredentials: services.offsite.etcdOffload.secretAccessKeyFile:" \
	"secretInStore: services.offsite.etcdOffload.secretAccessKeyFile:" \
	"relativeSnapshotDir: services.offsite.etcdOffload.snapshotDir:" \
	"bothAgeRecipients: services.offsite.etcdOffload.ageRecipients:"; do
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
step "CronJob decodes strictly into batch/v1 (go test ./nix/k8s)"
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
	rgwEndpoint = "http://rgw"; minioEndpoint = "http://minio"; buckets = "*"; }).cronJob.kind' >/dev/null 2>"$tmp/flake.err" || {
	cat "$tmp/flake.err" >&2
	fail "lib.mkRgwMirrorCronJob does not evaluate"
}

# --- 6. vendorHash
step "vendorHash"
nix/vendor-hash.sh --check

# --- 3, for the CronJob (last: it needs the mirror command).
step "CronJob env vars are ones offsite mirror reads"
help=$("$offsite" --help && "$offsite" mirror --help) || fail "offsite mirror --help failed: is the command there?"
cronenv=$("${nixx[@]}" eval --raw --impure --expr '
	let c = (import ./nix/k8s/cronjob.nix {
	  image = "r/offsite@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	  rgwEndpoint = "http://rgw"; minioEndpoint = "http://minio";
	  buckets = [ "a" ]; excludeBuckets = [ "b" ]; rgwRegion = "r"; shards = 3; maxDurationSeconds = 3600;
	}).cronJob;
	in builtins.concatStringsSep " " (map (e: e.name) (builtins.head c.spec.jobTemplate.spec.template.spec.containers).env)')
for var in $cronenv; do
	reads "$var" <<<"$help" || fail "the CronJob sets $var, which offsite mirror does not read"
done

step "OK"
