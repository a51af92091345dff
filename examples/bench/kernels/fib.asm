# Bench kernel: fib(100000) mod 2^64, iteratively. Register moves, adds and one loop branch:
# the interpreter's dispatch cost at its purest. r1/r2 unused.
mov %r2, 0
mov %r3, 1
mov %r4, 100000
loop:
mov %r5, %r2
add %r5, %r3
mov %r2, %r3
mov %r3, %r5
sub %r4, 1
jne %r4, 0, loop
mov %r0, %r2
exit
