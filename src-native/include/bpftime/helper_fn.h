/* The calling convention every eBPF helper and every JIT/interpreter call site share:
 * five 64-bit arguments (r1..r5), a 64-bit result in r0. */
#ifndef BPFTIME_HELPER_FN_H
#define BPFTIME_HELPER_FN_H
#include <stdint.h>
typedef uint64_t (*bpftime_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/* How the interpreter calls them: a sixth argument, the hidden tail-call count that helpers
 * calling back take (NULL from the interpreter; the others ignore it). */
typedef uint64_t (*bpftime_helper_fn6)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, void *count);
#endif
