#!/bin/sh
# make validate: the deployment's final verification, one non-interactive
# run against the configured cluster and MinIO (docs/runbook.md, "Validate
# a deployment"). Each step runs under timeout and appends its record (the
# command, start and end (UTC), exit code and output, with the secret
# values of the environment redacted) to the evidence file of its scenario,
# named as the deployment plan names them, in $EVIDENCE:
#   phase4-rgw-secret-keys.txt        the mirror's Secrets hold the keys its CronJob reads (names only)
#   phase4-rgw-mirror-happy.txt       a test object goes through a mirror Job made from the CronJob
#   phase4-rgw-mirror-delete-safety.txt  the mirror's log and report state delete mode "after"
#   phase4-etcd-secrets-on-cp.txt     the node's secret files are there, mode 0400
#   phase4-etcd-offload-happy.txt     the node's newest snapshot reaches MinIO whole
#   phase4-etcd-offload-security.txt  systemd-analyze security of the unit, at most SECURITY_THRESHOLD
#   verify-and-status.txt             verify minio, rgw, etcd, and status
# and summary.txt. DRY=1 prints the steps and runs nothing. Exits 0 when
# every step passed, 1 when one failed (summary.txt names it), 2 on a
# missing or malformed setting.
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
ETCD_SECRET_FILES=${ETCD_SECRET_FILES:-/run/secrets/minio_etcd_access_key_id /run/secrets/minio_etcd_secret_access_key}
SECURITY_THRESHOLD=${SECURITY_THRESHOLD:-1.6}
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

# secret-keys: the keys of each Secret the CronJob's env reads, by name
# only (a go-template that ranges over the keys never prints a value), and
# whether every key the CronJob reads is there.
if [ "${1:-}" = secret-keys ]; then
	echo "+ $KUBECTL -n $NAMESPACE get cronjob/$CRONJOB -o jsonpath=<each env var read from a Secret>"
	refs=$(timeout -k 5 60 $KUBECTL -n "$NAMESPACE" get "cronjob/$CRONJOB" -o jsonpath='{range .spec.jobTemplate.spec.template.spec.containers[*].env[?(@.valueFrom.secretKeyRef)]}{.name}{" "}{.valueFrom.secretKeyRef.name}{" "}{.valueFrom.secretKeyRef.key}{"\n"}{end}') ||
		{ echo "kubectl get cronjob/$CRONJOB failed"; exit 1; }
	[ -n "$refs" ] || { echo "cronjob/$CRONJOB reads no Secret"; exit 1; }
	missing=0
	for secret in $(printf '%s\n' "$refs" | awk '{ print $2 }' | sort -u); do
		echo "+ $KUBECTL -n $NAMESPACE get secret/$secret -o go-template=<the key names>"
# shellcheck disable=SC2016 # a Go template, not the shell's
		keys=$(timeout -k 5 60 $KUBECTL -n "$NAMESPACE" get "secret/$secret" -o go-template='{{range $k, $v := .data}}{{$k}}{{"\n"}}{{end}}') ||
			{ echo "secret/$secret: cannot be read"; missing=1; continue; }
		echo "secret/$secret holds the keys:" $keys
		for ref in $(printf '%s\n' "$refs" | awk -v s="$secret" '$2 == s { print $1 "=" $3 }'); do
			if printf '%s\n' "$keys" | grep -qx "${ref#*=}"; then
				echo "  ok: ${ref%%=*} reads secret/$secret key ${ref#*=}"
			else
				echo "  MISSING: ${ref%%=*} reads secret/$secret key ${ref#*=}, which it does not hold"
				missing=1
			fi
		done
	done
	exit "$missing"
fi

# delete-mode JOB: the mirror Job's log line "mirror run finished" and the
# run report it printed must both state delete mode "after".
if [ "${1:-}" = delete-mode ]; then
	job=$2
	echo "+ $KUBECTL -n $NAMESPACE logs job/$job --tail=500"
	log=$(timeout -k 5 60 $KUBECTL -n "$NAMESPACE" logs "job/$job" --tail=500) || { echo "kubectl logs failed"; exit 1; }
	field() { printf '%s\n' "$1" | grep -o "\"$2\": *\"[^\"]*\"" | head -n 1 | sed 's/.*: *"\(.*\)"$/\1/'; }
	line=$(printf '%s\n' "$log" | grep '"mirror run finished"' | tail -n 1)
	report=$(printf '%s\n' "$log" | grep '"buckets":' | grep '"max_delete":' | tail -n 1)
	logged=$(field "$line" delete_mode)
	reported=$(field "$report" delete_mode)
	echo "the log's \"mirror run finished\": status $(field "$line" status), mode $(field "$line" mode), delete_mode $logged"
	echo "the run report: status $(field "$report" status), mode $(field "$report" mode), delete_mode $reported, max_delete $(field "$report" max_delete)"
	if [ "$logged" = after ] && [ "$reported" = after ]; then
		echo "ok: a sync deletes only after every transfer of its bucket succeeded, within max_delete"
		exit 0
	fi
	echo "the delete mode must be \"after\" in both (log: ${logged:-none}, report: ${reported:-none}; the report is printed with OFFSITE_LOG_FORMAT=json)"
	exit 1
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
case "$SECURITY_THRESHOLD" in
[0-9] | [0-9].[0-9] | 10 | 10.0) ;;
*) die "SECURITY_THRESHOLD=$SECURITY_THRESHOLD is not an exposure level from 0.0 to 10.0 (one decimal)" ;;
esac
[ -n "$ETCD_SECRET_FILES" ] || die "ETCD_SECRET_FILES is empty: name the node's secret files"

