/* bpf_tail_call: from a prog array slot to a program this process can run, for both engines.
 *
 * Programs are published by id into an open-addressing table whose entries are never removed
 * (a withdrawn program leaves its id behind with no target), so a lookup is a hash probe with
 * acquire loads and no lock: the hot path of a tail call is one load of the slot, one probe
 * here, and a jump.
 *
 * The JIT (src-ts/jit) lowers a tail call to a call of bpftime_jit_tail_resolve (address
 * patched in by the loader) and, when it answers with code, jumps there with the address of the
 * run's tail-call count in rax and r1 unchanged, keeping its frame: the target's "tail entry"
 * (BPFTIME_JIT_TAIL_ENTRY bytes into its code, past a frame set-up of the same shape) keeps that
 * address instead of starting a count of its own, so tail calls made after a bpf-to-bpf callee or
 * a callback was replaced still count for the whole run, as in the kernel. A target without JIT
 * code is run by bpftime_jit_tail_interp (called from the frame it replaces), in the interpreter
 * with the count carried over and written back. */
#include <errno.h>
#include <stdint.h>

#include "bpftime/jit.h"
#include "bpftime/prog_array.h"
#include "bpftime/vm.h"
#include "vm_internal.h"
#include "../maps/map_prog_array.h"

#define TAIL_TABLE_SIZE 8192u /* programs per process that can be tail-call targets */

struct tail_entry {
	uint32_t id; /* 0 = free; stored last, with release order */
	struct bpftime_tail_target target;
};

static struct tail_entry g_table[TAIL_TABLE_SIZE];

static inline uint32_t slot_of(uint32_t id) { return (id * 2654435761u) & (TAIL_TABLE_SIZE - 1); }

int bpftime_tail_publish(uint32_t id, const struct bpftime_tail_target *t)
{
	if (!id || !t || !t->vm)
		return -EINVAL;
	for (uint32_t n = 0, s = slot_of(id); n < TAIL_TABLE_SIZE; n++, s = (s + 1) & (TAIL_TABLE_SIZE - 1)) {
		uint32_t cur = __atomic_load_n(&g_table[s].id, __ATOMIC_ACQUIRE);
		if (cur == id) {
			if (__atomic_load_n(&g_table[s].target.vm, __ATOMIC_ACQUIRE))
				return -EEXIST;
			/* Withdrawn before (bpftime_tail_unpublish): this id's program again, or the
			 * program a new server gave the id. A reader may pair the new vm with the old
			 * jit for a moment: both stay runnable, and each engine uses only its own. */
			__atomic_store_n(&g_table[s].target.jit, t->jit, __ATOMIC_RELAXED);
			__atomic_store_n(&g_table[s].target.vm, t->vm, __ATOMIC_RELEASE);
			return 0;
		}
		if (cur)
			continue;
		g_table[s].target = *t;
		__atomic_store_n(&g_table[s].id, id, __ATOMIC_RELEASE);
		return 0;
	}
	return -ENOSPC;
}

void bpftime_tail_unpublish(uint32_t id)
{
	for (uint32_t n = 0, s = slot_of(id); id && n < TAIL_TABLE_SIZE; n++, s = (s + 1) & (TAIL_TABLE_SIZE - 1)) {
		uint32_t cur = __atomic_load_n(&g_table[s].id, __ATOMIC_ACQUIRE);
		if (!cur)
			return;
		if (cur == id) {
			__atomic_store_n(&g_table[s].target.vm, NULL, __ATOMIC_RELEASE);
			return;
		}
	}
}

static inline const struct bpftime_tail_target *find(uint32_t id)
{
	for (uint32_t n = 0, s = slot_of(id); n < TAIL_TABLE_SIZE; n++, s = (s + 1) & (TAIL_TABLE_SIZE - 1)) {
		uint32_t cur = __atomic_load_n(&g_table[s].id, __ATOMIC_ACQUIRE);
		if (cur == id)
			return __atomic_load_n(&g_table[s].target.vm, __ATOMIC_ACQUIRE) ? &g_table[s].target : NULL;
		if (!cur)
			return NULL;
	}
	return NULL;
}

const struct bpftime_tail_target *bpftime_tail_find(uint32_t id)
{
	return id ? find(id) : NULL;
}

/* Everything inline: this is the hot path of every tail call. */
static inline long lookup(struct bpftime_map *map, uint64_t index, const struct bpftime_tail_target **out)
{
	if (!map)
		return -EINVAL;
	/* The index is a u32 in the kernel (both its interpreter and its JITs drop the high half). */
	int64_t id = prog_array_slot_inline(map, (uint32_t)index);
	if (id <= 0)
		return id < 0 && map->spec.map_type != BPF_MAP_TYPE_PROG_ARRAY ? -EINVAL : -ENOENT;
	*out = find((uint32_t)id);
	return *out ? 0 : -ENOENT;
}

long bpftime_tail_lookup(struct bpftime_map *map, uint64_t index, const struct bpftime_tail_target **out)
{
	return lookup(map, index, out);
}

uint64_t bpftime_jit_tail_interp(uint64_t r1, const struct bpftime_vm_prog *next, uint32_t *tail_calls)
{
	uint64_t ret = 0;
	bpftime_vm_exec_tail_shared(next, r1, tail_calls, &ret);
	return ret;
}

_Static_assert(BPFTIME_JIT_TAIL_ENTRY % 2 == 0, "JIT tail entries must be even: bit 0 tags interpreted targets");

int64_t bpftime_jit_tail_resolve(uint64_t map, uint64_t index, uint64_t count)
{
	const struct bpftime_tail_target *t;
	long rc = lookup((struct bpftime_map *)(uintptr_t)map, index, &t);
	if (rc)
		return rc;
	if (count >= BPFTIME_VM_MAX_TAIL_CALLS)
		return -E2BIG;
	uint64_t (*jit)(uint64_t, uint64_t) = __atomic_load_n(&t->jit, __ATOMIC_RELAXED);
	if (jit)
		return (int64_t)((uintptr_t)jit + BPFTIME_JIT_TAIL_ENTRY);
	/* No JIT code: the caller goes to bpftime_jit_tail_interp with this program. Tagged in
	 * bit 0 (the struct is 8-aligned) and carried in registers, not in thread-local state, which
	 * a program run by a signal handler on this thread could overwrite in between. */
	return (int64_t)((uintptr_t)t->vm | 1);
}
