#!/bin/sh
# make validate: the deployment's final verification, one non-interactive
# run against the configured cluster and MinIO (docs/runbook.md, "Validate
# a deployment"). Each step runs under timeout and writes
# $EVIDENCE/<date>/NN-<step>.txt: the command, start and end (UTC), exit
# code and output, with the secret values of the environment redacted.
# DRY=1 prints the steps and runs nothing. Exits 0 when every step passed,
# 1 when one failed (summary.txt names it), 2 on a missing setting.
# KUBECTL, SSH and OFFSITE are commands with arguments (ssh -o BatchMode=yes,
# nix run .# --): they are split into words on purpose (globbing is off).
# shellcheck disable=SC2086
set -eu

NAMESPACE=${NAMESPACE:-applications}
CRONJOB=${CRONJOB:-rgw-mirror}
UNIT=${UNIT:-etcd-offload}
NODE=${NODE:-}
VALIDATE_BUCKET=${VALIDATE_BUCKET:-}
ETCD_HOST=${ETCD_HOST:-}
SNAPSHOT_DIR=${SNAPSHOT_DIR:-/var/lib/rancher/k3s/server/db/snapshots}
KUBECTL=${KUBECTL:-kubectl}
SSH=${SSH:-ssh -o BatchMode=yes}
OFFSITE=${OFFSITE:-offsite}
MIRROR_TIMEOUT=${MIRROR_TIMEOUT:-14400}
STEP_TIMEOUT=${STEP_TIMEOUT:-600}
EVIDENCE=${EVIDENCE:-evidence}
DRY=${DRY:-}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# wait-job JOB: the bounded wait of step mirror-job-wait, run as its own
# command under timeout; it shows each kubectl call it makes.
if [ "${1:-}" = wait-job ]; then
	job=$2
	errors=0
	while :; do
		echo "+ $KUBECTL -n $NAMESPACE get job/$job -o jsonpath=<true conditions>"
		# A failed call is retried (the API server may blink), five in a row fail the wait.
		state=" $(timeout -k 5 60 $KUBECTL -n "$NAMESPACE" get "job/$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}') " || {
			errors=$((errors + 1))
			[ "$errors" -lt 5 ] || { echo "kubectl get job/$job failed $errors times in a row"; exit 1; }
			sleep 5
			continue
		}
		errors=0
		echo "$(now) conditions:$state"
		case "$state" in
		*" Complete "*) exit 0 ;;
		*" Failed "*)
			code=$(timeout -k 5 60 $KUBECTL -n "$NAMESPACE" get pods -l job-name="$job" --sort-by=.metadata.creationTimestamp \
				-o jsonpath='{range .items[*]}{.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}' | tail -n 1)
			echo "job/$job failed, mirror exit code ${code:-unknown} (docs/runbook.md, Exit codes)"
			exit 1
			;;
		esac
		sleep 5
	done
fi

die() { echo "validate: $*" >&2; exit 2; }
[ -n "$NODE" ] || die "NODE is not set: make validate NODE=<k3s server host> VALIDATE_BUCKET=<mirrored RGW bucket>"
[ -n "$VALIDATE_BUCKET" ] || die "VALIDATE_BUCKET is not set: name a bucket the mirror copies (one in the CronJob's RGW_BUCKETS)"
t=""
for v in MIRROR_TIMEOUT STEP_TIMEOUT; do
	eval "t=\$$v"
	case "$t" in '' | *[!0-9]*) die "$v=$t is not a number of seconds" ;; esac
done
command -v timeout >/dev/null || die "timeout (coreutils) is not installed: every step runs under it"

