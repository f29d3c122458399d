#!/usr/bin/env bash
# Benchmark of `offsite mirror` against the rclone CLI (the same rclone
# version offsite links, with the same flags) and the MinIO client's
# `mc mirror`, between two MinIO servers on loopback:
#   (a) 10,000 objects of 4 KiB, (b) 8 objects of 64 MiB,
#   (c) a no-change re-run over 100,000 objects of 256 B (copy, then sync),
#       after a first copy by each tool into its own destination,
#   (d) a no-change re-run over a flat bucket of 100,000 objects of 256 B
#       (keys urn:oid:N), seeded on both sides with the same bytes under the
#       same keys (bench/flat), beside two plain paged listings of the same
#       buckets, the rclone CLI with and without --fast-list and mc mirror,
#       then `offsite verify rgw` over the same pair beside
#       `rclone check --one-way --fast-list`.
# It reports wall time, objects/s, MB/s, peak RSS, the tool's own CPU
# time (user + system; GNU time) and the CPU time both MinIOs spent on it, the
# ratios offsite/rclone, offsite/mc and offsite/baseline, and the S3
# requests each run made per object (MinIO's request counters, both
# servers). Not run by CI: `make bench` or bash bench/mirror.sh from the
# repository root.
#
# Sizes and repetitions can be changed (0 leaves a scenario out), e.g.:
#   BENCH_SMALL=1000 BENCH_LARGE=2 BENCH_MANY=5000 BENCH_FLAT=5000 BENCH_REPS=1 bench/mirror.sh
# BENCH_DATA=DIR keeps the MinIO data there instead of a temp dir, so a
# seeded flat pair is reused by the next run (seeding writes only missing
# keys); use it with BENCH_SMALL=0 BENCH_LARGE=0 BENCH_MANY=0, as the first
# copies of (a) and (b) need empty destinations.
# BENCH_OFFSITE_BASELINE=PATH adds an older offsite binary, "baseline": in
# (a), (b) and (c) it takes its turn with the other tools, into a
# destination of its own; in (d) it re-runs the copy and verify rgw.
# BENCH_TOOLS (default "offsite baseline rclone mc") picks the tools of
# (a), (b) and (c). BENCH_FLAT_ROWS (default "listings offsite audit sync
# baseline rclone rclone-slow mc verify") picks the rows of (d): the two
# paged listings; offsite copy with OFFSITE_AUDIT=0% (the listing floor);
# offsite copy with the default audit (5% of the pairs read again with a
# HEAD on each side); offsite sync (default audit); the baseline's copy;
# rclone copy with --fast-list; without it (from a million entries in one
# directory rclone sorts on disk and HEADs every object on both sides:
# 20 minutes at a million); mc mirror; and verify rgw (offsite's, the
# baseline's) and rclone check. verify reads the newest run report, so it
# runs after the mirror rows: leave one of offsite, audit or sync in.
# There is no OFFSITE_FAST_LIST row (nor BENCH_FLAT_MARCH) any more:
# offsite lists both ends itself, flat and paged, and has no other path.
# The mirror side of (d) is seeded after the source, so that each copy is
# dated after its source: the mirror takes a copy older than its source
# for stale, whatever its bytes.
# Before each timed run the script waits (at most BENCH_QUIET_WAIT seconds,
# default 120) for a quiet machine, which is shared: under BENCH_QUIET_CPU
# (0.25) busy over 2 s and a load average under BENCH_QUIET_LOAD (1.5).
# Each run's figures, requests and load go to mirror.runs beside the table
# (BENCH_OUT) as it ends, so a run cut short keeps them.
# Without mc (if it cannot be built) the script goes on with offsite and rclone.
# Every external command has a deadline (GNU timeout, SIGKILL 10 s after
# SIGTERM): a build 20 minutes, a copy, sync or check BENCH_STEP_TIMEOUT
# (default 30 minutes), so a hung tool fails the run instead of stalling it.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
cache=${OFFSITE_CACHE_DIR:-$root/.cache}
bin=$cache/bin
small=${BENCH_SMALL:-10000}
large=${BENCH_LARGE:-8}
many=${BENCH_MANY:-100000}
flat=${BENCH_FLAT:-100000}
flat_size=${BENCH_FLAT_SIZE:-256}
baseline=${BENCH_OFFSITE_BASELINE:-}
read -ra tools_asked <<<"${BENCH_TOOLS:-offsite baseline rclone mc}"
flat_rows=" ${BENCH_FLAT_ROWS:-listings offsite audit sync baseline rclone rclone-slow mc verify} "
reps=${BENCH_REPS:-1} # with more, the table shows medians and the tools take turns going first
out=${BENCH_OUT:-$cache/bench/mirror.md}
step=${BENCH_STEP_TIMEOUT:-30m}

