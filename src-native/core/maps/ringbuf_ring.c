/* The ring of a BPF_MAP_TYPE_RINGBUF, with the kernel's protocol (kernel/bpf/ringbuf.c):
 *
 *  - reserve, under the writer lock: skip pending_pos over records committed since, check room
 *    (neither consumer_pos nor the oldest uncommitted record may end up more than size - 1
 *    behind), write the header {size | BUSY, pg_off}, then publish producer_pos (release);
 *  - commit, lock-free: one atomic exchange of the header's len (BUSY cleared, DISCARD set for a
 *    discard), then the wakeup rule.
 * Producers are threads of many processes; the lock is the robust process-shared mutex of the
 * map core (map_lock.c) and every state it protects is consistent after each single store, so
 * a producer killed inside reserve costs nothing. A producer killed between reserve and commit
 * would leave a busy record that stalls the consumer forever, which the kernel never has to
 * face; the owner table says which process reserved each record, and a busy record whose owner
 * is gone is discarded (by a producer that finds the ring full, or by the consumer's poll).
 *
 * Wakeups: the consumer (the tool's shim) announces that it is about to sleep in the private
 * `waiting` flag, then looks at the ring once more, then blocks on the map's eventfd. A commit
 * that the kernel's rule says must wake writes the eventfd only while that flag is set, so a
 * consumer that keeps up, or a ring nobody sleeps on, costs producers no syscall. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/ringbuf.h"
#include "map_ringbuf.h"

#define RB_MAX_RECORD_SZ (UINT32_MAX / 4)
#define RB_REAP_INTERVAL_NS 2000000ull /* how often a stalled ring is checked for a dead producer */

