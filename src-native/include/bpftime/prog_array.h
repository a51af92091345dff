/* BPF_MAP_TYPE_PROG_ARRAY slots and the per-process table that turns the program id a slot
 * holds into something this process can run (bpf_tail_call).
 *
 * A prog array's shared region holds one u32 per slot: the global id of the program in it, 0
 * when empty. Only the syscall server writes slots (it resolves the tool's program fd and keeps
 * the program alive while a slot holds it); every process reads them. Each process that runs
 * programs publishes the programs it has made runnable (the agent: src-native/agent/progs.c,
 * pushed by the server for every program that sits in a prog array), and bpf_tail_call looks the
 * slot's id up there: one atomic load of the slot plus a probe of a lock-free table, no lock. */
#ifndef BPFTIME_PROG_ARRAY_H
#define BPFTIME_PROG_ARRAY_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_map;
struct bpftime_vm_prog;

/* The program id in slot `index` (0 = empty). 0, -E2BIG (index >= max_entries) or -EINVAL
 * (not a prog array). */
long bpftime_prog_array_slot(struct bpftime_map *m, uint64_t index, uint32_t *prog_id);

/* What a tail call into a program needs in this process: its instructions for the interpreter
 * and, when it was JIT-compiled, the entry of its code. */
struct bpftime_tail_target {
	const struct bpftime_vm_prog *vm;
	uint64_t (*jit)(uint64_t r1, uint64_t r2); /* NULL: interpreted */
};

/* Publishes program `id` as runnable in this process (the target must stay valid until the
 * program is withdrawn; agents never withdraw). 0, -EEXIST (already published: the first one
 * stays), -ENOSPC (table full: tail calls to it fall through), -EINVAL. Writers must be
 * serialised by the caller; readers never lock. */
int bpftime_tail_publish(uint32_t id, const struct bpftime_tail_target *t);
/* Withdraws program `id`: from now on tail calls do not find it (its entry answers NULL until a
 * program is published under the id again). A thread that already jumped into it runs on, so its
 * memory must stay valid as long as a thread may run it (agents keep programs for good and
 * withdraw one only when a new server reuses its id; the server's test runs fork). */
void bpftime_tail_unpublish(uint32_t id);
/* The published target of program `id`, or NULL. Lock-free. */
const struct bpftime_tail_target *bpftime_tail_find(uint32_t id);

/* What bpf_tail_call(ctx, map, index) finds: 0 and *out, or -ENOENT (index out of range, empty
 * slot, or a program this process was not given), -EINVAL (map is not a prog array). Both
 * engines answer with this value when the call falls through, so r0 agrees between them. */
long bpftime_tail_lookup(struct bpftime_map *map, uint64_t index, const struct bpftime_tail_target **out);

#ifdef __cplusplus
}
#endif
#endif