rclone_version=v1.76.0
mc_version=v0.0.0-20250313080218-cf909e1063a9 # mc has no semver tags on the module proxy
minio_module=$(sed -n 's/^const MinioModule = "\(.*\)"$/\1/p' internal/harness/minio.go)

user=bench-user
secret=bench-secret-key

work=$(mktemp -d "${TMPDIR:-/tmp}/offsite-bench.XXXXXX")
data=${BENCH_DATA:-$work}
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do # 10 s to stop, then SIGKILL
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# limit SECONDS|DURATION command...: the command, killed if it outlives the
# deadline (timeout's exit status is then 124, or 137 after SIGKILL).
limit() { timeout -k 10 "$@"; }

if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		log "installing GNU time for peak RSS"
		limit 10m apt-get install -y -qq time >/dev/null
	else
		echo "bench/mirror.sh needs GNU time for peak RSS: apt-get install time" >&2
		exit 1
	fi
fi

install_tool() { # name module@version
	if [ ! -x "$bin/$1" ]; then
		log "building $2 into $bin (once)"
		mkdir -p "$bin"
		GOBIN=$bin GOFLAGS=-buildvcs=false limit 20m go install "$2"
	fi
}
install_tool rclone "github.com/rclone/rclone@$rclone_version"
install_tool minio "$minio_module"
have_mc=1
if ! install_tool mc "github.com/minio/mc@$mc_version"; then
	have_mc=0
	echo "mc could not be built: the mc mirror column is left out" >&2
fi
log "building offsite"
limit 20m go build -trimpath -o "$bin/offsite" ./cmd/offsite
limit 20m go build -tags bench -trimpath -o "$bin/bench-flat" ./bench/flat
mkdir -p "$(dirname "$out")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

endpoint_src="" endpoint_dst="" # set by start_minio
start_minio() { # name -> sets endpoint_<name>
	local port console
	port=$(free_port)
	console=$(free_port)
	MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$secret MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=on \
		MINIO_PROMETHEUS_AUTH_TYPE=public \
		"$bin/minio" server "$data/$1" --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" --quiet \
		>"$work/$1.log" 2>&1 &
	pids+=($!)
	local ready=0
	for _ in $(seq 100); do
		if curl -fs --max-time 2 "http://127.0.0.1:$port/minio/health/ready" >/dev/null; then ready=1; break; fi
		sleep 0.1
	done
	if [ "$ready" = 0 ]; then
		echo "minio $1 not ready; its log ends with:" >&2
		tail -20 "$work/$1.log" >&2
		exit 1
	fi
	printf -v "endpoint_$1" 'http://127.0.0.1:%s' "$port"
}
start_minio src
start_minio dst
log "source $endpoint_src, destination $endpoint_dst"

