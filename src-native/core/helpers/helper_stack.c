/* bpf_get_stackid and bpf_get_stack: the probed thread's user stack, collected as the kernel's
 * x86-64 perf_callchain_user does it, so a binary gives the same frames here as under the kernel:
 * the instruction pointer, the caller's return address at the stack pointer when a uprobe hit a
 * `push %rbp`/`endbr64` (the frame is not linked yet), then the return addresses of the
 * frame-pointer chain from rbp. Like the kernel, the walk trusts nothing and checks nothing but
 * readability: it stops at the first unreadable frame (binaries built without frame pointers
 * give short or stray stacks there too). Every read of the target's stack is fault-safe.
 *
 * There is no kernel stack in userspace: the probes here interrupt user code, whose kernel
 * callchain is empty on a kernel too (get_perf_callchain skips the kernel part for user-mode
 * registers), so a request without BPF_F_USER_STACK finds no frames: bpf_get_stackid answers
 * -EFAULT and bpf_get_stack 0 bytes, as the kernel does for a uprobe. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <asm/ptrace.h>

#include "bpftime/map.h"
#include "bpftime/stack_trace.h"
#include "helpers_internal.h"

#define USER_ADDR_END (1ull << 47) /* x86-64 user addresses with 4-level paging */
#define MAX_STACK_LIMIT 256u      /* frames buffered on the helper's stack (2 KiB; the sysctl is 127) */

uint32_t bpftime_user_stack(const void *regs_v, int at_frame_push, uint64_t *ips, uint32_t max)
{
	const struct pt_regs *regs = regs_v;
	uint32_t nr = 0;
	/* No user context (a timer tick outside any traced thread): the kernel's idle task has no
	 * user stack either. */
	if (!regs || !regs->rip || max == 0)
		return 0;
	ips[nr++] = regs->rip;
	if (at_frame_push && nr < max) {
		uint64_t ret;
		if (bpftime_copy_from_user(&ret, (const void *)(uintptr_t)regs->rsp, sizeof(ret)) == 0)
			ips[nr++] = ret;
	}
	uint64_t fp = regs->rbp;
	while (nr < max) {
		uint64_t frame[2]; /* saved rbp, return address */
		if (fp > USER_ADDR_END - sizeof(frame) ||
		    bpftime_copy_from_user(frame, (const void *)(uintptr_t)fp, sizeof(frame)) < 0)
			break;
		ips[nr++] = frame[1];
		fp = frame[0];
	}
	return nr;
}

/* The agent's probe engine, where there is one (weak: the shim and the addon have none). */
extern void bpftime_probe_fixup_user_stack(uint64_t *ips, uint32_t nr) __attribute__((weak));

/* The frames the kernel's get_perf_callchain would give for (user, max_depth). */
static uint32_t collect(int user, uint32_t max_depth, uint64_t *ips)
{
	if (!user)
		return 0;
	struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	if (!rc)
		return 0;
	uint32_t nr = bpftime_user_stack(rc->user_regs ? rc->user_regs : rc->regs, rc->at_frame_push, ips, max_depth);
	if (bpftime_probe_fixup_user_stack)
		bpftime_probe_fixup_user_stack(ips, nr);
	return nr;
}

static uint32_t limit_depth(uint64_t depth)
{
	uint32_t sys = bpftime_perf_event_max_stack();
	if (sys > MAX_STACK_LIMIT)
		sys = MAX_STACK_LIMIT;
	return depth > sys ? sys : (uint32_t)depth;
}

/* bpf_get_stackid(ctx, map, flags) -> stack id in the STACK_TRACE map, or -errno. */
BPFTIME_HELPER(get_stackid)
{
	struct bpftime_map *map = (struct bpftime_map *)(uintptr_t)r2;
	uint64_t flags = r3;
	if (flags & ~(uint64_t)(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP |
				BPF_F_REUSE_STACKID))
		return (uint64_t)-EINVAL;
	if (!map || bpftime_map_get_spec(map)->map_type != BPF_MAP_TYPE_STACK_TRACE)
		return (uint64_t)-EINVAL;
	uint32_t skip = (uint32_t)(flags & BPF_F_SKIP_FIELD_MASK);
	const struct bpftime_map_spec *spec = bpftime_map_get_spec(map);
	uint32_t frame = (spec->map_flags & BPF_F_STACK_BUILD_ID) ? sizeof(struct bpf_stack_build_id) : 8;
	uint32_t max_depth = limit_depth((uint64_t)spec->value_size / frame + skip);
	uint64_t ips[MAX_STACK_LIMIT];
	uint32_t nr = collect(!!(flags & BPF_F_USER_STACK), max_depth, ips);
	if (nr <= skip)
		return (uint64_t)-EFAULT; /* skipping more than the usable stack */
	return (uint64_t)bpftime_stackmap_get_id(map, ips + skip, nr - skip, flags);
}

/* bpf_get_stack(ctx, buf, size, flags) -> bytes written, or -errno (buf zeroed). */
BPFTIME_HELPER(get_stack)
{
	uint8_t *buf = (uint8_t *)(uintptr_t)r2;
	uint32_t size = (uint32_t)r3;
	uint64_t flags = r4;
	long err = -EINVAL;
	uint32_t copy = 0;
	int user = !!(flags & BPF_F_USER_STACK);
	if (!buf)
		return (uint64_t)-EINVAL;
	if ((flags & ~(uint64_t)(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID)) ||
	    (!user && (flags & BPF_F_USER_BUILD_ID)))
		goto clear;
	uint32_t elem = (flags & BPF_F_USER_BUILD_ID) ? sizeof(struct bpf_stack_build_id) : sizeof(uint64_t);
	if (size % elem)
		goto clear;
	uint32_t skip = (uint32_t)(flags & BPF_F_SKIP_FIELD_MASK), want = size / elem;
	uint64_t ips[MAX_STACK_LIMIT];
	uint32_t nr = collect(user, limit_depth((uint64_t)want + skip), ips);
	if (nr < skip) {
		err = -EFAULT;
		goto clear;
	}
	copy = nr - skip < want ? nr - skip : want;
	if (flags & BPF_F_USER_BUILD_ID)
		bpftime_stack_build_ids((struct bpf_stack_build_id *)buf, ips + skip, copy);
	else
		memcpy(buf, ips + skip, (size_t)copy * elem);
	memset(buf + (size_t)copy * elem, 0, size - (size_t)copy * elem);
	return (uint64_t)copy * elem;
clear:
	memset(buf, 0, size);
	return (uint64_t)err;
}