run_id="$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
key="offsite-validate/$run_id"
job="$CRONJOB-validate-$(date +%s)"
dir="$EVIDENCE"
work=""
if [ -z "$DRY" ]; then
	mkdir -p "$dir"
	if [ -e "$dir/summary.txt" ]; then
		# An earlier run keeps its evidence beside this one.
		old="$dir/earlier-$(sed -n 's/^run: //p' "$dir/summary.txt" | head -n 1)"
		mkdir -p "$old"
		mv "$dir"/*.txt "$old"/
	fi
	work=$(mktemp -d)
fi
set -f # the command variables are split into words, never globbed

# Secret values the environment holds: never written into the evidence.
secrets=""
for v in RGW_SECRET_ACCESS_KEY MINIO_SECRET_ACCESS_KEY MINIO_ETCD_SECRET_ACCESS_KEY OFFSITE_PING_URL OFFSITE_PUSHGATEWAY_URL; do
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

# step NAME LIMIT CMD...: run CMD under timeout LIMIT seconds, its record
# appended to $evidence.txt, its output in $work/out. Returns CMD's exit
# code, or 1 when $check, a function given the output, fails (it prints
# why). While $blocked is set, the step is skipped instead (and returns 1).
evidence=""
step() {
	name=$1 limit=$2 this_check=$check
	shift 2
	check=""
	n=$((n + 1))
	id=$(printf '%02d-%s' "$n" "$name")
	if [ -n "$DRY" ]; then
		printf '%s (timeout %ss, evidence %s.txt):\n    %s\n' "$id" "$limit" "$evidence" "$(quote "$@")"
		return 0
	fi
	file="$dir/$evidence.txt"
	if [ -n "$blocked" ]; then
		echo "$id ... skipped: $blocked"
		printf 'step: %s\nresult: skipped: %s\n\n' "$id" "$blocked" >>"$file"
		summary "$id: skipped: $blocked"
		return 1
	fi
	start=$(date +%s)
	printf 'step: %s\ncommand: %s\ntimeout: %ss\nstart: %s\n--- output\n' "$id" "$(quote "$@" | redact)" "$limit" "$(now)" >>"$file"
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
	printf -- '--- end\nend: %s\nexit code: %s\nresult: %s\n\n' "$(now)" "$status" "$result" >>"$file"
	echo "$result ($(($(date +%s) - start))s)"
	[ "$status" -eq 0 ] || tail -n 5 "$work/out" | redact | sed 's/^/    /'
	summary "$id: $result ($evidence.txt)"
	return "$status"
}

cleanup() {
	blocked=""
	# The test object goes whatever happened before: even after a failure,
	# a timeout or Ctrl-C.
	evidence=phase4-rgw-mirror-happy
	step remove-test-object "$STEP_TIMEOUT" $OFFSITE canary remove --bucket "$VALIDATE_BUCKET" --key "$key" || true
	[ -z "$work" ] || rm -rf "$work"
	if [ -n "$DRY" ]; then
		echo "(dry run: nothing was run; a run writes its evidence into $EVIDENCE/)"
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
		printf -- '--- end\nend: %s\nresult: interrupted\n\n' "$(now)" >>"$file"
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

# RGW: the Secrets the CronJob reads hold its keys.
evidence=phase4-rgw-secret-keys
step rgw-secret-keys "$STEP_TIMEOUT" sh "$0" secret-keys || true

# RGW: a test object goes through a mirror Job made from the CronJob.
evidence=phase4-rgw-mirror-happy
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
evidence=phase4-rgw-mirror-delete-safety
blocked=$created # a failed run states its delete mode too
step mirror-delete-mode "$STEP_TIMEOUT" sh "$0" delete-mode "$job" || true

# etcd: on NODE, the secrets are in place, and the offload unit ships the
# newest local snapshot.
blocked=""
evidence=phase4-etcd-secrets-on-cp
# every file is there (stat fails on a missing one) with mode 0400
mode_0400() {
	awk -F: -v want="$(printf '%s\n' $ETCD_SECRET_FILES | grep -c .)" '$1 != "400" { bad = bad " " $NF }
	END { if (bad != "" || NR != want) { printf "not mode 0400:%s", (bad == "" ? " a file is missing" : bad); exit 1 } }'
}
check=mode_0400
step etcd-secret-files "$STEP_TIMEOUT" $SSH "$NODE" sudo -n stat -c %a:%U:%G:%n $ETCD_SECRET_FILES || true
evidence=phase4-etcd-offload-happy
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
evidence=phase4-etcd-offload-security
# the overall exposure, at most the threshold (systemd-analyze fails above
# it too, and prints every setting it scored)
exposure() {
	awk -v max="$SECURITY_THRESHOLD" '/Overall exposure level/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) level = $i }
	END { if (level == "") { print "no overall exposure level"; exit 1 } if (level + 0 > max + 0) { printf "exposure %s is above %s", level, max; exit 1 } printf "exposure %s", level }'
}
check=exposure
step etcd-offload-security "$STEP_TIMEOUT" $SSH "$NODE" systemd-analyze security --no-pager \
	--threshold="$(echo "$SECURITY_THRESHOLD" | awk '{ printf "%d", $1 * 10 + 0.5 }')" "$UNIT.service" || true

# Both backups as a whole.
evidence=verify-and-status
step verify-minio "$STEP_TIMEOUT" $OFFSITE verify minio || true
step verify-rgw "$STEP_TIMEOUT" $OFFSITE verify rgw || true
step verify-etcd "$STEP_TIMEOUT" $OFFSITE verify etcd --all-hosts || true
step status "$STEP_TIMEOUT" $OFFSITE status || true
# on_exit removes the test object and writes the summary