run_id="$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
key="offsite-validate/$run_id"
job="$CRONJOB-validate-$(date +%s)"
dir="$EVIDENCE/$(date -u +%Y-%m-%d)"
work=""
if [ -z "$DRY" ]; then
	mkdir -p "$dir"
	if [ -e "$dir/summary.txt" ]; then
		# A day's earlier run keeps its evidence beside this one.
		old="$dir/earlier-$(sed -n 's/^run: //p' "$dir/summary.txt" | head -n 1)"
		mkdir -p "$old"
		mv "$dir"/*.txt "$old"/
	fi
	work=$(mktemp -d)
fi
set -f # the command variables are split into words, never globbed

# Secret values the environment holds: never written into the evidence.
secrets=""
for v in RGW_SECRET_ACCESS_KEY MINIO_SECRET_ACCESS_KEY OFFSITE_PING_URL OFFSITE_PUSHGATEWAY_URL; do
	eval "val=\${$v:-}; sfile=\${${v}_FILE:-}"
	[ -z "$sfile" ] || [ ! -r "$sfile" ] || val=$(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$sfile")
	[ -z "$val" ] || secrets="$secrets$val
"
done
redact() {
	SECRETS=$secrets awk 'BEGIN { n = split(ENVIRON["SECRETS"], s, "\n") }
	{ line = $0
	  for (i = 1; i <= n; i++) if (length(s[i]) > 0)
	    while ((j = index(line, s[i])) > 0) line = substr(line, 1, j - 1) "[redacted]" substr(line, j + length(s[i]))
	  print line }'
}

# quote prints its arguments as a shell would read them back.
quote() {
	for a in "$@"; do
		case "$a" in
		'' | *[!A-Za-z0-9_./:=@%+,-]*) printf "'%s' " "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")" ;;
		*) printf '%s ' "$a" ;;
		esac
	done | sed 's/ $//'
}

n=0
failed=""
blocked="" # set: the steps that follow are skipped, with this reason
check=""
child=""
summary() { [ -n "$DRY" ] || echo "$*" >>"$dir/summary.txt"; }

# step NAME LIMIT CMD...: run CMD under timeout LIMIT seconds, its evidence
# in NN-NAME.txt, its output in $work/out. Returns CMD's exit code, or 1
# when $check, a function given the output, fails (it prints why). While
# $blocked is set, the step is skipped instead (and returns 1).
step() {
	name=$1 limit=$2 this_check=$check
	shift 2
	check=""
	n=$((n + 1))
	id=$(printf '%02d-%s' "$n" "$name")
	if [ -n "$DRY" ]; then
		printf '%s (timeout %ss):\n    %s\n' "$id" "$limit" "$(quote "$@")"
		return 0
	fi
	if [ -n "$blocked" ]; then
		echo "$id ... skipped: $blocked"
		summary "$id: skipped: $blocked"
		return 1
	fi
	file="$dir/$id.txt"
	start=$(date +%s)
	printf 'step: %s\ncommand: %s\ntimeout: %ss\nstart: %s\n--- output\n' "$id" "$(quote "$@" | redact)" "$limit" "$(now)" >"$file"
	printf '%s ... ' "$id"
	status=0
	# In the background, so that Ctrl-C is handled at once, not after it.
	timeout -k 10 "$limit" "$@" </dev/null >"$work/out" 2>&1 &
	child=$!
	wait "$child" || status=$?
	child=""
	redact <"$work/out" >>"$file"
	result=ok
	if [ "$status" -ne 0 ]; then
		result="FAILED (exit code $status)"
		# 124 or 137 (killed) from timeout itself, not from the command
		case "$status" in 124 | 137) [ $(($(date +%s) - start)) -lt "$limit" ] || result="FAILED (timed out after ${limit}s)" ;; esac
	elif [ -n "$this_check" ] && ! checked=$($this_check <"$work/out"); then
		status=1 result="FAILED ($checked)"
	fi
	[ "$status" -eq 0 ] || failed="$failed $id"
	printf -- '--- end\nend: %s\nexit code: %s\nresult: %s\n' "$(now)" "$status" "$result" >>"$file"
	echo "$result ($(($(date +%s) - start))s)"
	[ "$status" -eq 0 ] || tail -n 5 "$work/out" | redact | sed 's/^/    /'
	summary "$id: $result"
	return "$status"
}

cleanup() {
	blocked=""
	# The test object goes whatever happened before: even after a failure,
	# a timeout or Ctrl-C.
	step remove-test-object "$STEP_TIMEOUT" $OFFSITE canary remove --bucket "$VALIDATE_BUCKET" --key "$key" || true
	[ -z "$work" ] || rm -rf "$work"
	if [ -n "$DRY" ]; then
		echo "(dry run: nothing was run; a run writes its evidence under $EVIDENCE/<date>/)"
	elif [ -z "$failed" ]; then
		summary "end: $(now)"
		summary "validate: ok"
		echo "validate: ok; evidence in $dir"
	else
		summary "end: $(now)"
		summary "validate: FAILED:$failed"
		echo "validate: FAILED:$failed; evidence in $dir" >&2
	fi
}
on_exit() {
	rc=$1
	trap - EXIT INT TERM HUP
	[ "$rc" -eq 0 ] || [ -n "$failed" ] || failed=" validate.sh(exit code $rc)"
	cleanup
	[ -z "$failed" ] || exit 1
	exit 0
}
on_signal() {
	if [ -n "$child" ]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
		printf -- '--- end\nend: %s\nresult: interrupted\n' "$(now)" >>"$file"
		echo "interrupted"
		summary "$id: interrupted"
	fi
	failed="$failed ${id:-}(interrupted)"
	exit 1
}
trap 'on_exit $?' EXIT
trap on_signal INT TERM HUP

if [ -n "$DRY" ]; then
	echo "make validate would run (test object $VALIDATE_BUCKET/$key, job $NAMESPACE/$job):"
else
	printf 'run: %s\nstart: %s\nnode: %s\ntest object: %s/%s\nmirror job: %s/%s\n' \
		"$run_id" "$(now)" "$NODE" "$VALIDATE_BUCKET" "$key" "$NAMESPACE" "$job" >"$dir/summary.txt"
fi

# RGW: a test object goes through a mirror Job made from the CronJob.
step put-test-object "$STEP_TIMEOUT" $OFFSITE canary put --bucket "$VALIDATE_BUCKET" --key "$key" ||
	blocked="${blocked:-$id failed}"
step mirror-job-create "$STEP_TIMEOUT" $KUBECTL -n "$NAMESPACE" create job --from=cronjob/"$CRONJOB" "$job" ||
	blocked="${blocked:-$id failed}"
created=$blocked
step mirror-job-wait "$MIRROR_TIMEOUT" sh "$0" wait-job "$job" || blocked="${blocked:-$id failed}"
waited=$blocked
blocked=$created # the job's log is evidence whether it completed or not
step mirror-job-log "$STEP_TIMEOUT" $KUBECTL -n "$NAMESPACE" logs "job/$job" --tail=200 || true
blocked=$waited
step mirror-check-object "$STEP_TIMEOUT" $OFFSITE canary check --bucket "$VALIDATE_BUCKET" --key "$key" || true

# etcd: on NODE, the offload unit ships the newest local snapshot.
blocked=""
host=${ETCD_HOST:-"<hostname of $NODE>"}
if [ -z "$ETCD_HOST" ]; then
	last_line() { grep . | tail -n 1 | grep . || { echo "no output"; return 1; }; }
	check=last_line
	step node-hostname "$STEP_TIMEOUT" $SSH "$NODE" hostname -s || blocked="${blocked:-$id failed}"
	[ -n "$DRY" ] || [ -n "$blocked" ] || host=$checked
fi
# the newest snapshot in a listing, newest first (what offload ignores left out)
newest_snapshot() {
	grep -v -e '^\.' -e '\.part$' -e '\.tmp$' | head -n 1 | grep . || { echo "no snapshot in $SNAPSHOT_DIR"; return 1; }
}
check=newest_snapshot
step etcd-list-snapshots "$STEP_TIMEOUT" $SSH "$NODE" sudo -n ls -1t "$SNAPSHOT_DIR" || blocked="${blocked:-$id failed}"
newest="<newest snapshot>"
if [ -z "$DRY" ] && [ -z "$blocked" ]; then
	newest=$checked
	echo "    newest snapshot: $newest"
fi
step etcd-offload "$STEP_TIMEOUT" $SSH "$NODE" sudo -n systemctl start "$UNIT.service" || offloaded="$id failed"
step etcd-offload-journal "$STEP_TIMEOUT" $SSH "$NODE" sudo -n journalctl -u "$UNIT.service" -n 50 --no-pager || true
blocked=${blocked:-${offloaded:-}}
# fetch checks the snapshot against its .sha256 sidecar (and, when it is
# raw, etcd's own trailer): both are in MinIO under <bucket>/<host>/.
step etcd-check-snapshot "$STEP_TIMEOUT" $OFFSITE offload fetch --host "$host" --name "$newest" --to "${work:-<temp dir>}" || true

blocked=""
step verify-rgw "$STEP_TIMEOUT" $OFFSITE verify rgw || true
step verify-etcd "$STEP_TIMEOUT" $OFFSITE verify etcd --all-hosts || true
# on_exit removes the test object and writes the summary
