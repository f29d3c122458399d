#!/usr/bin/env bash
# suite.sh ARGS...: go test -v ARGS into a log (TEST_LOG, default
# .cache/test.log); prints what a person reads (package results, and the
# lines before each failure), and fails when a secret the tests use
# (test-secrets.txt beside this script) appears anywhere in the output, or,
# with OFFSITE_TEST_REQUIRE_S3=1 (make test, CI), when any test skipped: the
# tests turn a missing server into a failure themselves, and this catches a
# skip that does not.
set -uo pipefail
log=${TEST_LOG:-.cache/test.log}
secrets=$(dirname "$0")/test-secrets.txt
mkdir -p "$(dirname "$log")"

go test -v "$@" >"$log" 2>&1
status=$?

if grep -q -- '--- FAIL' "$log"; then
	echo "--- failures (the 40 lines before each; the whole output is in $log):"
	grep -B40 -- '--- FAIL' "$log" | grep -vE '^=== (RUN|PAUSE|CONT|NAME)'
fi
grep -E '^(ok|FAIL|panic:)|^\?|^--- FAIL|^[a-z].*\[build failed\]' "$log"

if found=$(grep -v '^#' "$secrets" | grep -F -o -f - "$log" | sort | uniq -c) && [ -n "$found" ]; then
	echo "FAIL: a secret the tests use reached the test output (see $log):"
	echo "$found"
	status=1
fi
if [ "${OFFSITE_TEST_REQUIRE_S3:-}" = 1 ] && grep -q -- '--- SKIP' "$log"; then
	echo "FAIL: tests skipped where every test must run (OFFSITE_TEST_REQUIRE_S3=1):"
	grep -B1 -- '--- SKIP' "$log" | grep -vE '^(=== |--$)'
	status=1
fi
lines=$(wc -l <"$log")
echo "suite.sh: $lines lines of output checked for $(grep -vc '^#' "$secrets") test secrets"
exit $status
