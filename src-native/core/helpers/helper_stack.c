/* bpf_get_stack: the probed thread's user stack, as the kernel collects it for
 * BPF_F_USER_STACK: the instruction pointer, then the return addresses found by walking the
 * frame-pointer chain (frames without frame pointers end the walk, as they do for the kernel).
 * Every read of the target's stack is fault-safe. There is no kernel stack in userspace: a
 * request for one gets an empty stack. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <asm/ptrace.h>

#include "helpers_internal.h"

#define MAX_FRAMES 127 /* sysctl kernel.perf_event_max_stack's default */

/* bpf_get_stack(ctx, buf, size, flags) -> bytes written, or -errno (buf zeroed). */
BPFTIME_HELPER(get_stack)
{
	uint64_t *buf = (uint64_t *)(uintptr_t)r2;
	uint32_t size = (uint32_t)r3;
	uint64_t flags = r4;
	if ((flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID)) || !buf ||
	    (flags & BPF_F_USER_BUILD_ID) || size % sizeof(uint64_t)) {
		if (buf && size)
			memset(buf, 0, size);
		return (uint64_t)-EINVAL;
	}
	uint32_t want = size / sizeof(uint64_t), skip = (uint32_t)(flags & BPF_F_SKIP_FIELD_MASK), n = 0;
	struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	const struct pt_regs *regs = rc ? rc->regs : NULL;
	if ((flags & BPF_F_USER_STACK) && regs) {
		uint64_t ip = regs->rip, bp = regs->rbp;
		for (uint32_t depth = 0; depth < MAX_FRAMES && n < want && ip; depth++) {
			if (depth >= skip)
				buf[n++] = ip;
			uint64_t frame[2];
			if (!bp || (bp & 7) || bpftime_copy_from_user(frame, (const void *)(uintptr_t)bp, sizeof(frame)) < 0)
				break;
			if (frame[0] && frame[0] <= bp)
				break; /* the chain must go up the stack */
			bp = frame[0];
			ip = frame[1];
		}
	}
	memset(buf + n, 0, (size_t)(want - n) * sizeof(uint64_t));
	return (uint64_t)n * sizeof(uint64_t);
}
