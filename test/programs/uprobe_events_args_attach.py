# A BPF program at uprobe_events probes that have fetch arguments: the probes are written by hand
# ("p:GROUP/ent VICTIM:0xOFF n=%di:s32 m=%si:s32 who=$comm", a return probe with $retval), each
# event's id is read and opened as a PERF_TYPE_TRACEPOINT perf event of the victim (perf_event_open
# through libc's syscall(), PERF_EVENT_IOC_SET_BPF and ENABLE through ioctl), with bcc compiling
# the programs (kprobe type, as the kernel wants for uprobe events). The arguments shape the trace
# record only: the programs see the registers as at any uprobe. test/e2e/uprobe-events-args.test.ts
# runs it against the kernel and under the shim. A second probe at other_sub with the same arguments
# is appended to the entry event ("one event, several places"): the entry program runs at both.
#   uprobe_events_args_attach.py VICTIM PID GROUP     then one stdin line ("count") after "attached"
import ctypes as ct
import fcntl
import os
import sys

from bcc import BPF

victim, pid, group = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tracefs = '/sys/kernel/tracing' if os.path.isdir('/sys/kernel/tracing/events') else '/sys/kernel/debug/tracing'

b = BPF(text=r'''
#include <uapi/linux/ptrace.h>
BPF_ARRAY(stats, u64, 4);
int on_entry(struct pt_regs *ctx) {
    stats.atomic_increment(0);
    stats.atomic_increment(3, PT_REGS_PARM2(ctx));
    return 0;
}
int on_return(struct pt_regs *ctx) {
    stats.atomic_increment(1);
    stats.atomic_increment(2, PT_REGS_RC(ctx));
    return 0;
}
''')
_, offset = BPF._check_path_symbol(victim.encode(), b'bcc_add', 0, pid)
_, sub_offset = BPF._check_path_symbol(victim.encode(), b'other_sub', 0, pid)


def write(cmd):
    fd = os.open(tracefs + '/uprobe_events', os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, cmd.encode())
        return 'ok'
    except OSError as e:
        return f'errno {e.errno}'
    finally:
        os.close(fd)


libc = ct.CDLL(None, use_errno=True)
libc.syscall.restype = ct.c_long
PERF_TYPE_TRACEPOINT, NR_perf_event_open = 2, 298
PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF = 0x2400, 0x40042408


def open_event(name, fn):
    ev_id = int(open(f'{tracefs}/events/{group}/{name}/id').read())
    attr = (ct.c_uint8 * 128)()
    ct.c_uint32.from_buffer(attr, 0).value = PERF_TYPE_TRACEPOINT
    ct.c_uint32.from_buffer(attr, 4).value = 128
    ct.c_uint64.from_buffer(attr, 8).value = ev_id
    ct.c_uint64.from_buffer(attr, 16).value = 1  # sample_period
    fd = libc.syscall(NR_perf_event_open, attr, pid, -1, -1, 8)  # PERF_FLAG_FD_CLOEXEC
    if fd < 0:
        print(f'perf_event_open {name}: errno {ct.get_errno()}', flush=True)
        sys.exit(1)
    fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, b.load_func(fn, BPF.KPROBE).fd)
    fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    return fd


probes = [
    (f'p:{group}/ent {victim}:0x{offset:x} n=%di:s32 m=%si:s32 who=$comm', 'ent', b'on_entry'),
    (f'r:{group}/ret {victim}:0x{offset:x} rv=$retval:s32 sp=+0(%sp):x64', 'ret', b'on_return'),
]
fds = []
for cmd, name, fn in probes:
    print(cmd.replace(victim, 'VICTIM').replace(f'0x{offset:x}', 'OFF'), '->', write(cmd))
    if name == 'ent':  # appended before the event is opened: the perf event covers both places
        more = f'p:{group}/ent {victim}:0x{sub_offset:x} n=%di:s32 m=%si:s32 who=$comm'
        print(more.replace(victim, 'VICTIM').replace(f'0x{sub_offset:x}', 'SUBOFF'), '->', write(more))
    fds.append(open_event(name, fn))
print('listing:', [l.replace(victim, 'VICTIM').replace(f'{offset:016x}', 'OFF').replace(f'{sub_offset:016x}', 'SUBOFF') for l in open(tracefs + '/uprobe_events').read().split('\n') if f'{group}/' in l])
print('attached', flush=True)
sys.stdin.readline()
stats = b['stats']
print('entries', stats[0].value, 'returns', stats[1].value, 'sum', stats[2].value, 'second args', stats[3].value)
for fd in fds:
    os.close(fd)
for _, name, _ in probes:
    print('remove', name, '->', write(f'-:{group}/{name}'))
print('after detach:', [l for l in open(tracefs + '/uprobe_events').read().split('\n') if f'{group}/' in l], flush=True)
