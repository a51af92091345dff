# bcc's legacy uprobe path, the one it takes when the uprobe PMU refuses a probe: libbcc writes
# "p:uprobes/NAME PATH:0xOFF" (or "r:") to uprobe_events, reads events/uprobes/NAME/id, opens a
# PERF_TYPE_TRACEPOINT perf event with that id, sets the program on it, and at detach writes
# "-:uprobes/NAME". bcc 0.26's Python passes an unset ref_ctr_offset to the C library; this script
# passes an odd one, which the kernel (and the shim) refuse for PMU probes (EINVAL), so libbcc
# falls back to the legacy path deterministically. test/e2e/uprobe-events.test.ts runs it against
# the kernel and under the shim.
#   bcc_legacy_uprobe.py VICTIM PID      then one stdin line ("count") after "attached"
import ctypes as ct
import errno
import os
import sys

import bcc
from bcc import BPF
from bcc.libbcc import lib

victim, pid = sys.argv[1].encode(), int(sys.argv[2])
tracefs = '/sys/kernel/debug/tracing' if os.path.isdir('/sys/kernel/debug/tracing/events') else '/sys/kernel/tracing'

attach = lib.bpf_attach_uprobe
attach.argtypes = [ct.c_int, ct.c_int, ct.c_char_p, ct.c_char_p, ct.c_ulonglong, ct.c_int, ct.c_uint32]


class OddRefCtr:
    """libbcc as bcc's Python sees it, but bpf_attach_uprobe gets an odd ref_ctr_offset."""

    def __getattr__(self, name):
        return getattr(lib, name)

    @staticmethod
    def bpf_attach_uprobe(*args):
        return attach(*args, 1)


bcc.lib = OddRefCtr()

b = BPF(text=r'''
#include <uapi/linux/ptrace.h>
BPF_ARRAY(stats, u64, 3);
int on_entry(struct pt_regs *ctx) { stats.atomic_increment(0); return 0; }
int on_return(struct pt_regs *ctx) {
    stats.atomic_increment(1);
    stats.atomic_increment(2, PT_REGS_RC(ctx));
    return 0;
}
''')
b.attach_uprobe(name=victim, sym=b'bcc_add', fn_name=b'on_entry', pid=pid)
b.attach_uretprobe(name=victim, sym=b'bcc_add', fn_name=b'on_return', pid=pid)


def norm(s):
    s = s.replace(f'/proc/{pid}/', '/proc/PID/').replace(f'_{os.getpid()}', '_TOOLPID').replace(f'_{pid}', '_PID')
    return s.replace(victim.decode(), 'VICTIM')


def events():
    return [l for l in open(tracefs + '/uprobe_events').read().split('\n') if f'_bcc_{os.getpid()}' in l]


mine = events()
for line in mine:
    print('event:', norm(line))
    name = line.split()[0].split('/', 1)[1]
    fmt = open(f'{tracefs}/events/uprobes/{name}/format').read()
    ev_id = int(open(f'{tracefs}/events/uprobes/{name}/id').read())
    print('format:', norm(fmt.replace(f'ID: {ev_id}\n', 'ID: N\n')).split('\n'))
    fd = os.open(tracefs + '/uprobe_events', os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, f'-:uprobes/{name}'.encode())
        print('removed while in use?!')
    except OSError as e:
        print('removal while in use:', errno.errorcode[e.errno])
    os.close(fd)
print('attached', flush=True)
sys.stdin.readline()
stats = b['stats']
print('entries', stats[0].value, 'returns', stats[1].value, 'sum', stats[2].value)
b.detach_uprobe(name=victim, sym=b'bcc_add', pid=pid)
b.detach_uretprobe(name=victim, sym=b'bcc_add', pid=pid)
print('after detach:', events(), flush=True)
