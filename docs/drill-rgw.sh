#!/bin/sh
# make drill-rgw: offsite drill rgw on one mirrored bucket, with the jobs'
# RGW_* and MINIO_* env vars: its mirror restored into a new scratch bucket
# on the RGW (offsite-drill-<UTC time>), compared object by object, timed
# with a projection for the whole mirror, then removed. Run by
# docs/runbook.mk; documented in docs/runbook.md.
#
# Variables (from make): OFFSITE, DRILL_BUCKET (required), DRILL_AT,
# DRILL_SAMPLE, STEP_TIMEOUT.
set -eu

OFFSITE=${OFFSITE:-offsite}
DRILL_BUCKET=${DRILL_BUCKET:-}
DRILL_AT=${DRILL_AT:-}
DRILL_SAMPLE=${DRILL_SAMPLE:-}
STEP_TIMEOUT=${STEP_TIMEOUT:-14400}

if [ -z "$DRILL_BUCKET" ]; then
	echo "drill-rgw: DRILL_BUCKET is not set: make drill-rgw DRILL_BUCKET=<a mirrored bucket>" >&2
	exit 2
fi

status=0
# -k: SIGTERM first, so the drill removes its scratch bucket; SIGKILL only
# if that takes more than 30 s.
timeout -k 30 "$STEP_TIMEOUT" "$OFFSITE" drill rgw --bucket "$DRILL_BUCKET" --progress never \
	${DRILL_AT:+"--at=$DRILL_AT"} ${DRILL_SAMPLE:+"--sample=$DRILL_SAMPLE"} || status=$?
case $status in
0) ;;
124 | 137) echo "drill-rgw: timed out after $STEP_TIMEOUT s (STEP_TIMEOUT)" >&2 ;;
*) echo "drill-rgw: the drill of $DRILL_BUCKET failed with exit code $status (see docs/runbook.md, Restore drill)" >&2 ;;
esac
exit "$status"
