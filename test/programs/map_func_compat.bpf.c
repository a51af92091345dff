// Programs that pass maps to helpers: each one either uses a map as its helper requires or passes
// a map type the helper may not take (the kernel verifier's check_map_func_compatibility).
// map_func_compat.c loads them one at a time and prints the errno and the verdict line.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 4);
	__type(value, __u64);
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 8 * sizeof(__u64));
} stacks SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = { .values = { &inner } };

/* ---- allowed ---- */

SEC("uprobe")
int ok_uses(struct pt_regs *ctx)
{
	__u64 v = 1;
	__u32 k = 0;
	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &v, sizeof(v));
	bpf_map_push_elem(&queue, &v, 0);
	bpf_map_push_elem(&bloom, &v, 0);
	bpf_map_peek_elem(&bloom, &v);
	bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	bpf_map_lookup_percpu_elem(&pcpu, &k, 0);
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (m)
		bpf_map_lookup_elem(m, &k);
	bpf_tail_call(ctx, &progs, 0);
	return 0;
}

/* ---- refused ---- */

SEC("uprobe")
int ringbuf_output_hash(struct pt_regs *ctx)
{
	__u64 v = 1;
	return bpf_ringbuf_output(&hash, &v, sizeof(v), 0);
}

SEC("uprobe")
int ringbuf_reserve_array(struct pt_regs *ctx)
{
	void *p = bpf_ringbuf_reserve(&arr, 8, 0);
	if (p)
		bpf_ringbuf_discard(p, 0);
	return 0;
}

SEC("uprobe")
int perf_output_hash(struct pt_regs *ctx)
{
	__u64 v = 1;
	return bpf_perf_event_output(ctx, &hash, BPF_F_CURRENT_CPU, &v, sizeof(v));
}

SEC("uprobe")
int perf_output_ringbuf(struct pt_regs *ctx)
{
	__u64 v = 1;
	return bpf_perf_event_output(ctx, &rb, BPF_F_CURRENT_CPU, &v, sizeof(v));
}

SEC("uprobe")
int tail_call_hash(struct pt_regs *ctx)
{
	bpf_tail_call(ctx, &hash, 0);
	return 0;
}

SEC("uprobe")
int push_hash(struct pt_regs *ctx)
{
	__u64 v = 1;
	return bpf_map_push_elem(&hash, &v, 0);
}

SEC("uprobe")
int pop_bloom(struct pt_regs *ctx)
{
	__u64 v;
	return bpf_map_pop_elem(&bloom, &v);
}

SEC("uprobe")
int lookup_prog_array(struct pt_regs *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&progs, &k) != 0;
}

SEC("uprobe")
int lookup_perf_array(struct pt_regs *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&events, &k) != 0;
}

SEC("uprobe")
int update_map_of_maps(struct pt_regs *ctx)
{
	__u32 k = 0, v = 0;
	return bpf_map_update_elem(&outer, &k, &v, 0);
}

SEC("uprobe")
int delete_prog_array(struct pt_regs *ctx)
{
	__u32 k = 0;
	return bpf_map_delete_elem(&progs, &k);
}

SEC("uprobe")
int stackid_array(struct pt_regs *ctx)
{
	return bpf_get_stackid(ctx, &arr, 0);
}

SEC("uprobe")
int lookup_percpu_hash(struct pt_regs *ctx)
{
	__u32 k = 0;
	return bpf_map_lookup_percpu_elem(&hash, &k, 0) != 0;
}

static long visit(void *map, void *key, void *value, void *ctx) { return 0; }

/* bpf_for_each_map_elem walks arrays and hash maps only (ENOTSUPP for the rest). */
SEC("uprobe")
int for_each_hash(struct pt_regs *ctx) { return bpf_for_each_map_elem(&hash, visit, 0, 0); }

SEC("uprobe")
int for_each_prog_array(struct pt_regs *ctx) { return bpf_for_each_map_elem(&progs, visit, 0, 0); }

SEC("uprobe")
int for_each_ringbuf(struct pt_regs *ctx) { return bpf_for_each_map_elem(&rb, visit, 0, 0); }

SEC("uprobe")
int for_each_map_of_maps(struct pt_regs *ctx) { return bpf_for_each_map_elem(&outer, visit, 0, 0); }

/* The map in a callee-saved register across another call: still known. */
SEC("uprobe")
int kept_across_call(struct pt_regs *ctx)
{
	void *m = &hash;
	__u64 v = bpf_get_prandom_u32();
	asm volatile("" : "+r"(m));
	return bpf_ringbuf_output(m, &v, sizeof(v), 0);
}
