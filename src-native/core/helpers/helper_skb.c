/* bpf_skb_load_bytes(skb, offset, to, len), for the socket filter and tc programs that
 * BPF_PROG_TEST_RUN runs in the server: skb is the struct __sk_buff it lays out, whose data and
 * data_end hold the packet's bounds as real pointers (the buffers live below 4 GiB, see
 * src-native/addon/addon_prog.cc). The verifier offers it to those program types only. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <linux/bpf.h>

#include "helpers_internal.h"

BPFTIME_HELPER(skb_load_bytes)
{
	const struct __sk_buff *skb = (const void *)(uintptr_t)r1;
	uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
	void *to = (void *)(uintptr_t)r3;
	uintptr_t data = skb->data, end = skb->data_end;

	/* As the kernel's: offsets above INT_MAX or past the packet clear the buffer, -EFAULT. */
	if (off > INT32_MAX || end < data || off > end - data || len > end - data - off) {
		memset(to, 0, len);
		return (uint64_t)-EFAULT;
	}
	memcpy(to, (const void *)(data + off), len);
	return 0;
}