static inline uint32_t rec_len(uint32_t len_word)
{
	/* the whole record: header + payload, 8-byte aligned */
	return ((len_word & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT)) + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- processes: who owns a record, and is it still alive ---- */

/* starttime (field 22 of /proc/<pid>/stat), low 32 bits, and the state letter. -1: no such process. */
static int proc_stat(uint32_t pid, uint32_t *start, char *state)
{
	char path[48], buf[1024];
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p || p[1] != ' ')
		return -1;
	*state = p[2];
	p += 2; /* field 3 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	*start = (uint32_t)strtoull(p, NULL, 10);
	return 0;
}

/* This process as an owner, computed once per process (the cache is keyed by tgid, so a fork
 * child computes its own). */
struct rb_owner rb_self_owner(void)
{
	static uint64_t cache; /* tgid << 32 | start */
	uint32_t tgid = (uint32_t)(bpftime_current_pid_tgid() >> 32);
	uint64_t c = __atomic_load_n(&cache, __ATOMIC_RELAXED);
	if ((uint32_t)(c >> 32) != tgid) {
		uint32_t start = 0;
		char state;
		if (proc_stat(tgid, &start, &state) < 0)
			start = 0;
		c = (uint64_t)tgid << 32 | start;
		__atomic_store_n(&cache, c, __ATOMIC_RELAXED);
	}
	return (struct rb_owner){ tgid, (uint32_t)c };
}

/* Gone, a zombie (SIGKILLed and not reaped yet), or its pid reused by a younger process. */
int rb_owner_dead(struct rb_owner o)
{
	if (o.tgid == 0)
		return 1; /* never written: cannot be a live reservation */
	if (o.tgid == rb_self_owner().tgid)
		return 0;
	uint32_t start;
	char state;
	if (proc_stat(o.tgid, &start, &state) < 0)
		return 1;
	return state == 'Z' || state == 'X' || start != o.start;
}

/* Lock held. Moves pending_pos over committed records; with `reap`, also discards the busy
 * records of dead producers it meets. Returns how many were discarded. */
static unsigned advance_pending(struct rb_map *r, uint64_t prod, int reap)
{
	struct rb_priv *p = r->priv;
	uint64_t pend = p->pending_pos;
	unsigned n = 0;
	while ((int64_t)(prod - pend) > 0) {
		struct rb_hdr *h = (void *)(r->data + (pend & r->mask));
		uint32_t len = __atomic_load_n(&h->len, __ATOMIC_ACQUIRE);
		if (len & BPF_RINGBUF_BUSY_BIT) {
			if (!reap || !rb_owner_dead(r->owner[(pend & r->mask) / 8]))
				break;
			uint32_t done = (len ^ BPF_RINGBUF_BUSY_BIT) | BPF_RINGBUF_DISCARD_BIT;
			if (__atomic_compare_exchange_n(&h->len, &len, done, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				n++;
				__atomic_fetch_add(&p->reaped, 1, __ATOMIC_RELAXED);
			}
			continue; /* look again: committed now, one way or the other */
		}
		pend += rec_len(len);
	}
	p->pending_pos = pend;
	return n;
}

/* Lock held, ring full: is a dead producer's record in the way? Rate-limited, since a ring can
 * also be full because the consumer is slow, and each look reads /proc. */
static int reap_when_full(struct rb_map *r, uint64_t prod)
{
	uint64_t t = now_ns();
	if (t - r->priv->last_reap_ns < RB_REAP_INTERVAL_NS)
		return 0;
	r->priv->last_reap_ns = t;
	return advance_pending(r, prod, 1) > 0;
}

/* ---- producer side ---- */

void *bpftime_ringbuf_reserve(struct bpftime_map *m, uint64_t size)
{
	if (!bpftime_ringbuf_is(m) || size > RB_MAX_RECORD_SZ)
		return NULL;
	struct rb_map *r = (struct rb_map *)m;
	uint32_t len = (uint32_t)((size + BPF_RINGBUF_HDR_SZ + 7) & ~7ull);
	if (len > r->mask + 1)
		return NULL;
	struct rb_owner me = rb_self_owner();
	if (bpftime_shlock_lock(&r->priv->lock, NULL, NULL) != 0)
		return NULL; /* re-entered from a signal handler while this thread holds it */
	uint64_t prod = *r->prod, cons, new_prod = prod + len;
	for (int tries = 0;; tries++) {
		cons = __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
		advance_pending(r, prod, 0);
		if (new_prod - cons <= r->mask && new_prod - r->priv->pending_pos <= r->mask)
			break;
		if (tries > 0 || !reap_when_full(r, prod)) {
			bpftime_shlock_unlock(&r->priv->lock);
			return NULL;
		}
	}
	uint64_t off = prod & r->mask;
	struct rb_hdr *h = (void *)(r->data + off);
	r->owner[off / 8] = me;
	h->pg_off = (uint32_t)((RB_DATA_OFF + off) / RB_PAGE);
	__atomic_store_n(&h->len, (uint32_t)size | BPF_RINGBUF_BUSY_BIT, __ATOMIC_RELAXED);
	/* pairs with the consumer's acquire of producer_pos: the header is visible first */
	__atomic_store_n(r->prod, new_prod, __ATOMIC_RELEASE);
	bpftime_shlock_unlock(&r->priv->lock);
	return (uint8_t *)h + BPF_RINGBUF_HDR_SZ;
}

/* ---- the process's rings, by address (bpf_ringbuf_submit only has the record) ---- */

static struct rb_local *g_locals;
static pthread_mutex_t g_locals_mu = PTHREAD_MUTEX_INITIALIZER;

struct rb_local *rb_local_get(uint8_t *region, uint8_t *data, uint64_t mask, uint32_t map_id)
{
	pthread_mutex_lock(&g_locals_mu);
	struct rb_local *l;
	for (l = g_locals; l; l = l->next)
		if (l->region == region)
			break;
	if (l && (l->mask != mask || l->map_id != map_id)) {
		/* Another ring now sits where an unmapped one was: its eventfd is not ours. */
		int old = __atomic_exchange_n(&l->wake_fd, -1, __ATOMIC_ACQ_REL);
		if (old >= 0)
			close(old);
		l->mask = mask;
		l->map_id = map_id;
	}
	if (!l && (l = calloc(1, sizeof(*l)))) {
		*l = (struct rb_local){ region, data, mask, map_id, -1, 0, g_locals };
		__atomic_store_n(&g_locals, l, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&g_locals_mu);
	return l;
}

/* The ring whose data holds hdr, or NULL: nothing of an unknown pointer is read. */
static struct rb_local *local_of(const void *hdr)
{
	uintptr_t a = (uintptr_t)hdr;
	if (a & 7)
		return NULL;
	for (struct rb_local *l = __atomic_load_n(&g_locals, __ATOMIC_ACQUIRE); l; l = l->next)
		if (a >= (uintptr_t)l->data && a - (uintptr_t)l->data <= l->mask)
			return l;
	return NULL;
}

void rb_wake(struct rb_local *l)
{
	struct rb_priv *p = rb_priv_of(l->region);
	/* Pairs with the consumer's set_waiting + second look: either it sees our record, or we
	 * see its flag. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&p->waiting, __ATOMIC_RELAXED) || !__atomic_exchange_n(&p->waiting, 0, __ATOMIC_ACQ_REL))
		return;
	int fd = __atomic_load_n(&l->wake_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		uint64_t one = 1;
		(void)!write(fd, &one, sizeof(one));
	}
}

static void commit(struct rb_local *l, struct rb_hdr *h, uint64_t flags, int discard)
{
	uint32_t len = __atomic_load_n(&h->len, __ATOMIC_RELAXED);
	if (!(len & BPF_RINGBUF_BUSY_BIT))
		return; /* not a reservation (or committed twice) */
	uint32_t done = len ^ BPF_RINGBUF_BUSY_BIT;
	if (discard)
		done |= BPF_RINGBUF_DISCARD_BIT;
	__atomic_exchange_n(&h->len, done, __ATOMIC_ACQ_REL);
	/* The kernel's rule: wake if the consumer has caught up to this very record. */
	uint64_t rec_pos = (uint64_t)((uint8_t *)h - l->data);
	uint64_t *cons = (uint64_t *)(l->region + RB_CONS_OFF);
	uint64_t cons_pos = __atomic_load_n(cons, __ATOMIC_ACQUIRE) & l->mask;
	if ((flags & BPF_RB_FORCE_WAKEUP) || (cons_pos == rec_pos && !(flags & BPF_RB_NO_WAKEUP)))
		rb_wake(l);
}

void bpftime_ringbuf_commit(void *sample, uint64_t flags, int discard)
{
	struct rb_hdr *h = (struct rb_hdr *)((uint8_t *)sample - BPF_RINGBUF_HDR_SZ);
	struct rb_local *l = local_of(h);
	if (l)
		commit(l, h, flags, discard);
}

long bpftime_ringbuf_output(struct bpftime_map *m, const void *data, uint64_t size, uint64_t flags)
{
	if (flags & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))
		return -EINVAL;
	void *rec = bpftime_ringbuf_reserve(m, size);
	if (!rec)
		return -EAGAIN;
	memcpy(rec, data, size);
	struct rb_map *r = (struct rb_map *)m;
	commit(r->local, (struct rb_hdr *)((uint8_t *)rec - BPF_RINGBUF_HDR_SZ), flags, 0);
	return 0;
}

uint64_t bpftime_ringbuf_query(struct bpftime_map *m, uint64_t flags)
{
	if (!bpftime_ringbuf_is(m))
		return 0;
	struct rb_map *r = (struct rb_map *)m;
	switch (flags) {
	case BPF_RB_AVAIL_DATA:
		return __atomic_load_n(r->prod, __ATOMIC_ACQUIRE) - __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	case BPF_RB_RING_SIZE:
		return r->mask + 1;
	case BPF_RB_CONS_POS:
		return __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	case BPF_RB_PROD_POS:
		return __atomic_load_n(r->prod, __ATOMIC_ACQUIRE);
	default:
		return 0;
	}
}

int bpftime_ringbuf_set_wake_fd(struct bpftime_map *m, int fd)
{
	if (!bpftime_ringbuf_is(m) && !bpftime_user_ringbuf_is(m))
		return -EINVAL;
	struct rb_local *l = ((struct rb_map *)m)->local;
	int none = -1;
	if (!__atomic_compare_exchange_n(&l->wake_fd, &none, fd, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		close(fd); /* the first stays: a producer may be writing it right now */
	return 0;
}

/* ---- consumer side ---- */

int bpftime_ringbuf_readable(struct bpftime_map *m)
{
	if (!bpftime_ringbuf_is(m))
		return 0;
	struct rb_map *r = (struct rb_map *)m;
	uint64_t cons = __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	uint64_t prod = __atomic_load_n(r->prod, __ATOMIC_ACQUIRE);
	if (cons == prod)
		return 0;
	/* A busy record where the consumer stands: normally a producer between reserve and submit;
	 * if that producer died, discard its record (under the producers' lock) so the consumer
	 * can move on. Checked at most every RB_REAP_INTERVAL_NS per ring and process. */
	struct rb_hdr *h = (void *)(r->data + (cons & r->mask));
	if (__atomic_load_n(&h->len, __ATOMIC_ACQUIRE) & BPF_RINGBUF_BUSY_BIT) {
		uint64_t t = now_ns();
		if (t - r->local->last_check_ns >= RB_REAP_INTERVAL_NS) {
			r->local->last_check_ns = t;
			if (bpftime_shlock_lock(&r->priv->lock, NULL, NULL) == 0) {
				advance_pending(r, *r->prod, 1);
				bpftime_shlock_unlock(&r->priv->lock);
			}
		}
	}
	return 1;
}

void bpftime_ringbuf_set_waiting(struct bpftime_map *m, int waiting)
{
	if (!bpftime_ringbuf_is(m) && !bpftime_user_ringbuf_is(m))
		return;
	struct rb_priv *p = ((struct rb_map *)m)->priv;
	if (!waiting) {
		/* Retracting needs no ordering (a producer that still sees 1 only writes the eventfd
		 * once for nothing), and a busy consumer retracts on every call: no store, no fence
		 * when already clear. */
		if (__atomic_load_n(&p->waiting, __ATOMIC_RELAXED))
			__atomic_store_n(&p->waiting, 0u, __ATOMIC_RELAXED);
		return;
	}
	__atomic_store_n(&p->waiting, 1u, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint64_t bpftime_ringbuf_reaped(struct bpftime_map *m)
{
	return bpftime_ringbuf_is(m) ? __atomic_load_n(&((struct rb_map *)m)->priv->reaped, __ATOMIC_RELAXED) : 0;
}
