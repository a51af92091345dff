// SPDX-License-Identifier: GPL-2.0
// Error injection: make a user function return an error without running it, with
// bpf_override_return at a uprobe on its entry.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile long errval = -5;  /* the value the function returns (-EIO) */
const volatile __u32 every = 1;   /* inject into every Nth call */
const volatile __u32 target_tgid; /* 0: every process */

__u64 calls;    /* calls seen */
__u64 injected; /* calls made to fail */

SEC("uprobe")
int inject(struct pt_regs *ctx)
{
	if (target_tgid && (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__u64 n = __sync_fetch_and_add(&calls, 1) + 1;
	if (every > 1 && n % every)
		return 0;
	__sync_fetch_and_add(&injected, 1);
	bpf_override_return(ctx, errval);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
