/* bpf_override_return(regs, rc): error injection. On the kernel it makes a kprobed function
 * return rc at once without running its body, and only at the entry of functions on the
 * error-injection allow list. Here it works at a uprobe on the entry of any user function: the
 * helper sets the return register in the probe's saved registers and tells the agent, which then
 * returns to the probed function's caller with that value (BPFTIME_PROBE_OVERRIDE, attach.h).
 * The verifier offers it to kprobe-type programs only, and the server refuses to attach such a
 * program to a uretprobe (EINVAL, as the kernel refuses non-entry probes). */
#include <errno.h>

#include "helpers_internal.h"

#if defined(__x86_64__)
#include <asm/ptrace.h>
#endif

BPFTIME_HELPER(override_return)
{
	struct bpftime_run_ctx *c = bpftime_run_ctx_get();
	/* r1 is the program's context: it must be the probe's registers. */
	if (!c || !c->regs || (void *)(uintptr_t)r1 != c->regs)
		return (uint64_t)(int64_t)-EINVAL;
#if defined(__x86_64__)
	((struct pt_regs *)c->regs)->rax = r2;
	c->override = 1;
	return 0;
#else
	return (uint64_t)(int64_t)-EOPNOTSUPP;
#endif
}
