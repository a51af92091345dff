#!/usr/bin/env bash
# Builds every example under examples/*/: BPF objects (*.bpf.c -> *.bpf.o),
# their bpftool skeletons (*.skel.h) and the user programs (*.c -> binary of
# the same name), next to the sources. Only stale outputs are rebuilt, so a
# second run is quick.
#
# Environment: CLANG, CC, BPFTOOL select the tools.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLANG=${CLANG:-clang}
CC=${CC:-cc}
BPFTOOL=${BPFTOOL:-bpftool}
# asm/ headers live in the multiarch directory; clang -target bpf does not
# look there by itself.
MULTIARCH=$("$CC" -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
BPF_CFLAGS=(-target bpf -O2 -g -Wall -D__TARGET_ARCH_x86 -I/usr/include -I"/usr/include/$MULTIARCH")
CFLAGS=(-O2 -g -Wall -I"$ROOT/examples/common")
LIBBPF=(-lbpf -lelf -lz)

need() { command -v "$1" >/dev/null || { echo "build-examples: '$1' not found ($2)" >&2; exit 1; }; }
need "$CLANG" "install clang"
need "$CC" "install a C compiler"
need "$BPFTOOL" "install bpftool"

# stale TARGET DEPS...: true when TARGET is missing or older than a dependency
# (this script counts as one: it holds the flags).
SELF=$ROOT/scripts/build-examples.sh
stale() {
	local target=$1 dep
	shift
	[ -e "$target" ] || return 0
	for dep in "$SELF" "$@"; do
		[ "$dep" -nt "$target" ] && return 0
	done
	return 1
}

run() { echo "  $*" >&2; "$@"; }

built=0
shopt -s nullglob
for dir in "$ROOT"/examples/*/; do
	dir=${dir%/}
	# Local headers, except the skeletons generated from this directory.
	hdrs=("$ROOT"/examples/common/*.h)
	for h in "$dir"/*.h; do
		[[ $h == *.skel.h ]] || hdrs+=("$h")
	done

	for src in "$dir"/*.bpf.c; do
		obj=${src%.c}.o
		base=$(basename "$src" .bpf.c)
		skel=$dir/$base.skel.h
		if stale "$obj" "$src" "${hdrs[@]}"; then
			run "$CLANG" "${BPF_CFLAGS[@]}" -c "$src" -o "$obj.tmp"
			mv "$obj.tmp" "$obj"
			built=1
		fi
		if stale "$skel" "$obj"; then
			echo "  $BPFTOOL gen skeleton $obj > $skel" >&2
			"$BPFTOOL" gen skeleton "$obj" name "${base}_bpf" >"$skel.tmp"
			mv "$skel.tmp" "$skel"
			built=1
		fi
	done

	for src in "$dir"/*.c; do
		[[ $src == *.bpf.c ]] && continue
		exe=${src%.c}
		deps=("$src" "${hdrs[@]}")
		libs=()
		# Programs that use a skeleton depend on it and link libbpf.
		for skel in "$dir"/*.skel.h; do
			if grep -q "$(basename "$skel")" "$src"; then
				deps+=("$skel")
				libs=("${LIBBPF[@]}")
			fi
		done
		if stale "$exe" "${deps[@]}"; then
			run "$CC" "${CFLAGS[@]}" -I"$dir" "$src" -o "$exe.tmp" "${libs[@]}"
			mv "$exe.tmp" "$exe"
			built=1
		fi
	done
done

[ "$built" = 1 ] || echo "build-examples: everything up to date" >&2
