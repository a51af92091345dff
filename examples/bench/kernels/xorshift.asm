# Bench kernel: 20000 steps of xorshift64, summing each value modulo a prime and a 32-bit
# signed division of it: shifts, xors, 64-bit urem and 32-bit sdiv (the JIT's guarded
# division paths, divisors in registers). r1/r2 unused.
lddw %r6, 0x9e3779b97f4a7c15
mov %r7, 0
mov %r8, 20000
mov %r9, 1000003
loop:
mov %r2, %r6
lsh %r2, 13
xor %r6, %r2
mov %r2, %r6
rsh %r2, 7
xor %r6, %r2
mov %r2, %r6
lsh %r2, 17
xor %r6, %r2
mov %r3, %r6
mod %r3, %r9
add %r7, %r3
mov %r3, %r6
sdiv32 %r3, %r9
add %r7, %r3
sub %r8, 1
jne %r8, 0, loop
mov %r0, %r7
exit
