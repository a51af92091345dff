/* BPF_MAP_TYPE_USER_RINGBUF consumer for the differential test
 * (test/e2e/user-ringbuf-differential.test.ts): a SYSCALL program, run with BPF_PROG_TEST_RUN,
 * drains the ring with bpf_user_ringbuf_drain; the callback reads each record with
 * bpf_dynptr_read (first 8 bytes) and bpf_dynptr_data (next 8, when the record has them) and
 * sums them. The driver (user_ringbuf.c) passes the drain flags and when to stop in the
 * context and prints what comes back. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} urb SEC(".maps");

/* The test run's context, in and out. */
struct drain_args {
	__u64 flags;      /* in: the drain's flags */
	__u64 stop_after; /* in: the callback returns 1 at this record (0: never) */
	long ret;         /* out: the drain's answer */
	__u64 sum, count, tail_sum;
	long read_err;    /* out: bpf_dynptr_read's error that stopped the drain */
	__u64 sizes;      /* out: sum of record sizes seen */
};

/* callback_ctx must be on the stack */
struct cb_state {
	__u64 stop_after, sum, count, tail_sum, sizes;
	long read_err;
};

static long on_record(struct bpf_dynptr *d, void *ctx)
{
	struct cb_state *s = ctx;
	__u64 v = 0;
	long err = bpf_dynptr_read(&v, sizeof(v), d, 0, 0);
	if (err) {
		s->read_err = err;
		return 1;
	}
	s->sum += v;
	s->count++;
	__u64 *tail = bpf_dynptr_data(d, 8, 8);
	if (tail) {
		s->tail_sum += *tail;
		s->sizes += 16;
	} else {
		s->sizes += 8;
	}
	return s->stop_after && s->count >= s->stop_after;
}

SEC("syscall")
int drain(struct drain_args *a)
{
	struct cb_state s = { .stop_after = a->stop_after };
	a->ret = bpf_user_ringbuf_drain(&urb, on_record, &s, a->flags);
	a->sum = s.sum;
	a->count = s.count;
	a->tail_sum = s.tail_sum;
	a->read_err = s.read_err;
	a->sizes = s.sizes;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