# The rclone CLI gets its remotes from env vars, given to it alone:
# offsite refuses to run with RCLONE_* set. Each command starts with env,
# which execs the tool, so /usr/bin/time measures the tool itself.
rclone_cmd=(env RCLONE_CONFIG="$work/rclone.conf"
	RCLONE_CONFIG_SRC_TYPE=s3 RCLONE_CONFIG_SRC_PROVIDER=Ceph RCLONE_CONFIG_SRC_ENDPOINT="$endpoint_src"
	RCLONE_CONFIG_SRC_ACCESS_KEY_ID="$user" RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY="$secret"
	RCLONE_CONFIG_SRC_FORCE_PATH_STYLE=true RCLONE_CONFIG_SRC_ENV_AUTH=false RCLONE_CONFIG_SRC_NO_CHECK_BUCKET=true
	RCLONE_CONFIG_DST_TYPE=s3 RCLONE_CONFIG_DST_PROVIDER=Minio RCLONE_CONFIG_DST_ENDPOINT="$endpoint_dst"
	RCLONE_CONFIG_DST_ACCESS_KEY_ID="$user" RCLONE_CONFIG_DST_SECRET_ACCESS_KEY="$secret" RCLONE_CONFIG_DST_REGION=us-east-1
	RCLONE_CONFIG_DST_FORCE_PATH_STYLE=true RCLONE_CONFIG_DST_ENV_AUTH=false RCLONE_CONFIG_DST_NO_CHECK_BUCKET=true
	"$bin/rclone")
mc_cmd=(env MC_CONFIG_DIR="$work/mc" "$bin/mc" --quiet --no-color)
offsite_cmd=(env RGW_ENDPOINT="$endpoint_src" RGW_ACCESS_KEY_ID="$user" RGW_SECRET_ACCESS_KEY="$secret"
	MINIO_ENDPOINT="$endpoint_dst" MINIO_ACCESS_KEY_ID="$user" MINIO_SECRET_ACCESS_KEY="$secret"
	OFFSITE_MAX_DELETE=0 OFFSITE_PROGRESS_INTERVAL=0 OFFSITE_LOG_FORMAT=json OFFSITE_LOG_LEVEL=warn)
rc() { limit "$step" "${rclone_cmd[@]}" "$@"; }
mcx() { limit "$step" "${mc_cmd[@]}" "$@"; }
if [ "$have_mc" = 1 ]; then
	mcx alias set src "$endpoint_src" $user $secret >/dev/null
	mcx alias set dst "$endpoint_dst" $user $secret >/dev/null
fi
tools_all=()
for t in "${tools_asked[@]}"; do
	case $t in
	offsite | rclone) tools_all+=("$t") ;;
	baseline) if [ -n "$baseline" ]; then tools_all+=("$t"); fi ;;
	mc) if [ "$have_mc" = 1 ]; then tools_all+=("$t"); fi ;;
	*)
		echo "BENCH_TOOLS: unknown tool $t (offsite, baseline, rclone, mc)" >&2
		exit 1
		;;
	esac
done
if [ -n "$baseline" ] && [ ! -x "$baseline" ]; then
	echo "BENCH_OFFSITE_BASELINE: $baseline is not an executable" >&2
	exit 1
fi
# flat_row NAME: whether BENCH_FLAT_ROWS asks for that row of (d)
flat_row() { [[ $flat_rows == *" $1 "* ]]; }

# The flags all three runs share, as offsite's defaults set them.
rclone_flags=(--checksum --transfers 4 --checkers 8 --fast-list --low-level-retries 10 --retries 1)
rclone_slow_flags=(--checksum --transfers 4 --checkers 8 --low-level-retries 10 --retries 1)

seed() { # bucket count size
	local dir=$work/seed/$1
	log "seeding $2 objects of $3 bytes into $1"
	python3 - "$dir" "$2" "$3" <<'EOF'
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    sub = os.path.join(d, "d%03d" % (i % 1000))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "obj-%07d" % i), "wb") as f:
        f.write(os.urandom(size))
EOF
	# no_check_bucket in the remotes would make mkdir a no-op
	rc mkdir "src,no_check_bucket=false:$1"
	for rep in $(seq "$reps"); do
		for t in "${tools_all[@]}"; do rc mkdir "dst,no_check_bucket=false:${t:0:3}-$1-$rep"; done
	done
	rc copy "$dir" "src:$1" --transfers 32 --checkers 32 --s3-upload-cutoff 1Gi
	rm -rf "$dir"
}

