# Writes to <tracefs>/uprobe_events as a tool would, printing what each write() answers and what
# the files then show. test/e2e/uprobe-events.test.ts runs it on the real tracefs and under the
# shim and compares the transcripts. Every event it makes it removes again; their names (and the
# binary's, which unnamed events are named after) start with PREFIX, so nothing else is touched.
#   uprobe_events_seq.py TRACEFS BINARY PREFIX
import os
import sys

root, V, P = sys.argv[1], sys.argv[2], sys.argv[3]
AUTO = os.path.basename(V)  # the test names the binary so that no '.', '-', '_' is in it


def w(s):
    fd = os.open(root + '/uprobe_events', os.O_WRONLY | os.O_APPEND)
    try:
        print(f'{s!r} -> {os.write(fd, s.encode())}')
    except OSError as e:
        print(f'{s!r} -> errno {e.errno}')
    os.close(fd)


def r(p):
    try:
        with open(root + '/' + p) as f:
            text = f.read()
    except OSError as e:
        print(p, '-> errno', e.errno)
        return
    if p.endswith('/format'):  # ids differ between kernels; the test checks them apart
        text = '\n'.join('ID: N' if l.startswith('ID: ') else l for l in text.split('\n'))
    print(p, '=', repr(text))


def ours(text):
    return [l for l in text.split('\n') if P in l]


cmds = [
    f'p:uprobes/{P}1 {V}:0x1234', f'p:uprobes/{P}1 {V}:0x1234', f'r:{P}2 {V}:4660', f'p {V}:0x1240',
    f'p:{P}grp/{P}3 {V}:0x1250(0x10)', f'x:{P}x {V}:0x10', f'p:{P}x /nonexistent-{P}:0x10', f'p:{P}x {V}',
    f'p:{P}x {V}:zz', f'p:{P}x /tmp:0x10', f'p:{P}4 {V}:0x99999999', f'-:{P}nosuch', '', '# comment',
    f'p:{P}a1 {V}:0x10\np:{P}a2 {V}:0x20\n', f'p:1{P} {V}:0x10', f'p:{P}g/ {V}:0x10', f'p: {V}:0x10',
    f'p:{P}x {V}:0x10(0x11)', f'p:{P}x {V}:-1', f'r5:{P}x {V}:0x10', f'p:{P}5  {V}:0x10  ',
    f'p:{P}6 {V}:0x10%return', f'p:{P}x {V}:0x10%return(0x20)', f'p:{P}x {V}:0x10(0x20)%return',
    f'p:{P}9 {V}:010', '-', '-:', f'p:{P}{"a" * 64} {V}:0x10',
    # more probes under one event name: appended when of the same kind with the same arguments
    f'p:uprobes/{P}1 {V}:0x1238', f'p:{P}1 {V}:0x1238', f'p:uprobes/{P}1 {V}:0x1240 x=%di',
    f'r:uprobes/{P}1 {V}:0x1244', f'p:{P}7 {V}:0x10 a=%di:u32', f'p:{P}7 {V}:0x18 a=%si:u32',
    f'p:{P}7 {V}:0x20 a=%si:u64', f'p:{P}7 {V}:0x28 b=%si:u32', f'p:{P}7 {V}:0x30(0x8) a=+0(%sp):u32',
]
for c in cmds:
    w(c)
print('uprobe_events:', ours(open(root + '/uprobe_events').read()))
for e in [f'uprobes/{P}1', f'uprobes/{P}2', f'{P}grp/{P}3', f'uprobes/{P}6', f'uprobes/{P}7']:
    for f in ['format', 'enable', 'filter']:
        r(f'events/{e}/{f}')
print('available_events:', ours(open(root + '/available_events').read()))
for c in [f'-:{P}1', f'-:uprobes/{P}1', f'-:{P}grp/{P}3', f'-:{P}g/p_{AUTO}_0x10', f'-:p_{AUTO}_0x10']:
    w(c)
print('uprobe_events:', ours(open(root + '/uprobe_events').read()))
for c in [f'{P}2', f'p_{AUTO}_0x1240', f'{P}4', f'{P}a1', f'{P}a2', f'{P}5', f'{P}6', f'{P}9', f'{P}7']:
    w('-:' + c)
print('uprobe_events:', ours(open(root + '/uprobe_events').read()))
