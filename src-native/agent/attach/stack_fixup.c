/* Stack walks in the presence of pending return probes: each one put a return address of ours on
 * the thread's stack where the caller's was (bpftime_attach_ret_tramp, or the stub's own when its
 * return-only path called the function: site->call_ret), so a frame-pointer walk finds it where
 * the caller should be. The kernel (fixup_uretprobe_trampoline_entries) puts the real addresses
 * back, innermost pending return first; so does this, from the shadow stack. */
#include "attach_internal.h"

void bpftime_probe_fixup_user_stack(uint64_t *ips, uint32_t nr)
{
	struct thread_state *t = attach_tls;
	if (!t || !t->frames || !t->top)
		return;
	unsigned i = t->top;
	for (uint32_t k = 0; k < nr && i > 0; k++)
		if (ips[k] == (uintptr_t)bpftime_attach_ret_tramp || ips[k] == t->frames[i - 1].site->call_ret)
			ips[k] = t->frames[--i].ret_addr;
}
