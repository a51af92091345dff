// The ring buffer's dynptr helpers (bpf_ringbuf_reserve_dynptr, bpf_ringbuf_submit_dynptr,
// bpf_ringbuf_discard_dynptr) and bpf_dynptr_from_mem, with bpf_dynptr_read/write/data on what
// they make: records written through a dynptr, a failed reserve (bad flags, larger than the ring or any dynptr,
// no room) leaving a null dynptr that every helper refuses and that is still discarded, bounds,
// submit flags. ringbuf_dynptr.c runs the program with BPF_PROG_TEST_RUN and prints the answers
// and the records a consumer sees.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

/* Another map type, for bpf_dynptr_from_mem over a map value. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[32]);
} buf SEC(".maps");

/* Each helper's answer, in program order. */
#define NRES 40
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64[NRES]);
} res SEC(".maps");

/* Records an answer (n stays a constant the verifier knows along straight-line code). */
#define put(x)                          \
	do {                            \
		__s64 _v = (x);         \
		if (n < NRES)           \
			out[n] = _v;    \
		n++;                    \
	} while (0)

SEC("syscall")
int dynptr(void *ctx)
{
	struct bpf_dynptr d, l;
	__u32 zero = 0;
	__u64 v[3] = { 0x1111111111111111ull, 0x2222222222222222ull, 0x3333333333333333ull }, back[3] = {};
	int n = 0;
	__s64 *out = bpf_map_lookup_elem(&res, &zero);
	__u8 *mem = bpf_map_lookup_elem(&buf, &zero);
	if (!out || !mem)
		return 1;

	/* 1. A 16-byte record written through the dynptr and submitted. */
	put(bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &d));
	put(bpf_dynptr_write(&d, 0, v, 16, 0));
	put(bpf_dynptr_write(&d, 8, v, 16, 0)); /* past the end: -E2BIG */
	put(bpf_dynptr_read(back, 8, &d, 8, 0));
	put(back[0] == v[1]);
	bpf_ringbuf_submit_dynptr(&d, 0);

	/* 2. Flags: -EINVAL and a null dynptr, still discarded. */
	put(bpf_ringbuf_reserve_dynptr(&rb, 8, 1, &d));
	put(bpf_dynptr_data(&d, 0, 8) != 0);
	put(bpf_dynptr_write(&d, 0, v, 8, 0));
	put(bpf_dynptr_read(back, 8, &d, 0, 0));
	bpf_ringbuf_discard_dynptr(&d, 0);

	/* 3. Larger than the ring: -EINVAL; larger than any dynptr: -E2BIG; empty: a record. */
	put(bpf_ringbuf_reserve_dynptr(&rb, 8192, 0, &d));
	bpf_ringbuf_submit_dynptr(&d, 0);
	put(bpf_ringbuf_reserve_dynptr(&rb, 1 << 24, 0, &d));
	bpf_ringbuf_discard_dynptr(&d, 0);
	put(bpf_ringbuf_reserve_dynptr(&rb, 0, 0, &d));
	put(bpf_dynptr_write(&d, 0, v, 1, 0));
	bpf_ringbuf_submit_dynptr(&d, 0);

	/* 4. A 24-byte record filled through bpf_dynptr_data, then discarded: never seen. */
	put(bpf_ringbuf_reserve_dynptr(&rb, 24, 0, &d));
	__u64 *p = bpf_dynptr_data(&d, 8, 16);
	put(p != 0);
	if (p) {
		p[0] = 0xdead;
		p[1] = 0xbeef;
	}
	put(bpf_dynptr_data(&d, 16, 16) != 0); /* out of bounds: NULL */
	bpf_ringbuf_discard_dynptr(&d, 0);

	/* 5. bpf_dynptr_from_mem over a map value, copied into a record with a forced wakeup. */
	put(bpf_dynptr_from_mem(mem, 32, 0, &l));
	put(bpf_dynptr_write(&l, 4, v, 8, 0));
	put(bpf_dynptr_write(&l, 28, v, 8, 0)); /* -E2BIG */
	put(bpf_ringbuf_reserve_dynptr(&rb, 12, 0, &d));
	__u8 tmp[12] = {};
	put(bpf_dynptr_read(tmp, 12, &l, 0, 0));
	put(bpf_dynptr_write(&d, 0, tmp, 12, 0));
	bpf_ringbuf_submit_dynptr(&d, BPF_RB_FORCE_WAKEUP);
	put(bpf_dynptr_from_mem(mem, 16, 2, &l)); /* flags: -EINVAL, null */
	put(bpf_dynptr_read(tmp, 4, &l, 0, 0));
	put(bpf_dynptr_data(&l, 0, 4) != 0);

	/* 6. Fill the ring with 1000-byte records (1008 with the header): the fifth finds no room
	 * (-EINVAL), and submitting its null dynptr does nothing. */
#define BIG(i)                                                            \
	do {                                                              \
		__u64 _tag = (i);                                         \
		put(bpf_ringbuf_reserve_dynptr(&rb, 1000, 0, &d));        \
		bpf_dynptr_write(&d, 0, &_tag, sizeof(_tag), 0);          \
		bpf_ringbuf_submit_dynptr(&d, BPF_RB_NO_WAKEUP);          \
	} while (0)
	BIG(1);
	BIG(2);
	BIG(3);
	BIG(4);
	BIG(5);
	put(bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA));
	return n;
}
