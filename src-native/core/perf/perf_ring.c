/* Perf buffer rings in shared memory (see perf_ring.h). Producers in any process serialise on a
 * lock word in the page's reserved area; a producer killed while holding it is detected (its
 * process is gone) and the lock taken over, so a dead agent never silences the buffer. */
#include "bpftime/perf_ring.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"

struct ring_private {
	uint32_t lock;      /* 0 free, else the holder's tgid */
	uint32_t waiting;   /* the consumer is (about to be) blocked on this ring */
	uint64_t lost;      /* samples dropped since the last PERF_RECORD_LOST */
	uint32_t inited;
	uint32_t paused;    /* PERF_EVENT_IOC_PAUSE_OUTPUT: records are dropped and counted lost */
};

_Static_assert(sizeof(struct ring_private) <= sizeof(((struct perf_event_mmap_page *)0)->__reserved),
	       "ring private state fits the reserved area");

static struct ring_private *priv(const void *page)
{
	return (struct ring_private *)((char *)page + offsetof(struct perf_event_mmap_page, __reserved));
}

int bpftime_perf_ring_init(void *page, uint64_t mapped_len)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t data = mapped_len - (uint64_t)pg;
	if (mapped_len <= (uint64_t)pg || (data & (data - 1)) || data % (uint64_t)pg)
		return -EINVAL;
	struct perf_event_mmap_page *p = page;
	struct ring_private *r = priv(page);
	if (__atomic_exchange_n(&r->inited, 1, __ATOMIC_ACQ_REL) == 0) {
		p->version = 0;
		p->compat_version = 0;
		p->data_offset = (uint64_t)pg;
		__atomic_store_n(&p->data_size, data, __ATOMIC_RELEASE);
	}
	return 0;
}