# requests: MinIO's S3 request counters of both servers, "api count"
# lines. MinIO computes them on a scrape and answers the same figures for
# the next 10 s: a scrape comes at least 11 s after the one before it
# (12 s by the shell's whole seconds).
last_scrape=-100
requests() {
	local e
	sleep 1
	while ((SECONDS - last_scrape < 12)); do sleep 1; done
	last_scrape=$SECONDS
	for e in "$endpoint_src" "$endpoint_dst"; do
		curl -fs --max-time 10 "$e/minio/v2/metrics/cluster" |
			sed -n 's/^minio_s3_requests_total{api="\([a-z0-9]*\)".*} \([0-9.e+]*\)$/\1 \2/p'
	done
}
# delta before after: the requests between two counter snapshots
delta() {
	python3 - "$1" "$2" <<'EOF'
import sys
def read(p):
    c = {}
    for line in open(p):
        api, n = line.split()
        c[api] = c.get(api, 0) + float(n)
    return c
b, a = read(sys.argv[1]), read(sys.argv[2])
print(" ".join("%s=%d" % (k, a[k] - b.get(k, 0)) for k in sorted(a) if a[k] - b.get(k, 0) > 0))
EOF
}

# servers_cpu: the CPU seconds (user + system) both MinIO servers have used
servers_cpu() {
	local pid total=0 ticks
	ticks=$(getconf CLK_TCK)
	for pid in "${pids[@]:0:2}"; do
		total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	python3 -c "print('%.2f' % ($total / $ticks))"
}

# busy: the share of the machine's CPU time spent (by anyone) over 2 s
busy() {
	local a b
	read -ra a < <(head -1 /proc/stat)
	sleep 2
	read -ra b < <(head -1 /proc/stat)
	python3 -c '
import sys
n = len(sys.argv) // 2
a, b = [int(x) for x in sys.argv[2:n + 1]], [int(x) for x in sys.argv[n + 2:]]
d = [y - x for x, y in zip(a, b)]
idle = d[3] + d[4]
print("%.2f" % (1 - idle / max(1, sum(d))))' "${a[@]}" "${b[@]}"
}
# quiet: wait (up to BENCH_QUIET_WAIT seconds) until the machine is less
# busy than BENCH_QUIET_CPU over 2 s and its load average over a minute is
# below BENCH_QUIET_LOAD, as it is shared; says how busy it was
quiet_cpu=${BENCH_QUIET_CPU:-0.25}
quiet_load=${BENCH_QUIET_LOAD:-1.5}
quiet_wait=${BENCH_QUIET_WAIT:-120}
quiet() {
	local b load start=$SECONDS
	while :; do
		b=$(busy)
		read -r load _ </proc/loadavg
		if python3 -c "import sys; sys.exit(0 if $b < $quiet_cpu and $load < $quiet_load else 1)" ||
			((SECONDS - start >= quiet_wait)); then
			break
		fi
		sleep 3
	done
	echo "$b"
}

rows=()
reqrows=()
measure() { # scenario tool objects bytes command...
	local scenario=$1 tool=$2 objects=$3 bytes=$4 before
	shift 4
	before=$(quiet)
	log "$scenario: $tool (CPU busy $before before, load $(cut -d' ' -f1-3 /proc/loadavg))"
	requests >"$work/req.before"
	local servers_before
	servers_before=$(servers_cpu)
	# timeout outside time: time measures the tool alone
	local status=0
	limit "$step" /usr/bin/time -f '%e %M %U %S' -o "$work/time" "$@" >"$work/run.log" 2>&1 || status=$?
	if [ "$status" != 0 ]; then
		echo "$scenario/$tool failed (exit status $status; 124 or 137: killed after $step):" >&2
		tail -20 "$work/run.log" >&2
		exit 1
	fi
	local wall rss user sys cpu scpu
	read -r wall rss user sys <"$work/time" # seconds, KiB, seconds, seconds
	cpu=$(python3 -c "print('%.2f' % ($user + $sys))")
	scpu=$(python3 -c "print('%.2f' % ($(servers_cpu) - $servers_before))")
	log "$scenario: $tool: ${wall} s, $((rss / 1024)) MiB, CPU ${cpu} s (servers ${scpu} s)"
	rows+=("$scenario|$tool|$wall|$objects|$bytes|$rss|$cpu|$scpu")
	requests >"$work/req.after"
	local reqs
	reqs=$(delta "$work/req.before" "$work/req.after")
	log "$scenario: $tool: requests $reqs"
	reqrows+=("$scenario|$tool|$objects|$reqs")
	# each run as it ends, so that a run cut short keeps its figures
	printf '%s %s|%s|busy %s, load %s\n' "$(date -u +%FT%TZ)" "${rows[-1]}" "$reqs" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"${out%.md}.runs"
}

