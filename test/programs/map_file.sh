#!/bin/sh
# Pins the maps of map_file.bpf.o with stock bpftool, fills some elements and reads each pin as a
# file with cat, printing what cat prints (or its error) per map: test/e2e/bpffs-map-read.test.ts
# runs it on a private bpf mount of the kernel and under the shim and compares.
# usage: map_file.sh OBJECT DIRECTORY-ON-A-BPF-FILESYSTEM
obj=$1
d=$2/map_file_$$
mkdir -p "$d" || exit 1
bpftool prog loadall "$obj" "$d/progs" pinmaps "$d/maps" || exit 1
m=$d/maps
# struct val: a, name[8], (pad), c, in[2] {s, u8, (pad), c}, sc, (pad), l
bpftool map update pinned $m/h key 1 0 0 0 value 5 0 0 0 0x41 0x42 0 0 0 0 0 0 0 0 0 0 7 0 0 0 0 0 0 0 0xff 0xff 9 0 2 0 0 0 1 0 0 0 0 0 0 0 0x80 0 0 0 0 0 0 0 0xfe 0xff 0xff 0xff 0xff 0xff 0xff 0xff
bpftool map update pinned $m/h key 0xfe 0xff 0xff 0xff value 0xfb 0xff 0xff 0xff 0x41 0x7f 0x09 0x44 0x45 0x46 0x47 0x48 0 0 0 0 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 1 0 0 0 0xfd 0xff 0xff 0xff 2 0 0 0 7 0 0 0 0x7f 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
bpftool map update pinned $m/arr key 1 0 0 0 value 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff
bpftool map update pinned $m/arr key 2 0 0 0 value 0 0 0 0 0 0 0 0x80
bpftool map update pinned $m/pca key 1 0 0 0 value 3 0 0 0
bpftool map update pinned $m/pch key 1 0 2 0 3 0 0 0 value 0xff 0xff
bpftool map update pinned $m/lru key 9 0 0 0 0 0 0 0 value 0xfd 0xff 0xff 0xff
bpftool map update pinned $m/lru key 10 0 0 0 0 0 0 0 value 9 0 0 0
# struct outer: i {s, u8, (pad), c}, x, u {y | z[4]}
bpftool map update pinned $m/ns key 0 0 0 0 value 3 0 4 0 1 0 0 0 0xf6 0xff 0xff 0xff 0x41 0x42 0x43 0
# struct odd: bf {a:3 b:5 c:4 d:9} (pad), p, f (pad), d, s128, u128, flag, tail[3] (pad), ip, ptrs[2]
bpftool map update pinned $m/odd key 1 0 0 0 value 0x8d 0x0d 0x2c 0x01 0 0 0 0 0x88 0x77 0x66 0x55 0x44 0x33 0x22 0x11 0 0 0xc0 0x3f 0 0 0 0 0 0 0 0 0 0 0x02 0xc0 \
	0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 0xff 5 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 \
	1 0x78 0x79 0 0 0 0 0 0 0 0 0 0 0 0 0 0x10 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
for map in h arr pca pch lru ns odd q; do
	echo "== $map"
	# hash orders differ between implementations: the element lines sorted
	cat "$m/$map" 2>&1 | sed 's/^cat: .*: /cat: /' | { read -r a; read -r b; echo "$a"; echo "$b"; case $map in h|lru) sort;; *) cat;; esac; }
done
echo "== seek"
# a bpffs map file is a seq_file that does not seek (ESPIPE, on dups too), while pread reads
python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for whence in (0, 1, 2):
    try:
        print("lseek", whence, os.lseek(fd, 0, whence))
    except OSError as e:
        print("lseek", whence, "errno", e.errno)
print("pread", os.pread(fd, 9, 2))
try:
    os.lseek(os.dup(fd), 0, 0)
except OSError as e:
    print("lseek dup errno", e.errno)
print("read", len(os.read(fd, 20)))
print("mode", oct(os.fstat(fd).st_mode))
' "$m/arr"
echo "== prog"
cat "$d/progs/touch" 2>&1 | sed 's/^cat: .*: /cat: /'
rm -r "$d"
