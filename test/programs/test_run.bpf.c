/* Programs for test/programs/test_run.c: one per program type BPF_PROG_TEST_RUN serves, each
 * reporting what it saw of its context so that kernel and shim runs can be compared byte for
 * byte. A .bss counter counts runs (maps work from test runs too). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 runs;

struct sys_args {
	int a, b;
	int sum;
	int runs;
};

SEC("syscall")
int sys_sum(struct sys_args *args)
{
	runs++;
	args->sum = args->a + args->b;
	args->runs = (int)runs;
	return args->a * args->b;
}

/* Who the run says is current: on a kernel, the caller of BPF_PROG_TEST_RUN. */
struct who_args {
	__u32 pid, tid_is_pid, uid, gid;
	char comm[16];
};

SEC("syscall")
int who(struct who_args *a)
{
	__u64 pt = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();
	char comm[16];

	a->tid_is_pid = (__u32)pt == (__u32)(pt >> 32);
	a->pid = (__u32)(pt >> 32);
	a->uid = (__u32)ug;
	a->gid = (__u32)(ug >> 32);
	bpf_get_current_comm(comm, sizeof(comm)); /* to the stack: the verifier wants it there */
	__builtin_memcpy(a->comm, comm, sizeof(comm));
	return 0;
}

SEC("xdp")
int xdp_swap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	void *meta = (void *)(long)ctx->data_meta;
	struct ethhdr *eth = data;
	__u32 m = 0;

	runs++;
	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	for (int i = 0; i < ETH_ALEN; i++) {
		unsigned char t = eth->h_dest[i];
		eth->h_dest[i] = eth->h_source[i];
		eth->h_source[i] = t;
	}
	if (meta + 4 <= data) {
		m = *(__u32 *)meta;
		*(__u32 *)meta = m + 1;
	}
	return (__u32)(end - data) + m * 0x100 + ctx->ingress_ifindex * 0x10000 + ctx->rx_queue_index * 0x1000000;
}

SEC("tc")
int tc_fields(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	unsigned char *p = data;

	runs++;
	if (p + ETH_HLEN > (unsigned char *)end)
		return -1;
	p[0] ^= 0x80; /* the Ethernet header comes back changed */
	skb->cb[0] = skb->len;
	skb->cb[1] = skb->protocol;
	skb->cb[2] = skb->pkt_type | skb->ifindex << 8 | skb->queue_mapping << 16;
	skb->cb[3] = skb->vlan_present | skb->hash << 8;
	skb->cb[4] = skb->data_meta == skb->data;
	skb->mark = skb->mark + skb->wire_len;
	skb->priority = skb->ingress_ifindex + 7;
	skb->tstamp = skb->tstamp + skb->gso_segs + skb->gso_size;
	return (int)(end - data) + skb->napi_id * 0x10000;
}

SEC("socket")
int sock_fields(struct __sk_buff *skb)
{
	__u32 w[2] = { 0, 0 };
	long e;

	runs++;
	skb->cb[0] = skb->len;
	skb->cb[1] = skb->protocol;
	skb->cb[2] = skb->pkt_type | skb->ifindex << 8;
	/* The packet from the network header on (bytes 12..19 of an IPv4 header: the addresses). */
	e = bpf_skb_load_bytes(skb, 12, w, sizeof(w));
	skb->cb[3] = w[0] ^ w[1] ^ (__u32)e;
	w[0] = 0xffffffff;
	e = bpf_skb_load_bytes(skb, skb->len - 4, w, 8); /* past the end: cleared, -EFAULT */
	skb->cb[4] = w[0] ^ (__u32)e;
	return skb->len + skb->mark;
}

SEC("raw_tp/sys_enter")
int rawtp_args(struct bpf_raw_tracepoint_args *ctx)
{
	runs++;
	return ctx->args[0] + ctx->args[1] * 2;
}

SEC("raw_tp/sys_enter")
int rawtp_cpu(void *ctx)
{
	return bpf_get_smp_processor_id();
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int tp_no_test_run(void *ctx)
{
	return 0;
}