run_all() { # scenario bucket objects bytes copy|sync fresh|same [reps]
	local mc_flags=() n=${7:-$reps} rep target tools
	if [ "$5" = sync ]; then mc_flags=(--remove); fi
	for rep in $(seq "$n"); do
		target=1
		if [ "$6" = fresh ]; then target=$rep; fi # a copy needs an empty target each time
		tools=("${tools_all[@]}")
		for _ in $(seq $(((rep - 1) % ${#tools_all[@]}))); do tools=("${tools[@]:1}" "${tools[0]}"); done
		for t in "${tools[@]}"; do
			case $t in
			offsite) measure "$1" "offsite $5" "$3" "$4" "${offsite_cmd[@]}" MINIO_BUCKET="off-$2-$target" RGW_BUCKETS="$2" OFFSITE_MODE="$5" "$bin/offsite" mirror ;;
			baseline) measure "$1" "baseline $5" "$3" "$4" "${offsite_cmd[@]}" MINIO_BUCKET="bas-$2-$target" RGW_BUCKETS="$2" OFFSITE_MODE="$5" "$baseline" mirror ;;
			rclone) measure "$1" "rclone $5" "$3" "$4" "${rclone_cmd[@]}" "$5" "src:$2" "dst:rcl-$2-$target/$2" "${rclone_flags[@]}" ;;
			mc) measure "$1" "mc mirror${mc_flags[*]:+ ${mc_flags[*]}}" "$3" "$4" "${mc_cmd[@]}" mirror --overwrite "${mc_flags[@]}" "src/$2" "dst/mc-$2-$target/$2" ;;
			esac
		done
	done
}

# count bucket/prefix objects: each copy must have landed in full, or its
# time means nothing
check() {
	local got
	got=$(rc size --fast-list --json "dst:$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])')
	if [ "$got" != "$2" ]; then
		echo "dst:$1 holds $got objects, want $2" >&2
		exit 1
	fi
}
check_all() { # bucket objects [reps]
	local rep t
	for rep in $(seq "${3:-$reps}"); do
		for t in "${tools_all[@]}"; do check "${t:0:3}-$1-$rep/$1" "$2"; done
	done
}

# The first copy of (c) is setup, not a measurement: each tool fills its
# own destination with 32 parallel transfers (mc with its default), so
# that 100,000 objects fit in a run.
prefill() { # bucket
	local t
	log "first copy of $1 with each tool (setup)"
	for t in "${tools_all[@]}"; do
		case $t in
		offsite | baseline)
			local exe=$bin/offsite
			if [ "$t" = baseline ]; then exe=$baseline; fi
			limit "$step" "${offsite_cmd[@]}" MINIO_BUCKET="${t:0:3}-$1-1" RGW_BUCKETS="$1" OFFSITE_MODE=copy \
				OFFSITE_TRANSFERS=32 OFFSITE_CHECKERS=32 "$exe" mirror >"$work/run.log" 2>&1 ||
				{ tail -20 "$work/run.log" >&2; exit 1; }
			;;
		rclone) rc copy "src:$1" "dst:rcl-$1-1/$1" --checksum --fast-list --transfers 32 --checkers 32 ;;
		mc) mcx mirror --overwrite "src/$1" "dst/mc-$1-1/$1" >/dev/null ;;
		esac
	done
}

