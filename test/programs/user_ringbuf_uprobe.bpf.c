/* bpf_user_ringbuf_drain from a uprobe (test/e2e/user-ringbuf-uprobe.test.ts): each call of
 * tick() in the victim drains the user ring buffer the loader filled, summing the records (u64
 * each) into `results`: [0] sum, [1] records seen, [2] drain calls, [3] the first drain's answer,
 * [4] the last drain's answer. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 5);
	__type(key, __u32);
	__type(value, __u64);
} results SEC(".maps");

struct cb_state {
	__u64 sum, count;
};

static long on_record(struct bpf_dynptr *d, void *ctx)
{
	struct cb_state *s = ctx;
	__u64 v = 0;
	if (bpf_dynptr_read(&v, sizeof(v), d, 0, 0))
		return 1;
	s->sum += v;
	s->count++;
	return 0;
}

static void add(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&results, &k);
	if (p)
		__sync_fetch_and_add(p, v);
}

static void set(__u32 k, __u64 v)
{
	bpf_map_update_elem(&results, &k, &v, BPF_ANY);
}

SEC("uprobe")
int on_tick(void *ctx)
{
	struct cb_state s = {};
	long ret = bpf_user_ringbuf_drain(&urb, on_record, &s, 0);
	add(0, s.sum);
	add(1, s.count);
	add(2, 1);
	__u32 k = 2;
	__u64 *calls = bpf_map_lookup_elem(&results, &k);
	if (calls && *calls == 1)
		set(3, (__u64)ret);
	set(4, (__u64)ret);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
