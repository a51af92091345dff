#!/usr/bin/env bash
# The test suite: native unit tests, then the TypeScript tests (unit, conformance, end-to-end
# with the example tools). Expects `npm install` to have built everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

bash scripts/build-examples.sh >/dev/null
npx tsc -p .

native_status=0
if [ -x test/native/run.sh ] || [ -f test/native/run.sh ]; then
  echo "== native tests"
  bash test/native/run.sh || native_status=$?
fi

echo "== TypeScript tests"
node --test --test-concurrency=1 $(find dist/test -name '*.test.js' | sort)
exit $native_status