if [ "$small" -gt 0 ]; then
	seed small "$small" 4096
	run_all "(a) $small x 4 KiB" small "$small" $((small * 4096)) copy fresh
	check_all small "$small"
fi
if [ "$large" -gt 0 ]; then
	seed large "$large" $((64 << 20))
	run_all "(b) $large x 64 MiB" large "$large" $((large * (64 << 20))) copy fresh
	check_all large "$large"
fi
if [ "$many" -gt 0 ]; then
	seed many "$many" 256
	prefill many
	check_all many "$many" 1
	run_all "(c) no-change re-run, $many objects, copy" many "$many" 0 copy same
	run_all "(c') no-change re-run, $many objects, sync" many "$many" 0 sync same
fi

# (d): the flat pair. The source bucket "flat" holds urn:oid:N; the mirror
# holds the same bytes under off-flat/flat/urn:oid:N, where offsite's
# mirror of "flat" lives; every tool re-runs over it with nothing to do.
flat_cmd=(env BENCH_ACCESS_KEY="$user" BENCH_SECRET_KEY="$secret" "$bin/bench-flat")
if [ "$flat" -gt 0 ]; then
	# The source first, then the mirror: every copy is written after its
	# source, as a mirror run writes it, so that the pair is equal by the
	# mirror's rule (a copy older than its source is stale).
	log "seeding the flat pair: $flat objects of $flat_size bytes on each side (only missing keys)"
	limit "$step" "${flat_cmd[@]}" seed "$endpoint_src" flat "" "$flat" "$flat_size"
	limit "$step" "${flat_cmd[@]}" seed "$endpoint_dst" off-flat flat/ "$flat" "$flat_size"
	sc="(d) no-change re-run, flat, $flat objects"
	vsc="(d') verify rgw, flat, $flat objects"
	off_flat=("${offsite_cmd[@]}" MINIO_BUCKET=off-flat RGW_BUCKETS=flat)
	for rep in $(seq "$reps"); do
		if flat_row listings; then
			measure "$sc" "paged listing, source" "$flat" 0 "${flat_cmd[@]}" list "$endpoint_src" flat ""
			measure "$sc" "paged listing, mirror" "$flat" 0 "${flat_cmd[@]}" list "$endpoint_dst" off-flat flat/
		fi
		if flat_row baseline && [ -n "$baseline" ]; then
			measure "$sc" "baseline copy" "$flat" 0 "${off_flat[@]}" OFFSITE_MODE=copy "$baseline" mirror
		fi
		if flat_row offsite; then
			measure "$sc" "offsite copy, OFFSITE_AUDIT=0%" "$flat" 0 "${off_flat[@]}" OFFSITE_MODE=copy OFFSITE_AUDIT=0% "$bin/offsite" mirror
		fi
		if flat_row audit; then
			measure "$sc" "offsite copy, OFFSITE_AUDIT=5% (default)" "$flat" 0 "${off_flat[@]}" OFFSITE_MODE=copy "$bin/offsite" mirror
		fi
		if flat_row sync; then
			measure "$sc" "offsite sync, OFFSITE_AUDIT=5% (default)" "$flat" 0 "${off_flat[@]}" OFFSITE_MODE=sync "$bin/offsite" mirror
		fi
		if flat_row rclone; then
			measure "$sc" "rclone copy --fast-list" "$flat" 0 "${rclone_cmd[@]}" copy src:flat dst:off-flat/flat "${rclone_flags[@]}"
		fi
		if flat_row rclone-slow; then
			measure "$sc" "rclone copy, no --fast-list" "$flat" 0 "${rclone_cmd[@]}" copy src:flat dst:off-flat/flat "${rclone_slow_flags[@]}"
		fi
		if flat_row mc && [ "$have_mc" = 1 ]; then # mc compares by size: the pair is equal
			measure "$sc" "mc mirror" "$flat" 0 "${mc_cmd[@]}" mirror --overwrite src/flat dst/off-flat/flat
		fi
		# verify rgw: every source object in the mirror (sizes, MD5s,
		# dates) and the newest run report, the one the rows above wrote;
		# rclone check --one-way is the same one-way comparison.
		if flat_row verify; then
			measure "$vsc" "offsite verify rgw" "$flat" 0 "${off_flat[@]}" "$bin/offsite" verify rgw
			if [ -n "$baseline" ]; then
				measure "$vsc" "baseline verify rgw" "$flat" 0 "${off_flat[@]}" "$baseline" verify rgw
			fi
			measure "$vsc" "rclone check --one-way --fast-list" "$flat" 0 "${rclone_cmd[@]}" check src:flat dst:off-flat/flat \
				--one-way --fast-list --checkers 8
		fi
	done
	check "off-flat/flat" "$flat"
