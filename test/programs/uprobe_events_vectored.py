#!/usr/bin/env python3
# writev, pwrite, pwritev and pwritev2 on <tracefs>/uprobe_events, each step one line:
# test/e2e/served-writes.test.ts runs it on the kernel and under the shim and requires the same
# transcript. The kernel calls the file's write handler once per writev segment and stops at the
# first failure (bytes already written win); the file is a seq_file, so a positioned write is
# ESPIPE, while offset -1 means "at the current position", a plain writev.
#
# usage: uprobe_events_vectored.py TRACEFS BINARY PREFIX
import errno
import os
import sys

tracefs, binary, prefix = sys.argv[1:4]
events = os.path.join(tracefs, 'uprobe_events')


def step(name, fn):
    try:
        print(f'{name}: {fn()}')
    except OSError as e:
        print(f'{name}: {errno.errorcode.get(e.errno, e.errno)}')


def line(s):
    return s.encode()


def ours():
    with open(events) as f:
        return [l for l in f.read().splitlines() if prefix in l]


fd = os.open(events, os.O_WRONLY | os.O_APPEND)
add = lambda n, off: line(f'p:{prefix}{n} {binary}:{off:#x}\n')
rm = lambda n: line(f'-:{prefix}{n}\n')
step('pwrite', lambda: os.pwrite(fd, add('a', 0x10), 0))
step('pwritev at 0', lambda: os.pwritev(fd, [add('a', 0x10)], 0))
step('pwritev at -1, a removal of nothing', lambda: os.pwritev(fd, [rm('none')], -1))
step('writev add and remove', lambda: os.writev(fd, [add('a', 0x10), rm('a')]))
step('listing after', ours)
step('writev add then a bad removal', lambda: os.writev(fd, [add('b', 0x20), rm('none')]))
step('writev a bad removal then an add', lambda: os.writev(fd, [rm('none'), add('c', 0x30)]))
step('writev with an empty segment', lambda: os.writev(fd, [b'', add('d', 0x40)]))
step('listing', ours)
if hasattr(os, 'pwritev2') or hasattr(os, 'pwritev'):
    step('pwritev at -1 removes', lambda: os.pwritev(fd, [rm('b'), rm('d')], -1))
step('write removes nothing more', lambda: os.write(fd, rm('b')))
step('listing at the end', ours)
os.close(fd)
