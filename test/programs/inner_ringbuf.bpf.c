// Ring buffers stored in maps of maps: a uprobe at tc_target(op, n) (tailcall_victim.c) looks up
// the ring for the call in an ARRAY_OF_MAPS (slot op & 1) and a HASH_OF_MAPS (key op) and
// outputs {op, n} into what it found. inner_ringbuf.c consumes the inner rings through fds it
// gets by map id, sleeping in epoll until a record wakes it.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct ring {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb_a SEC(".maps"), rb_b SEC(".maps"), rb_h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct ring);
} outer_arr SEC(".maps") = {
	.values = { [0] = &rb_a, [1] = &rb_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct ring);
} outer_hash SEC(".maps") = {
	.values = { [3] = &rb_h },
};

struct event {
	__u32 ring; /* 0: from outer_arr, 1: from outer_hash */
	__s32 op, n;
};

SEC("uprobe")
int probe(struct pt_regs *ctx)
{
	struct event e = { 0, (int)PT_REGS_PARM1(ctx), (int)PT_REGS_PARM2(ctx) };
	__u32 slot = e.op & 1, key = e.op;
	void *rb = bpf_map_lookup_elem(&outer_arr, &slot);
	if (rb)
		bpf_ringbuf_output(rb, &e, sizeof(e), 0);
	rb = bpf_map_lookup_elem(&outer_hash, &key);
	if (rb) {
		e.ring = 1;
		bpf_ringbuf_output(rb, &e, sizeof(e), 0);
	}
	return 0;
}
