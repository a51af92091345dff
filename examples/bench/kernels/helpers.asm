# Bench kernel: 1000 helper calls (bpf_ktime_get_ns, id 5), accumulating the low bits of the
# differences: the cost of the helper call path itself (the helper is a vDSO clock read).
# r1/r2 unused.
mov %r6, 1000
mov %r7, 0
call 5
mov %r8, %r0
loop:
call 5
mov %r1, %r0
sub %r1, %r8
mov %r8, %r0
and %r1, 1
add %r7, %r1
sub %r6, 1
jne %r6, 0, loop
mov %r0, 0
exit
