# Fetch arguments in <tracefs>/uprobe_events: writes probes with every kind of argument (registers,
# memory at an address or a file offset, dereferences, the stack, $comm, $retval, immediates,
# each type, bitfields, arrays, names) and bad ones, printing what each write() answers, the
# uprobe_events listing and each event's format file. test/e2e/uprobe-events.test.ts runs it on
# the real tracefs and under the shim and compares the transcripts. Every event is made in
# group PREFIX and removed again.
#   uprobe_events_args.py TRACEFS BINARY PREFIX
import sys

root, V, G = sys.argv[1], sys.argv[2], sys.argv[3]


def w(s):
    import os
    fd = os.open(root + '/uprobe_events', os.O_WRONLY | os.O_APPEND)
    try:
        print(f'{s!r} -> {os.write(fd, s.encode()) > 0}')
    except OSError as e:
        print(f'{s!r} -> errno {e.errno}')
    os.close(fd)


def deref(n, inner='%di'):
    for _ in range(n):
        inner = f'+0({inner})'
    return inner


good = [
    'arg1=%di:u64', '%di %si:s32 x=%ax:x16 c=%cx:char', 's=+0(%di):string u=+8(%si):ustring',
    r'm=@+0x10:u32 a=@0x1000:u8 st=$stack st0=$stack0 cm=$comm cm2=$COMM', r'imm=\1234 ims=\"abc":string',
    'bf=%di:b4@2/32', 'arr=+0(%di):u8[4]', '%ip %sp %flags %r8 %r15 %bp %orig_ax %cs %ss',
    'a=+0(%di):x8[3] b=+0(%di):s16[2] c=+0(%di):char[2] d=+0(%di):string[2] e=%di:b3@4/8 f=+0(%di):x64[1]',
    'a=%di:s8 b=%di:s16 c=%di:s64 d=%di:x32 e=%di:u8 f=%di:u16 g=%di:u32 h=%di:x8',
    'a=+0(%di):u8[64]', r'a=$stack100 b=$stack4096', r'a=\-5 b=\0x10 c=\010 d=\0xffffffffffffffff', r'a=\"x"',
    'a=@+0x10:string a2=@0x10:string[2]', r'a=+0(@0x10):u8 b=+4($stack):u16 c=+0($stack2)', 'A_b9=%di',
    'a=+0(%di):ustring[2]', 'a=+0x10(%di):u32 b=-0x10(%di) c=+0x7fffffffffffffff(%di)', '%di %di',
    'a=+0(%di):b4@2/32 b=%di:b4@2/16 c=%di:b1@0/64', 'a' * 32 + '=%di', r'a=\1:string b=\1:ustring c=\1:string[2]',
    r'a=\1:char b=\1:b1@0/8 c=@0x10:ustring', 'a=' + deref(14), 'a=' + deref(13) + ':u8[2]',
    'a=+' + '0' * 56 + '(%di)', '%di ' * 128,
]
bad = [
    'x=%rdi', 'x=$retval', 'x=%di:u128', '1x=%di', 'x=%di x=%si', 'sym=%di:symbol', 'x=+0u(%di)', 'x=%di:string',
    'a=$arg1', 'a=+0(%di):u8[65]', 'a=%fs', 'a=@-0x10', 'c=+(%di)', 'c=0(%di)', 'a=', '=%di', 'common_pid=%di',
    '__probe_ip=%di', 'a=%di:b0@0/8', 'a=%di:b9@0/8', 'a=%di:b4@29/32', 'a="x":string', r'a=$comm:u32',
    'a=%di:symstr', 'a=%DI', 'a=%di:U32', r'a=\"x":ustring', 'a' * 64 + '=%di', 'a=%di:x64[2]', r'a=$stack:string',
    r'a=$stack0:u8[2]', r'a=\"x":string[1]', 'arg2=%di %di', 'a=%di:', 'a=%di:u8[0]', 'a=%di:string:u8',
    r'a=$comm:string[2]', r'a=$comm:ustring', 'a=' + deref(15), 'a=' + deref(16), 'a=' + deref(14) + ':string',
    'a=+' + '0' * 58 + '(%di)', 'a=+0xffffffffffffffff(%di)', '%di ' * 129, 'a=@sym', r'a=\1:u8[2]', r'a=\"x":u8', r'a=$comm:char', 'a=%di:ustring',
    r'a=\"x y"', 'a' * 33 + '=%di',
]
n = 0
for kind in ('p', 'r'):
    for args in good + bad + ([r'rv=$retval:s64 d=-8(%sp):x64 b=+0($retval):u8', r'c=$retval:string'] if kind == 'r' else []):
        n += 1
        w(f'{kind}:{G}/e{n} {V}:0x1234 {args}'.strip())
for l in open(root + '/uprobe_events').read().split('\n'):
    if l.startswith(('p:' + G + '/', 'r:' + G + '/')):
        name = l.split()[0].split('/')[1]
        print(l)
        text = open(f'{root}/events/{G}/{name}/format').read()
        print('\n'.join('ID: N' if x.startswith('ID: ') else x for x in text.split('\n')))
for i in range(1, n + 1):
    w(f'-:{G}/e{i}')
print('left:', [l for l in open(root + '/uprobe_events').read().split('\n') if f'{G}/' in l])
