/* Helpers that call back into the program or leave it: bpf_tail_call, bpf_loop and
 * bpf_for_each_map_elem, with the kernel's semantics (kernel/bpf/bpf_iter.c, helpers.c,
 * arraymap.c, hashtab.c).
 *
 * A callback is what the program's BPF_PSEUDO_FUNC ld_imm64 loaded: an instruction index when
 * the program runs in the interpreter, the address of the JIT'ed function otherwise (see
 * BPFTIME_VM_CALLBACK_ADDR_MIN, vm.h).
 *
 * Tail calls in callbacks count towards the run's limit of 33 as in the kernel, whichever engine
 * runs them: the interpreter keeps the count in its execution record; JIT code passes the address
 * of its count (in the main function's frame) to the helpers that call back, as a hidden sixth
 * argument (x86 r9, which eBPF never uses; the interpreter passes NULL there), and the callback is
 * entered with that address in rax as a bpf-to-bpf call would pass it (bpftime_jit_call_callback,
 * jit_callbacks.c). A tail call in the callback then replaces the callback's frame and returns to
 * the helper, as in the kernel. */
#include <errno.h>
#include <string.h>

#include "bpftime/jit.h"
#include "bpftime/map.h"
#include "bpftime/prog_array.h"
#include "bpftime/vm.h"
#include "helpers_internal.h"

/* The kernel's BPF_MAX_LOOPS (include/linux/bpf.h, kernel-internal). */
#define MAX_LOOPS (1u << 23)
/* Largest key a map the kernel iterates can have (hash maps refuse key_size > MAX_BPF_STACK). */
#define MAX_KEY 512

/* The tail-call count of the JIT code that called the running find_vma / user_ringbuf_drain
 * (their implementations live elsewhere and take five arguments; the wrappers below set this
 * around them, saving the previous value, so a run nested by a signal handler keeps its own). */
static __thread uint32_t *t_tail_count;

/* -EINVAL unless fn is something run_callback may call: an instruction index (the interpreter
 * checks it against the running program), or the entry of a JIT'ed callback handed over by JIT
 * code (which always passes its tail-call count; an interpreted program holding a code address
 * is what the kernel's verifier refuses as a callback). Checked once per helper call: a number
 * that is neither must never become a native jump. */
static int callback_ok(uint64_t fn, const uint32_t *tail_count)
{
	if (fn < BPFTIME_VM_CALLBACK_ADDR_MIN)
		return 0;
	return tail_count && bpftime_jit_is_callback(fn) ? 0 : -EINVAL;
}

/* 0 and *ret, or the interpreter's error (the callback could not run: stop iterating). */
static int run_callback(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint32_t *tail_count,
			uint64_t *ret)
{
	if (fn >= BPFTIME_VM_CALLBACK_ADDR_MIN) {
		*ret = bpftime_jit_call_callback(fn, a1, a2, a3, a4, tail_count);
		return 0;
	}
	return bpftime_vm_call_subprog((uint32_t)fn, a1, a2, a3, a4, 0, ret);
}

/* Whether fn may be called back (for helpers that must refuse a bad one before any work). */
int bpftime_helper_callback_ok(uint64_t fn) { return callback_ok(fn, t_tail_count); }

/* For the other helpers that call back (bpf_find_vma, bpf_user_ringbuf_drain). */
int bpftime_helper_callback(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t *ret)
{
	uint32_t *count = t_tail_count;
	int rc = callback_ok(fn, count);
	return rc ? rc : run_callback(fn, a1, a2, a3, a4, count, ret);
}

/* Table entries of find_vma and user_ringbuf_drain: the five arguments and the hidden count. */
#define COUNTED_WRAPPER(name)                                                                                  \
	uint64_t bpftime_hc_##name(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, uint32_t *count) \
	{                                                                                                      \
		uint32_t *outer = t_tail_count;                                                                \
		t_tail_count = count;                                                                          \
		uint64_t rc = bpftime_h_##name(r1, r2, r3, r4, r5);                                            \
		t_tail_count = outer;                                                                          \
		return rc;                                                                                     \
	}
