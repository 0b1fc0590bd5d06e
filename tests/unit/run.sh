#!/bin/sh
# run.sh - run every unit test binary given; fail if any fails.
fail=0
for t in "$@"; do
	if ! out=$("$t" 2>&1); then
		printf '%s\n' "$out"
		echo "FAIL: $t"
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "unit: $# test programs passed"
exit $fail
