# Operator runbook targets, documented in docs/runbook.md. Included by the
# Makefile; also usable alone: make -f docs/runbook.mk mirror-now
#
# Every target is non-interactive: ssh runs in batch mode and sudo never
# prompts, so a missing key or sudo rule fails at once instead of hanging.

NAMESPACE     ?= applications
CRONJOB       ?= rgw-mirror
UNIT          ?= etcd-offload
NODE          ?=
KUBECTL       ?= kubectl
SSH           ?= ssh -o BatchMode=yes
OFFSITE       ?= offsite
# seconds to wait for the manual mirror Job to finish
MIRROR_TIMEOUT ?= 14400
# seconds a restarted offload watcher gets before its journal is shown:
# more than the 30 s quiet period, so new snapshots are uploaded by then
OFFLOAD_WAIT  ?= 45
JOURNAL_LINES ?= 50
# make validate: a mirrored RGW bucket for the test object, the node's
# prefix in the etcd bucket (default: its short hostname), where the
# snapshots are on it, its secret files (mode 0400), the highest exposure
# systemd-analyze security may give the unit, each step's timeout in
# seconds, and the directory the evidence files go into
VALIDATE_BUCKET ?=
ETCD_HOST     ?=
SNAPSHOT_DIR  ?= /var/lib/rancher/k3s/server/db/snapshots
ETCD_SECRET_FILES ?= /run/secrets/minio_etcd_access_key_id /run/secrets/minio_etcd_secret_access_key
SECURITY_THRESHOLD ?= 1.6
STEP_TIMEOUT  ?= 600
EVIDENCE      ?= evidence
# make drill-rgw: the mirrored bucket to restore, a time to restore as of
# (--at), and how many of its objects (--sample; empty: all)
DRILL_BUCKET  ?=
DRILL_AT      ?=
DRILL_SAMPLE  ?=
# the directory of this file, for validate.sh beside it
RUNBOOK_DIR   := $(dir $(lastword $(MAKEFILE_LIST)))

.PHONY: mirror-now offload-now verify verify-rgw verify-etcd verify-minio status validate validate-dry drill-rgw

## mirror-now: run the RGW mirror now (a Job from the CronJob), follow its log, exit with its exit code
mirror-now:
	@set -eu; \
	job="$(CRONJOB)-manual-$$(date +%s)"; \
	$(KUBECTL) -n $(NAMESPACE) create job --from=cronjob/$(CRONJOB) "$$job"; \
	echo "--- log of job/$$job (Ctrl-C stops following, not the job)"; \
	$(KUBECTL) -n $(NAMESPACE) logs -f "job/$$job" --pod-running-timeout=10m || true; \
	deadline=$$(( $$(date +%s) + $(MIRROR_TIMEOUT) )); \
	while :; do \
		state=" $$($(KUBECTL) -n $(NAMESPACE) get "job/$$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}') "; \
		case "$$state" in *" Complete "*|*" Failed "*) break ;; esac; \
		if [ "$$(date +%s)" -ge "$$deadline" ]; then \
			echo "job/$$job still running after $(MIRROR_TIMEOUT)s; watch it with: $(KUBECTL) -n $(NAMESPACE) get job/$$job" >&2; exit 1; \
		fi; \
		sleep 5; \
	done; \
	code=$$($(KUBECTL) -n $(NAMESPACE) get pods -l job-name="$$job" --sort-by=.metadata.creationTimestamp \
		-o jsonpath='{range .items[*]}{.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}' | tail -n 1); \
	case "$$state" in *" Complete "*) code=0 ;; esac; \
	echo "--- job/$$job finished ($$(echo $$state)), exit code $${code:-unknown} (see docs/runbook.md)"; \
	exit "$${code:-1}"

