#!/bin/sh
# make drill-rgw: restore one mirrored bucket into a new scratch bucket on
# the RGW, verify it against the mirror, and print how long it took and how
# long a restore of the whole mirror would take at that pace. Nothing is
# written to the real buckets: the scratch bucket is new, and a restore never
# deletes. Run by docs/runbook.mk; documented in docs/runbook.md.
#
# Variables (from make): OFFSITE, DRILL_BUCKET (required), DRILL_TO,
# DRILL_AT, STEP_TIMEOUT; the RGW_* and MINIO_* env vars of the jobs.
set -eu

OFFSITE=${OFFSITE:-offsite}
DRILL_BUCKET=${DRILL_BUCKET:-}
DRILL_AT=${DRILL_AT:-}
STEP_TIMEOUT=${STEP_TIMEOUT:-14400}

if [ -z "$DRILL_BUCKET" ]; then
	echo "drill-rgw: DRILL_BUCKET is not set: make drill-rgw DRILL_BUCKET=<a mirrored bucket>" >&2
	exit 2
fi
# A bucket name has 3 to 63 characters; the stamp takes 22 of them.
DRILL_TO=${DRILL_TO:-$(printf %.41s "$DRILL_BUCKET")-drill-$(date -u +%Y%m%d-%H%M%S)}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# quote WORD: WORD as a shell reads it back, for commands printed to copy.
quote() {
	case $1 in
	'' | *[!A-Za-z0-9_./:=@%+,-]*) printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")" ;;
	*) printf '%s' "$1" ;;
	esac
}

# field NAME FILE: the number NAME in the totals of the one-line JSON report
# in FILE (totals is a flat object, so no nesting gets in the way).
field() {
	sed -n 's/.*"totals":{\([^}]*\)}.*/\1/p' "$2" | tr ',' '\n' | sed -n "s/^\"$1\":\([0-9.eE+-]*\)\$/\1/p"
}

at=
if [ -n "$DRILL_AT" ]; then at="--at=$DRILL_AT"; fi

echo "--- drill: restore $DRILL_BUCKET${DRILL_AT:+ as of $DRILL_AT} from the mirror into the new RGW bucket $DRILL_TO, then verify it"
start=$(date +%s)
status=0
# The report goes to stdout as one JSON line; the logs stay on stderr.
timeout -k 10 "$STEP_TIMEOUT" "$OFFSITE" --log-format json restore rgw --bucket "$DRILL_BUCKET" --to-bucket "$DRILL_TO" \
	--create-bucket --verify --progress never ${at:+"$at"} >"$tmp/restore.json" || status=$?
end=$(date +%s)
if [ "$status" -ne 0 ]; then
	echo "drill-rgw: the restore of $DRILL_BUCKET failed with exit code $status after $((end - start)) s (see docs/runbook.md)" >&2
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then echo "drill-rgw: timed out after $STEP_TIMEOUT s (STEP_TIMEOUT)" >&2; fi
	exit "$status"
fi
objects=$(field restored "$tmp/restore.json")
bytes=$(field bytes "$tmp/restore.json")
listed=$(field mirror_objects "$tmp/restore.json")
listed_bytes=$(field mirror_bytes "$tmp/restore.json")
seconds=$((end - start))
[ "$seconds" -gt 0 ] || seconds=1

echo "--- drill: size of the whole mirror (a dry run of restore --all: lists, changes nothing)"
status=0
timeout -k 10 "$STEP_TIMEOUT" "$OFFSITE" --log-format json restore rgw --all --dry-run --create-bucket --progress never ${at:+"$at"} \
	>"$tmp/all.json" || status=$?
if [ "$status" -ne 0 ]; then
	echo "drill-rgw: the restore of $DRILL_BUCKET is verified, but sizing the mirror failed with exit code $status" >&2
	exit "$status"
fi
all_objects=$(field mirror_objects "$tmp/all.json")
all_bytes=$(field mirror_bytes "$tmp/all.json")
all_buckets=$(field buckets "$tmp/all.json")

awk -v s="$seconds" -v o="$listed" -v b="$listed_bytes" -v n="$objects" -v nb="$bytes" \
	-v ao="$all_objects" -v ab="$all_bytes" -v k="$all_buckets" -v name="$DRILL_BUCKET" -v to="$DRILL_TO" '
function human(x,   u, i) { split("B KiB MiB GiB TiB PiB", u, " "); i = 1; while (x >= 1024 && i < 6) { x /= 1024; i++ } return sprintf(i == 1 ? "%d %s" : "%.1f %s", x, u[i]) }
function dur(x) { x = int(x + 0.5); if (x >= 3600) return sprintf("%d h %02d min", x / 3600, (x % 3600) / 60); if (x >= 60) return sprintf("%d min %02d s", x / 60, x % 60); return sprintf("%d s", x) }
BEGIN {
	printf "drill: %s restored into %s and verified: %d objects, %s in the mirror (%d restored, %s), %s (%s/s, %.0f objects/s)\n", name, to, o, human(b), n, human(nb), dur(s), human(b / s), o / s
	byb = (b > 0) ? s * ab / b : 0
	byo = (o > 0) ? s * ao / o : 0
	p = (byb > byo) ? byb : byo
	printf "drill: the whole mirror holds %d buckets, %d objects, %s: restoring all of it at this pace takes about %s (by bytes %s, by objects %s)\n", k, ao, human(ab), dur(p), dur(byb), dur(byo)
}'
echo "drill: $DRILL_TO stays on the RGW for you to inspect; offsite never deletes there: remove it with your RGW tools (radosgw-admin bucket rm $(quote "--bucket=$DRILL_TO") --purge-objects)"
