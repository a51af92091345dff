#!/usr/bin/env bash
# The demo: stock eBPF tools run unmodified with their bpf() calls served in userspace, tracing
# processes started under the agent. No root and no kernel BPF are involved. The embedded server
# starts by itself on the first tool and exits when idle.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/build-examples.sh >/dev/null || exit 1
export BPFTIME_RUNTIME_DIR=${BPFTIME_RUNTIME_DIR:-$(mktemp -d /tmp/bpftime-demo-XXXXXX)}
BPFTIME=bin/bpftime # the sh launcher: start/load exec the command without Node's start-up
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# start_fed_victim OUT FEED CMD...: starts CMD under bpftime in the background, its stdin the
# shell snippet FEED's output (timed commands), its stdout in OUT; sets $victim and $pid.
start_fed_victim() {
  local out=$1 feed=$2
  shift 2
  $BPFTIME start "$@" < <(bash -c "$feed") > "$out" &
  victim=$!
  sleep 0.5
  pid=$(sed -n 's/^ready pid=//p' "$out")
}

# bpftrace_bg OUT REGEX ARGS...: bpftrace under bpftime in the background, its output in OUT, until
# OUT matches REGEX (what its BEGIN probe prints, which bpftrace reads in its event loop): only in
# that loop does Ctrl-C end bpftrace 0.17; a SIGINT that comes while it still attaches is lost
# (on a kernel too; the server's first start makes that phase longer here). Sets $bt.
bpftrace_bg() {
  local out=$1 re=$2
  shift 2
  $BPFTIME load bpftrace "$@" > "$out" 2>/dev/null &
  bt=$!
  for _ in $(seq 300); do
    grep -q "$re" "$out" 2>/dev/null && break
    sleep 0.1
  done
}

step "1. A libbpf uprobe tool counts a victim's malloc calls (examples/malloc)"
echo "\$ bpftime load examples/malloc/malloc -d 3   &&   bpftime start examples/malloc/victim --loop 2"
$BPFTIME load examples/malloc/malloc -d 3 &
tool=$!
sleep 1
$BPFTIME start examples/malloc/victim --loop 2 >/dev/null
wait $tool

step "2. Each malloc through a perf buffer (examples/perfbuf)"
start_fed_victim "$BPFTIME_RUNTIME_DIR/victim.out" 'sleep 3; echo 3; sleep 1; echo q' examples/malloc/victim
$BPFTIME load examples/perfbuf/perfbuf -p "$pid" -d 3
wait $victim 2>/dev/null

step "3. Each malloc through a BPF ring buffer (examples/ringbuf)"
$BPFTIME load examples/ringbuf/ringbuf -a -d 3 -q &
rb=$!
sleep 1
$BPFTIME start examples/malloc/victim --loop 1 >/dev/null
wait $rb

step "4. Error injection: bpf_override_return makes every 2nd reserve_slot() fail (examples/errinject)"
start_fed_victim "$BPFTIME_RUNTIME_DIR/errinject.out" 'sleep 2; echo 10; sleep 1' examples/errinject/victim
$BPFTIME load examples/errinject/errinject -b examples/errinject/victim -f reserve_slot -e -28 -n 2 -p "$pid" -d 3 >/dev/null &
ei=$!
wait $victim 2>/dev/null
grep '^done' "$BPFTIME_RUNTIME_DIR/errinject.out"
wait $ei 2>/dev/null

if command -v bpftrace >/dev/null; then
  step "5. bpftrace: a script file (examples/bpftrace/opens.bt) on a traced shell"
  bpftrace_bg "$BPFTIME_RUNTIME_DIR/opens.out" '^PID' examples/bpftrace/opens.bt
  $BPFTIME start /bin/sh -c 'cat /etc/hostname > /dev/null; cat /nonexistent 2>/dev/null; true'
  sleep 0.5
  kill -INT $bt 2>/dev/null; wait $bt 2>/dev/null
  cat "$BPFTIME_RUNTIME_DIR/opens.out"

  step "6. bpftrace: BEGIN/END and a uprobe with count() and hist()"
  bpftrace_bg "$BPFTIME_RUNTIME_DIR/malloc-bt.out" '^tracing mallocs' -e 'BEGIN { printf("tracing mallocs of victims, Ctrl-C to end\n"); } uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc /comm == "victim"/ { @calls = count(); @bytes = hist(arg0); } END { printf("bye\n"); }'
  $BPFTIME start examples/malloc/victim --loop 1 >/dev/null
  kill -INT $bt 2>/dev/null; wait $bt 2>/dev/null
  cat "$BPFTIME_RUNTIME_DIR/malloc-bt.out"
fi

if command -v bpftrace >/dev/null; then
  step "7. USDT with a semaphore: bpftrace on examples/usdt (the probe fires only while traced)"
  start_fed_victim "$BPFTIME_RUNTIME_DIR/usdt.out" 'echo 2; sleep 3; echo 3; sleep 1; echo q' examples/usdt/usdt_victim
  $BPFTIME load bpftrace -p "$pid" -e 'usdt:examples/usdt/usdt_victim:bpftime:request { printf("request %d %s\n", arg0, str(arg1)); }' 2>/dev/null &
  bt=$!
  wait $victim 2>/dev/null
  kill -INT $bt 2>/dev/null; wait $bt 2>/dev/null
  grep '^done' "$BPFTIME_RUNTIME_DIR/usdt.out"
fi

if [ -x /usr/sbin/opensnoop ]; then
  step "8. Stock libbpf-tools opensnoop sees a traced shell's opens"
  # libbpf-tools want a terminal (script gives one); script ends when its command does, not at
  # the end of its input, so opensnoop gets its Ctrl-C (SIGINT) from timeout after 4 s.
  (sleep 5 | script -q -f -e -c "timeout --foreground -s INT 4 $BPFTIME load /usr/sbin/opensnoop" /dev/null) &
  os=$!
  sleep 2
  LC_ALL=C $BPFTIME start /bin/sh -c 'cat /etc/hostname > /dev/null; cat /nonexistent 2>/dev/null; true'
  wait $os 2>/dev/null
fi

step "Server status"
$BPFTIME status 2>/dev/null | head -5 || true