static void lock_ring(struct ring_private *r)
{
	uint32_t me = (uint32_t)getpid();
	for (unsigned spins = 0;; spins++) {
		uint32_t cur = 0;
		if (__atomic_compare_exchange_n(&r->lock, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		if (cur == me && spins > 100000) {
			/* Our own process holds it for very long: a thread was killed inside (not possible
			 * short of a crash). Take it rather than hang. */
			if (__atomic_compare_exchange_n(&r->lock, &cur, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return;
		}
		if ((spins & 1023) == 1023) {
			if (cur != me && kill((pid_t)cur, 0) < 0 && errno == ESRCH)
				__atomic_compare_exchange_n(&r->lock, &cur, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			else
				sched_yield();
		}
	}
}

static void unlock_ring(struct ring_private *r) { __atomic_store_n(&r->lock, 0, __ATOMIC_RELEASE); }

static void put_bytes(uint8_t *data, uint64_t size, uint64_t pos, const void *src, uint64_t n)
{
	uint64_t off = pos & (size - 1), first = n < size - off ? n : size - off;
	memcpy(data + off, src, first);
	if (n > first)
		memcpy(data, (const uint8_t *)src + first, n - first);
}

/* The fixed fields sample_type asks for before PERF_SAMPLE_RAW, in perf_output_sample's order, all
 * u64-sized; returns how many u64 words were written into w. A BPF output sample has no IP (not
 * offered), a zero address and period (perf_sample_data_init(sd, 0, 0) in bpf_perf_event_output),
 * and the event's id for IDENTIFIER, ID and STREAM_ID. */
static unsigned sample_fields(uint64_t sample_type, uint64_t event_id, uint64_t *w)
{
	unsigned n = 0;
	if (sample_type & PERF_SAMPLE_IDENTIFIER)
		w[n++] = event_id;
	if (sample_type & PERF_SAMPLE_TID) {
		/* { u32 pid, u32 tid }: the running thread, as bpf_get_current_pid_tgid sees it (a test
		 * run's caller in the server) */
		uint64_t id = bpftime_current_pid_tgid();
		w[n++] = (id & 0xffffffffull) << 32 | id >> 32;
	}
	if (sample_type & PERF_SAMPLE_TIME) {
		/* perf's default clock (local_clock): nanoseconds since boot, as CLOCK_MONOTONIC */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		w[n++] = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	if (sample_type & PERF_SAMPLE_ADDR)
		w[n++] = 0;
	if (sample_type & PERF_SAMPLE_ID)
		w[n++] = event_id;
	if (sample_type & PERF_SAMPLE_STREAM_ID)
		w[n++] = event_id;
	if (sample_type & PERF_SAMPLE_CPU)
		w[n++] = (uint32_t)bpftime_current_cpu(); /* { u32 cpu, res } */
	if (sample_type & PERF_SAMPLE_PERIOD)
		w[n++] = 0;
	return n;
}

long bpftime_perf_ring_output(void *page, uint64_t event_id, uint64_t sample_type, const void *data, uint64_t size, int *wake)
{
	struct perf_event_mmap_page *p = page;
	struct ring_private *r = priv(page);
	*wake = 0;
	uint64_t dsize = __atomic_load_n(&p->data_size, __ATOMIC_ACQUIRE);
	if (!dsize)
		return -ENOENT;
	uint8_t *ring = (uint8_t *)page + p->data_offset;
	uint64_t fields[8];
	uint64_t nfields = sample_fields(sample_type, event_id, fields);
	/* PERF_SAMPLE_RAW: a u32 size, then the bytes, padded so the record stays 8-aligned. Without
	 * it (a tool that asked for no raw data) the sample holds the fixed fields only. */
	int has_raw = !!(sample_type & PERF_SAMPLE_RAW);
	uint32_t raw = has_raw ? (uint32_t)(((size + 4 + 7) & ~7ull) - 4) : 0;
	uint64_t rec = sizeof(struct perf_event_header) + 8 * nfields + (has_raw ? 4 + raw : 0);
	if (rec > 0xffff)
		return -E2BIG;
	long ret = 0;
	lock_ring(r);
	if (__atomic_load_n(&r->paused, __ATOMIC_ACQUIRE)) {
		/* As perf_output_begin() on a paused buffer: nothing written, the loss counted (and
		 * reported by a PERF_RECORD_LOST once output resumes and there is room). */
		r->lost++;
		unlock_ring(r);
		return -ENOSPC;
	}
	uint64_t head = p->data_head, tail = __atomic_load_n(&p->data_tail, __ATOMIC_ACQUIRE);
	if (r->lost) {
		/* Report earlier losses first, when there is room for the record that says so. */
		struct {
			struct perf_event_header h;
			uint64_t id, lost;
		} lost = { { PERF_RECORD_LOST, 0, sizeof(lost) }, event_id, r->lost };
		if (head + sizeof(lost) - tail <= dsize) {
			put_bytes(ring, dsize, head, &lost, sizeof(lost));
			head += sizeof(lost);
			r->lost = 0;
		}
	}
	if (head + rec - tail > dsize) {
		r->lost++;
		ret = -ENOSPC;
	} else {
		struct perf_event_header h = { PERF_RECORD_SAMPLE, 0, (uint16_t)rec };
		static const uint8_t zeros[8];
		uint64_t at = head;
		put_bytes(ring, dsize, at, &h, sizeof(h));
		at += sizeof(h);
		put_bytes(ring, dsize, at, fields, 8 * nfields);
		at += 8 * nfields;
		if (has_raw) {
			put_bytes(ring, dsize, at, &raw, 4);
			put_bytes(ring, dsize, at + 4, data, size);
			put_bytes(ring, dsize, at + 4 + size, zeros, raw - size);
		}
		head += rec;
	}
	__atomic_store_n(&p->data_head, head, __ATOMIC_RELEASE);
	unlock_ring(r);
	/* Pairs with the consumer's set_waiting + readable check: one of the two sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&r->waiting, __ATOMIC_RELAXED) && __atomic_exchange_n(&r->waiting, 0, __ATOMIC_ACQ_REL))
		*wake = 1;
	return ret;
}

int bpftime_perf_ring_readable(const void *page)
{
	const struct perf_event_mmap_page *p = page;
	return __atomic_load_n(&p->data_head, __ATOMIC_ACQUIRE) != __atomic_load_n(&p->data_tail, __ATOMIC_ACQUIRE);
}

void bpftime_perf_ring_set_waiting(void *page, int waiting)
{
	__atomic_store_n(&priv(page)->waiting, waiting ? 1u : 0u, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void bpftime_perf_ring_set_paused(void *page, int paused)
{
	__atomic_store_n(&priv(page)->paused, paused ? 1u : 0u, __ATOMIC_RELEASE);
}
