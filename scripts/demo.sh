#!/usr/bin/env bash
# The demo: a stock libbpf uprobe tool (examples/malloc) runs unmodified under the shim, on the
# embedded server it starts by itself; a victim runs under the agent and the tool prints its
# malloc counts. No root and no kernel BPF are involved.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/build-examples.sh >/dev/null
export BPFTIME_RUNTIME_DIR=${BPFTIME_RUNTIME_DIR:-$(mktemp -d /tmp/bpftime-demo-XXXXXX)}

echo "\$ bpftime load examples/malloc/malloc -d 4      # the tool, its bpf() calls served in userspace"
node bin/bpftime.js load examples/malloc/malloc -d 4 &
tool=$!
sleep 1.5
echo "\$ bpftime start examples/malloc/victim --loop 3  # the traced process"
node bin/bpftime.js start examples/malloc/victim --loop 3 >/dev/null &
victim=$!
wait $tool || true
kill $victim 2>/dev/null || true
wait $victim 2>/dev/null || true
echo
node bin/bpftime.js status 2>/dev/null | head -3 || true