fi

printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    sc, tool, wall, obj, nbytes, rss, cpu, scpu = line.rstrip("\n").split("|")
    r = rows.setdefault((sc, tool), {"wall": [], "rss": [], "cpu": [], "scpu": [], "obj": int(obj), "bytes": int(nbytes)})
    r["wall"].append(float(wall))
    r["rss"].append(int(rss))
    r["cpu"].append(float(cpu))
    r["scpu"].append(float(scpu))
def pick(sc, name):
    return next((r for (s, t), r in rows.items() if s == sc and t.startswith(name)), None)
def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"
print("| scenario | tool | runs | wall | each run | objects/s | MB/s | peak RSS | CPU, tool | CPU, servers |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for (sc, tool), r in rows.items():
    wall, rss = statistics.median(r["wall"]), max(r["rss"])
    cpu, scpu = statistics.median(r["cpu"]), statistics.median(r["scpu"])
    mbs = "%.1f" % (r["bytes"] / 1e6 / wall) if r["bytes"] else "-"
    each = " / ".join("%.2f" % w for w in r["wall"])
    print("| %s | %s | %d | %.2f s | %s | %.0f | %s | %.0f MiB | %.1f s | %.1f s |" % (sc, tool, len(r["wall"]), wall, each, r["obj"] / wall, mbs, rss / 1024, cpu, scpu))
print()
print("| scenario | wall offsite/baseline | wall offsite/rclone | wall offsite/mc | RSS offsite/baseline | RSS offsite/rclone | RSS offsite/mc |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for sc in dict.fromkeys(s for s, _ in rows):
    o, b, r, m = pick(sc, "offsite"), pick(sc, "baseline"), pick(sc, "rclone"), pick(sc, "mc")
    med = lambda x: statistics.median(x["wall"]) if x else None
    top = lambda x: max(x["rss"]) if x else None
    print("| %s | %s | %s | %s | %s | %s | %s |" % (sc, ratio(med(o), med(b)), ratio(med(o), med(r)), ratio(med(o), med(m)), ratio(top(o), top(b)), ratio(top(o), top(r)), ratio(top(o), top(m))))
' | tee "$out"
{
	echo
	echo "| scenario | tool | S3 requests (both servers) | per object | other than listings |"
	echo "| --- | --- | --- | --- | --- |"
	for r in "${reqrows[@]}"; do
		IFS='|' read -r sc tool objects reqs <<<"$r"
		# per object: all requests over the objects; other than listings:
		# all but listbuckets and listobjects*, as a count
		# shellcheck disable=SC2086 # one argument per API
		per=$(python3 -c '
import sys
n = int(sys.argv[1])
counts = {k: int(v) for k, v in (x.split("=") for x in sys.argv[2:])}
other = sum(v for k, v in counts.items() if not k.startswith("list"))
print("%.3f|%d" % (sum(counts.values()) / n, other))' "$objects" $reqs)
		echo "| $sc | $tool | $reqs | ${per%|*} | ${per#*|} |"
	done
} | tee -a "$out"
log "table written to $out"
