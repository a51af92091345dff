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
  bpfcc-tools python3-bpfcc              # bcc's Python tools (/usr/sbin/*-bpfcc)
  linux-headers-amd64                    # the kernel headers bcc compiles its programs against
  systemtap-sdt-dev                      # <sys/sdt.h> for the USDT example
  postgresql                             # a server with USDT probes for dbslower/dbstat (bcc-postgres test)
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

# bcc compiles its programs against /lib/modules/$(uname -r)/{build,source}. The running kernel
# may have no headers packaged; Debian's linux-headers-amd64 (an older kernel's) serve, since
# uprobe, USDT and syscall tracepoint programs use only stable uapi and pt_regs layouts. Linked
# only where the running kernel has none (a dangling link counts as none).
link_kernel_headers() {
  local mods="/lib/modules/$(uname -r)" arch common
  arch=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$arch" ]; then
    echo "setup: no /usr/src/linux-headers-*-amd64: bcc tools cannot compile (their tests will be skipped)" >&2
    return 0
  fi
  common="${arch%-amd64}-common"
  if ! mkdir -p "$mods" 2>/dev/null; then
    echo "setup: cannot create $mods: bcc tools cannot compile (their tests will be skipped)" >&2
    return 0
  fi
  if [ ! -e "$mods/build" ]; then
    ln -sfn "$arch" "$mods/build" && echo "setup: linked $mods/build -> $arch" >&2 || true
  fi
  if [ ! -e "$mods/source" ] && [ -d "$common" ]; then
    ln -sfn "$common" "$mods/source" && echo "setup: linked $mods/source -> $common" >&2 || true
  fi
}
if [ "$(id -u)" -eq 0 ]; then
  link_kernel_headers
elif [ ! -e "/lib/modules/$(uname -r)/build" ]; then
  echo "setup: /lib/modules/$(uname -r)/build is missing: run this script as root to link kernel headers for bcc" >&2
fi

# The kernel side of differential tests and benchmarks needs tracefs; bpftime itself does not.
if [ "$(id -u)" -eq 0 ] && [ -d /sys/kernel/tracing ] && ! mountpoint -q /sys/kernel/tracing; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: could not mount tracefs (kernel comparisons will be skipped)" >&2
fi
echo "setup: system packages ready" >&2