## offload-now: on NODE, run the etcd offload now (start a oneshot unit, or restart the watcher: it rescans), show its journal
offload-now:
	@if [ -z "$(NODE)" ]; then echo "NODE is not set: make offload-now NODE=<k3s server host>" >&2; exit 2; fi
	@set -eu; \
	unit="$(UNIT).service"; \
	type=$$($(SSH) $(NODE) systemctl show -p Type --value "$$unit"); \
	active=$$($(SSH) $(NODE) systemctl is-active "$$unit" || true); \
	if [ "$$type" = oneshot ]; then \
		echo "--- starting $$unit on $(NODE) and waiting for it"; \
		status=0; $(SSH) $(NODE) sudo -n systemctl start "$$unit" || status=$$?; \
		$(SSH) $(NODE) sudo -n journalctl -u "$$unit" -n $(JOURNAL_LINES) --no-pager; \
		code=$$($(SSH) $(NODE) systemctl show -p ExecMainStatus --value "$$unit"); \
		echo "--- $$unit exit code $${code:-unknown} (see docs/runbook.md)"; \
		if [ "$$status" -ne 0 ] && [ "$${code:-0}" -eq 0 ]; then code=$$status; fi; \
		exit "$${code:-0}"; \
	fi; \
	verb=start; if [ "$$active" = active ]; then verb=restart; fi; \
	echo "--- $$verb $$unit on $(NODE) (it scans the snapshot directory on start), then $(OFFLOAD_WAIT)s for uploads"; \
	$(SSH) $(NODE) sudo -n systemctl "$$verb" "$$unit"; \
	sleep $(OFFLOAD_WAIT); \
	$(SSH) $(NODE) sudo -n journalctl -u "$$unit" -n $(JOURNAL_LINES) --no-pager; \
	active=$$($(SSH) $(NODE) systemctl is-active "$$unit" || true); \
	echo "--- $$unit is $$active"; \
	[ "$$active" = active ]

## verify-rgw: check every RGW object is in the mirror and the last report is fresh (your RGW_* and MINIO_* env vars)
verify-rgw:
	$(OFFSITE) verify rgw

## verify-etcd: check every host's etcd snapshots are whole and the newest is fresh (your MINIO_* env vars)
verify-etcd:
	$(OFFSITE) verify etcd --all-hosts

## verify-minio: check both destination buckets exist, keep old versions, and expire them after the retention (your MINIO_* and MINIO_ETCD_* env vars)
verify-minio:
	$(OFFSITE) verify minio

## verify: the three checks; the exit code is the first failure's
verify:
	@status=0; \
	$(OFFSITE) verify rgw || status=$$?; \
	$(OFFSITE) verify etcd --all-hosts || { s=$$?; [ "$$status" -ne 0 ] || status=$$s; }; \
	$(OFFSITE) verify minio || { s=$$?; [ "$$status" -ne 0 ] || status=$$s; }; \
	exit $$status

## status: both backups on one screen from reports and listings (seconds): last mirror runs, newest snapshots, bucket protection, last checks
status:
	$(OFFSITE) status

## validate: the deployment's final check, the plan's evidence files in EVIDENCE/ (NODE=<host> VALIDATE_BUCKET=<mirrored bucket>)
validate:
	@NAMESPACE='$(NAMESPACE)' CRONJOB='$(CRONJOB)' UNIT='$(UNIT)' NODE='$(NODE)' KUBECTL='$(KUBECTL)' SSH='$(SSH)' \
	OFFSITE='$(OFFSITE)' MIRROR_TIMEOUT='$(MIRROR_TIMEOUT)' VALIDATE_BUCKET='$(VALIDATE_BUCKET)' ETCD_HOST='$(ETCD_HOST)' \
	SNAPSHOT_DIR='$(SNAPSHOT_DIR)' ETCD_SECRET_FILES='$(ETCD_SECRET_FILES)' SECURITY_THRESHOLD='$(SECURITY_THRESHOLD)' \
	STEP_TIMEOUT='$(STEP_TIMEOUT)' EVIDENCE='$(EVIDENCE)' DRY='$(DRY)' \
	sh $(RUNBOOK_DIR)validate.sh

## validate-dry: print the steps of validate, run nothing
validate-dry: DRY = 1
validate-dry: validate

## drill-rgw: restore DRILL_BUCKET into a scratch RGW bucket, compare it with the mirror, print the time and the projection for the whole mirror, remove it
drill-rgw:
	@OFFSITE='$(OFFSITE)' DRILL_BUCKET='$(DRILL_BUCKET)' DRILL_AT='$(DRILL_AT)' DRILL_SAMPLE='$(DRILL_SAMPLE)' STEP_TIMEOUT='$(MIRROR_TIMEOUT)' \
	sh $(RUNBOOK_DIR)drill-rgw.sh
