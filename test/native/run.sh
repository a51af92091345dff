#!/bin/sh
# Compiles and runs every test/native/*_test.c against all of src-native/core (the same C the
# shim, the agent and the addon link), one binary per test, and prints each test's result line
# (its last "N passed, M failed" line, else its last line). A test passes when it exits 0.
# A test that needs more than the core names it in one line of its source:
#   // native-test-extra: src-native/agent/attach/*.c src-native/agent/attach/*.S -lZydis
# (paths relative to the repository root, globs allowed, appended to the compile command).
# Usage: test/native/run.sh [name_test ...]   (default: all)
# Env: CC (gcc), CFLAGS (extra flags, e.g. -fsanitize=address), BPFTIME_NATIVE_TEST_DIR (output
# directory, default build/native-test).
set -u
cd "$(dirname "$0")/../.." || exit 1
cc=${CC:-gcc}
out=${BPFTIME_NATIVE_TEST_DIR:-build/native-test}
mkdir -p "$out" || exit 1
core_srcs=$(find src-native/core -name '*.c' | sort)

if [ $# -gt 0 ]; then
	tests=""
	for n in "$@"; do tests="$tests test/native/${n%.c}.c"; done
else
	tests=$(ls test/native/*_test.c 2>/dev/null)
fi

status=0
for t in $tests; do
	name=$(basename "$t" .c)
	extra=$(sed -n 's/^.*native-test-extra:[[:space:]]*//p' "$t" | head -n 1)
	# shellcheck disable=SC2086 # splitting/globbing of the source lists and CFLAGS is intended
	if ! $cc -std=gnu11 -D_GNU_SOURCE -DBPFTIME_FAULT_INJECTION -O2 -g -Wall -Wno-unused-parameter -Isrc-native/include \
		${CFLAGS:-} "$t" $core_srcs $extra -lpthread -ldl -lm -o "$out/$name" \
		2>"$out/$name.build.log"; then
		echo "$name: BUILD FAILED"
		cat "$out/$name.build.log"
		status=1
		continue
	fi
	"$out/$name" >"$out/$name.out" 2>&1
	rc=$?
	result=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$name.out" | tail -n 1)
	[ -n "$result" ] || result=$(tail -n 1 "$out/$name.out")
	if [ $rc -eq 0 ]; then
		echo "$name: $result"
	else
		echo "$name: FAILED (exit $rc): $result"
		cat "$out/$name.out"
		status=1
	fi
done
exit $status
