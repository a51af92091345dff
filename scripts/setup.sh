#!/usr/bin/env bash
# Installs the system packages the build, the examples and the tests need (Debian 12), and
# mounts tracefs when possible so tests can compare with the real kernel. Idempotent: when
# everything is present it only checks and returns.
set -euo pipefail

PKGS=(
  build-essential python3 pkg-config     # node-gyp
  clang llvm                             # clang -target bpf for examples and test programs
  libbpf-dev libelf-dev zlib1g-dev       # libbpf for the example tools
  libzydis-dev                           # x86-64 decoder for inline uprobe trampolines
  linux-libc-dev                         # uapi headers: constants and layouts
  bpftool bpftrace libbpf-tools          # stock tools driven by the tests
  systemtap-sdt-dev                      # <sys/sdt.h> for the USDT example
  librsvg2-bin                           # rsvg-convert: the benchmark chart as PNG
  strace binutils util-linux procps      # tests: no bpf() reaches the kernel; script(1) for ptys
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} - run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kernel side of differential tests and benchmarks needs tracefs; bpftime itself does not.
if [ "$(id -u)" -eq 0 ] && [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: could not mount tracefs (kernel comparisons will be skipped)" >&2
fi
echo "setup: system packages ready" >&2
