#!/usr/bin/env bash
# npm run bench [-- ARGS]: builds what the benchmarks run (examples, the
# TypeScript harness) when stale, then runs the figures. Arguments go to
# dist/scripts/bench/main.js (--iters, --iters-untraced, --reps, --settle-ms, --out).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/build-examples.sh

# Recompile the harness when any of its sources is newer than its output.
main=dist/scripts/bench/main.js
if [ ! -e "$main" ] || [ -n "$(find scripts/bench -name '*.ts' -newer "$main" -print -quit)" ]; then
	echo "bench: compiling TypeScript (tsc -p .)" >&2
	# Other modules' type errors must not stop the benchmarks: tsc still emits.
	npx --no-install tsc -p . >&2 || [ -e "$main" ] || { echo "bench: tsc produced no $main" >&2; exit 1; }
fi

# Every step inside has its own timeout; this is the backstop.
exec timeout -k 10 1800 node "$main" "$@"
