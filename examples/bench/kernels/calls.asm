# Bench kernel: 10000 bpf-to-bpf calls of a small function (frame set-up and tear-down on
# every call, the callee touches its own stack). r1/r2 unused.
mov %r6, 10000
mov %r7, 0
loop:
mov %r1, %r6
mov %r2, %r7
call local step
mov %r7, %r0
sub %r6, 1
jne %r6, 0, loop
mov %r0, %r7
exit
step:
stxdw [%r10-8], %r1
ldxdw %r0, [%r10-8]
mul %r0, 3
add %r0, %r2
exit