COUNTED_WRAPPER(find_vma)
COUNTED_WRAPPER(user_ringbuf_drain)

/* bpf_tail_call(ctx, map, index): for the interpreter (the JIT lowers tail calls itself, see
 * src-native/core/vm/tail.c). On success the interpreter continues in the target when this
 * returns; otherwise the program falls through with this value in r0. */
BPFTIME_HELPER(tail_call)
{
	const struct bpftime_tail_target *t;
	long rc = bpftime_tail_lookup((struct bpftime_map *)(uintptr_t)r2, r3, &t);
	if (rc)
		return (uint64_t)rc;
	return (uint64_t)(int64_t)bpftime_vm_tail_call(t->vm);
}

/* bpf_loop(nr_loops, callback_fn, callback_ctx, flags): callback(i, ctx) for i < nr_loops until
 * it returns non-zero; the number of calls made. */
BPFTIME_HELPER_COUNTED(loop)
{
	uint32_t nr_loops = (uint32_t)r1;
	uint64_t ret;

	if (r4 || callback_ok(r2, tail_count))
		return (uint64_t)-EINVAL;
	/* The kernel's verifier inlines bpf_loop when flags is 0, and the inlined loop answers
	 * -E2BIG as a 32-bit value (zero-extended): programs see exactly that. */
	if (nr_loops > MAX_LOOPS)
		return (uint32_t)-E2BIG;
	for (uint32_t i = 0; i < nr_loops; i++) {
		if (run_callback(r2, i, r3, 0, 0, tail_count, &ret))
			return i;
		if (ret)
			return (uint64_t)i + 1;
	}
	return nr_loops;
}

static long for_each_array(struct bpftime_map *m, uint64_t fn, uint64_t ctx, uint32_t *tail_count)
{
	uint32_t n = bpftime_map_get_spec(m)->max_entries, done = 0;
	uint64_t ret;

	for (uint32_t i = 0; i < n; i++) {
		uint32_t key = i;
		void *val = bpftime_map_lookup_elem(m, &key);
		if (!val)
			continue;
		done++;
		if (run_callback(fn, (uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)&key, (uint64_t)(uintptr_t)val, ctx, tail_count,
				 &ret) ||
		    ret)
			break;
	}
	return done;
}

/* Hash maps in get_next_key order (the kernel walks its buckets the same way). The next key is
 * taken before the callback runs, so a callback that deletes its element does not restart the
 * walk. The walk is no use of the elements: LRU maps evict as if it had not happened. */
static long for_each_hash(struct bpftime_map *m, uint64_t fn, uint64_t ctx, uint32_t *tail_count)
{
	uint32_t ks = bpftime_map_get_spec(m)->key_size;
	uint8_t key[MAX_KEY], next[MAX_KEY];
	long done = 0;
	uint64_t ret;

	if (ks > MAX_KEY)
		return -E2BIG;
	if (bpftime_map_sys_get_next_key(m, NULL, next))
		return 0;
	for (;;) {
		memcpy(key, next, ks);
		int more = bpftime_map_sys_get_next_key(m, key, next) == 0;
		void *val = bpftime_map_lookup_elem_noref(m, key);
		if (val) {
			done++;
			if (run_callback(fn, (uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)key, (uint64_t)(uintptr_t)val, ctx,
					 tail_count, &ret) ||
			    ret)
				break;
		}
		if (!more)
			break;
	}
	return done;
}

/* bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): callback(map, key, value, ctx)
 * for each element until it returns non-zero; the number of elements visited. */
BPFTIME_HELPER_COUNTED(for_each_map_elem)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;

	if (r4 || callback_ok(r2, tail_count))
		return (uint64_t)-EINVAL;
	switch (bpftime_map_get_spec(m)->map_type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
		return (uint64_t)for_each_array(m, r2, r3, tail_count);
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return (uint64_t)for_each_hash(m, r2, r3, tail_count);
	default:
		/* The kernel's verifier refuses other map types for this helper. */
		return (uint64_t)-EINVAL;
	}
}
