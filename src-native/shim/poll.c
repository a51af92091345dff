/* Waiting for perf buffers and ring buffers: epoll and poll on our perf event fds and
 * BPF_MAP_TYPE_RINGBUF map fds.
 *
 * A memfd is always "readable" to the kernel, so the shim waits on each buffer's eventfd in its
 * place (the server hands it out; agents write it). Readiness itself is the kernel's rule —
 * readable while data_head != data_tail (perf buffers), while producer_pos != consumer_pos
 * (ring buffers) — checked on the ring before blocking, so the level semantics hold however the
 * eventfd was left. Producers only write the eventfd when the consumer announced it sleeps
 * (perf_ring.h, ringbuf.h), so a busy buffer costs no syscalls.
 *
 * Only calls that involve one of our fds take the slow path; everything else goes straight to
 * libc with the same arguments. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/bpf.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/objfile.h"
#include "bpftime/perf_ring.h"
#include "bpftime/proto.h"
#include "bpftime/ringbuf.h"

#define EXPORT __attribute__((visibility("default")))

/* One of our fds registered in an epoll set. */
struct reg {
	int epfd, fd, waitfd;
	struct shim_obj *obj;
	struct epoll_event ev;
	int fired; /* its eventfd was reported by the last real wait: drain it */
	struct reg *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg *g_regs;

int shim_wait_fd(int fd, struct shim_obj *o)
{
	int w = __atomic_load_n(&o->waitfd, __ATOMIC_ACQUIRE);
	if (w >= 0)
		return w;
	uint64_t args[6] = { (uint64_t)fd, BPFTIME_IOC_WAIT_FD, 0 };
	long r = shim_call(BPFTIME_OP_IOCTL, args, NULL, 0, 0);
	if (r < 0)
		return (int)r;
	int expected = -1;
	if (!__atomic_compare_exchange_n(&o->waitfd, &expected, (int)r, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		real_close((int)r); /* another thread got it first */
		return expected;
	}
	return (int)r;
}

/* The fds we wait for in place of the kernel: perf buffers and ring buffer maps. */
static int waitable(const struct shim_obj *o)
{
	return o && (o->kind == BPFTIME_OBJ_PERF_EVENT ||
		     (o->kind == BPFTIME_OBJ_MAP &&
		      (o->subtype == BPF_MAP_TYPE_RINGBUF || o->subtype == BPF_MAP_TYPE_USER_RINGBUF)));
}

/* What the kernel's poll would answer for o now (0 when nothing to read). */
static uint32_t ready_mask(struct shim_obj *o)
{
	if (o->kind == BPFTIME_OBJ_PERF_EVENT)
		return o->ring && bpftime_perf_ring_readable(o->ring) ? EPOLLIN : 0;
	struct bpftime_map *m = fdtab_map(o);
	if (o->subtype == BPF_MAP_TYPE_USER_RINGBUF) /* ringbuf_map_poll_user: room to produce */
		return m && bpftime_user_ringbuf_writable(m) ? EPOLLOUT | EPOLLWRNORM : 0;
	return m && bpftime_ringbuf_readable(m) ? EPOLLIN | EPOLLRDNORM : 0; /* ringbuf_map_poll_kern */
}

/* The consumer's half of the wakeup protocol: announce (or retract) that it sleeps. */
static void set_waiting(struct shim_obj *o, int waiting)
{
	if (o->kind == BPFTIME_OBJ_PERF_EVENT) {
		if (o->ring)
			bpftime_perf_ring_set_waiting(o->ring, waiting);
	} else if (o->map) {
		bpftime_ringbuf_set_waiting(o->map, waiting);
	}
}

static void drain(int waitfd)
{
	uint64_t v;
	while (read(waitfd, &v, sizeof(v)) == sizeof(v))
		;
}

typedef int (*epoll_ctl_fn)(int, int, int, struct epoll_event *);
typedef int (*epoll_pwait_fn)(int, struct epoll_event *, int, int, const sigset_t *);
typedef int (*epoll_pwait2_fn)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	static epoll_ctl_fn real;
	if (!real)
		real = (epoll_ctl_fn)next("epoll_ctl");
	struct shim_obj *o = fdtab_get(fd);
	if (!waitable(o))
		return real(epfd, op, fd, ev);
	if (o->kind == BPFTIME_OBJ_MAP && !fdtab_map(o)) {
		errno = EPERM;
		return -1;
	}
	int w = shim_wait_fd(fd, o);
	if (w < 0) {
		errno = EPERM; /* what epoll says of an fd that cannot be waited on */
		return -1;
	}
	pthread_mutex_lock(&g_lock);
	struct reg **pp = &g_regs, *r = NULL;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->epfd == epfd && (*pp)->fd == fd) {
			r = *pp;
			break;
		}
	int rc;
	if (op == EPOLL_CTL_ADD) {
		struct epoll_event wev = *ev;
		wev.events = (ev->events & ~(uint32_t)EPOLLOUT) | EPOLLIN;
		rc = real(epfd, EPOLL_CTL_ADD, w, &wev);
		if (rc == 0) {
			r = calloc(1, sizeof(*r));
			if (r) {
				*r = (struct reg){ epfd, fd, w, o, *ev, 0, g_regs };
				g_regs = r;
			}
		}
	} else if (op == EPOLL_CTL_MOD) {
		struct epoll_event wev = *ev;
		wev.events = (ev->events & ~(uint32_t)EPOLLOUT) | EPOLLIN;
		rc = real(epfd, EPOLL_CTL_MOD, w, &wev);
		if (rc == 0 && r)
			r->ev = *ev;
	} else {
		rc = real(epfd, EPOLL_CTL_DEL, w, ev);
		if (rc == 0 && r) {
			*pp = r->next;
			explicit_bzero(r, sizeof(*r)); /* it held fd numbers: see free_zeroed in conn.c */
			free(r);
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* Our registrations in epfd that are ready now, as events (up to max); also marks every ring of
 * the set as waited on (sleep = 1) or not (sleep = 0). */
static int ready_regs(int epfd, struct epoll_event *out, int max, int sleep, int *ours)
{
	int n = 0;
	*ours = 0;
	pthread_mutex_lock(&g_lock);
	for (struct reg *r = g_regs; r; r = r->next) {
		if (r->epfd != epfd)
			continue;
		(*ours)++;
		set_waiting(r->obj, sleep);
		uint32_t ready = r->ev.events & ready_mask(r->obj);
		if (ready && n < max) {
			out[n] = r->ev;
			out[n].events = ready;
			n++;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return n;
}

/* After a real wait: drop events of our eventfds (ours are reported from the rings), drain
 * the eventfds that fired (only those: an eventfd the wait did not report holds nothing, and a
 * read costs a syscall on every call of a busy consumer), and stop announcing sleep. Returns
 * the count of events kept. */
static int filter_ours(int epfd, struct epoll_event *ev, int n)
{
	pthread_mutex_lock(&g_lock);
	int k = 0;
	for (int i = 0; i < n; i++) {
		int mine = 0;
		for (struct reg *r = g_regs; r; r = r->next)
			if (r->epfd == epfd && r->ev.data.u64 == ev[i].data.u64) {
				mine = 1;
				r->fired = 1;
			}
		if (!mine)
			ev[k++] = ev[i];
	}
	for (struct reg *r = g_regs; r; r = r->next)
		if (r->epfd == epfd) {
			if (r->fired)
				drain(r->waitfd);
			r->fired = 0;
			set_waiting(r->obj, 0);
		}
	pthread_mutex_unlock(&g_lock);
	return k;
}

static int has_regs(int epfd)
{
	int found = 0;
	pthread_mutex_lock(&g_lock);
	for (struct reg *r = g_regs; r && !found; r = r->next)
		found = r->epfd == epfd;
	pthread_mutex_unlock(&g_lock);
	return found;
}

static int64_t ts_ns(const struct timespec *t);

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The one implementation of epoll_wait/epoll_pwait/epoll_pwait2 for sets with our fds.
 * timeout: NULL blocks; {0,0} polls. */
static int wait_with_rings(int epfd, struct epoll_event *events, int max, const struct timespec *timeout,
			   const sigset_t *sigmask)
{
	static epoll_pwait2_fn pwait2;
	static epoll_pwait_fn pwait;
	if (!pwait) {
		pwait = (epoll_pwait_fn)next("epoll_pwait");
		pwait2 = (epoll_pwait2_fn)next("epoll_pwait2");
	}
	int ours;
	int nonblocking = timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0;
	int64_t deadline = timeout && !nonblocking ? mono_ns() + timeout->tv_sec * 1000000000ll + timeout->tv_nsec : 0;
	for (;;) {
		/* Our events are put in the caller's array without faulting: EFAULT, as the kernel's
		 * ep_send_events(), when it cannot take them. */
		struct epoll_event mine[64];
		int lim = max < 64 ? max : 64;
		int n = ready_regs(epfd, mine, lim, 0, &ours);
		if (n == 0 && shim_server_lost()) {
			errno = EIO; /* nothing will ever arrive: the server and its objects are gone */
			return -1;
		}
		if (n == 0 && !nonblocking) {
			/* Announce the sleep, then look again: a producer either sees the announcement
			 * (and writes the eventfd) or published before we looked (and we see its data). */
			n = ready_regs(epfd, mine, lim, 1, &ours);
		}
		if (n > 0 && shim_write_user(events, mine, (size_t)n * sizeof(mine[0])) < 0) {
			errno = EFAULT;
			return -1;
		}
		struct timespec zero = { 0, 0 }, left;
		const struct timespec *t = n > 0 || nonblocking ? &zero : NULL;
		if (!t && timeout) {
			int64_t rem = deadline - mono_ns();
			if (rem < 0)
				rem = 0;
			left = (struct timespec){ rem / 1000000000, rem % 1000000000 };
			t = &left;
		}
		int m;
		if (pwait2) {
			m = pwait2(epfd, events + n, max - n, t, sigmask);
		} else {
			int ms = !t ? -1 : (int)(t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000);
			m = pwait(epfd, events + n, max - n, ms, sigmask);
		}
		if (m < 0) {
			int e = errno;
			filter_ours(epfd, events + n, 0);
			if (n > 0)
				return n;
			errno = e;
			return -1;
		}
		m = filter_ours(epfd, events + n, m);
		if (n > 0)
			return n + m;
		/* Woken by a producer (or a timeout): report the rings that are readable now. */
		struct epoll_event tmp[64];
		int extra = ready_regs(epfd, tmp, (int)(sizeof(tmp) / sizeof(tmp[0])), 0, &ours);
		for (int i = 0; i < extra && m < max; i++) {
			if (shim_write_user(events + m, &tmp[i], sizeof(tmp[i])) < 0) {
				if (m == 0) {
					errno = EFAULT;
					return -1;
				}
				break;
			}
			m++;
		}
		if (m > 0 || nonblocking || (timeout && mono_ns() >= deadline))
			return m;
		/* An eventfd count left from a wakeup we did not need: nothing to report, and the
		 * caller's time is not up, so wait again instead of returning 0 early. */
	}
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *events, int max, const struct timespec *timeout,
			const sigset_t *sigmask)
{
	if (max > 0 && has_regs(epfd))
		return wait_with_rings(epfd, events, max, timeout, sigmask);
	static epoll_pwait2_fn real;
	if (!real)
		real = (epoll_pwait2_fn)next("epoll_pwait2");
	return real(epfd, events, max, timeout, sigmask);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *events, int max, int timeout, const sigset_t *sigmask)
{
	if (max > 0 && has_regs(epfd)) {
		struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
		return wait_with_rings(epfd, events, max, timeout < 0 ? NULL : &ts, sigmask);
	}
	static epoll_pwait_fn real;
	if (!real)
		real = (epoll_pwait_fn)next("epoll_pwait");
	return real(epfd, events, max, timeout, sigmask);
}

EXPORT int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout)
{
	return epoll_pwait(epfd, events, max, timeout, NULL);
}

/* poll/ppoll: our fds are swapped for their eventfds for the real call and reported from the
 * rings. */
EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *sigmask)
{
	static ppoll_fn real;
	if (!real)
		real = (ppoll_fn)next("ppoll");
	struct shim_obj *objs[64];
	int orig[64], any = 0;
	struct pollfd probe[64];
	/* Too many to track, or not readable and writable (the kernel's EFAULT): the plain call. */
	if (n > 64 || !fdtab_count() || shim_read_user(probe, fds, n * sizeof(*fds)) < 0 ||
	    shim_write_user(fds, probe, n * sizeof(*fds)) < 0)
		return real(fds, n, timeout, sigmask);
	for (nfds_t i = 0; i < n; i++) {
		struct shim_obj *o = fds[i].fd >= 0 ? fdtab_get(fds[i].fd) : NULL;
		objs[i] = waitable(o) && (o->kind != BPFTIME_OBJ_MAP || fdtab_map(o)) ? o : NULL;
		orig[i] = fds[i].fd;
		any |= objs[i] != NULL;
	}
	if (!any)
		return real(fds, n, timeout, sigmask);
	int zero_timeout = timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0;
	int64_t deadline = timeout && !zero_timeout ? mono_ns() + ts_ns(timeout) : 0;
	for (;;) {
		int ready = 0;
		for (int pass = 0; pass < 2 && !ready && !(pass == 1 && zero_timeout); pass++) {
			for (nfds_t i = 0; i < n; i++) {
				if (!objs[i])
					continue;
				if (pass == 1)
					set_waiting(objs[i], 1);
				ready |= (fds[i].events & ready_mask(objs[i])) != 0;
			}
		}
		if (!ready && shim_server_lost()) {
			errno = EIO; /* nothing will ever arrive: the server and its objects are gone */
			return -1;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (!objs[i])
				continue;
			int w = shim_wait_fd(orig[i], objs[i]);
			fds[i].fd = w >= 0 ? w : -1;
		}
		struct timespec zero = { 0, 0 }, left = { 0, 0 };
		if (timeout && !ready && !zero_timeout) {
			int64_t rem = deadline - mono_ns();
			if (rem > 0)
				left = (struct timespec){ rem / 1000000000, rem % 1000000000 };
		}
		int rc = real(fds, n, ready || zero_timeout ? &zero : timeout ? &left : NULL, sigmask);
		int e = errno;
		int count = rc < 0 ? 0 : rc;
		for (nfds_t i = 0; i < n; i++) {
			if (!objs[i])
				continue;
			if (fds[i].fd >= 0 && rc > 0 && fds[i].revents)
				drain(fds[i].fd);
			if (rc > 0 && fds[i].revents)
				count--;
			fds[i].fd = orig[i];
			set_waiting(objs[i], 0);
			fds[i].revents = (short)(fds[i].events & ready_mask(objs[i]));
			if (fds[i].revents)
				count++;
		}
		if (rc < 0 && count == 0) {
			errno = e;
			return -1;
		}
		if (count > 0 || ready || zero_timeout || (timeout && mono_ns() >= deadline))
			return count;
		/* Woken by a stale eventfd count with nothing to read: the caller's time is not up. */
	}
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000L };
	return ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

/* select/pselect: the kernel's own select runs on copies of the sets in which each of our ring
 * fds is replaced by its eventfd (read set only: a ring is never writable or exceptional, and a
 * memfd would always look writable); the rings' bits are then set from the rings themselves.
 * Everything about the other fds (EBADF, nfds clipping, sockets and pipes) is the kernel's. */

#define SELECT_MAX_RINGS 64

struct sel_ring {
	int fd, waitfd;
	struct shim_obj *obj;
};

static int bit_isset(const unsigned long *s, int fd)
{
	return s && (s[fd / (8 * sizeof(long))] >> (fd % (8 * sizeof(long)))) & 1;
}

static void bit_set(unsigned long *s, int fd) { s[fd / (8 * sizeof(long))] |= 1ul << (fd % (8 * sizeof(long))); }

static void bit_clear(unsigned long *s, int fd) { s[fd / (8 * sizeof(long))] &= ~(1ul << (fd % (8 * sizeof(long)))); }

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The rings among the read set's fds below nfds (only read interest can make a ring ready; in
 * the other sets they are dropped). Returns how many, or -1 when there are more than we track. */
static int find_rings(int nfds, const unsigned long *r, const unsigned long *w, const unsigned long *e,
		      struct sel_ring *out)
{
	int n = 0;
	size_t words = ((size_t)nfds + 8 * sizeof(long) - 1) / (8 * sizeof(long));
	for (size_t i = 0; i < words; i++) {
		unsigned long any = (r ? r[i] : 0) | (w ? w[i] : 0) | (e ? e[i] : 0);
		while (any) {
			int fd = (int)(i * 8 * sizeof(long)) + __builtin_ctzl(any);
			any &= any - 1;
			if (fd >= nfds)
				break;
			struct shim_obj *o = fdtab_get(fd);
			if (!waitable(o) || (o->kind == BPFTIME_OBJ_MAP && !fdtab_map(o)))
				continue;
			if (n == SELECT_MAX_RINGS)
				return -1;
			out[n++] = (struct sel_ring){ fd, -1, o };
		}
	}
	return n;
}

/* One select over rings and ordinary fds. ts: the timeout (NULL blocks), updated to the time left
 * as the kernel's poll_select_finish() does; sigdata: pselect6's {sigset pointer, size} or NULL.
 * Returns the count of set bits, or -errno. */
static long select_rings(int nfds, unsigned long *const cin[3], unsigned long *const uout[3], struct timespec *ts,
			 const void *sigdata, struct sel_ring *rings, int nr)
{
	const unsigned long *r = cin[0]; /* the caller's read set, as copied in */
	if (ts && (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000))
		return -EINVAL;
	int top = nfds;
	for (int i = 0; i < nr; i++) {
		if (bit_isset(r, rings[i].fd)) {
			int wfd = shim_wait_fd(rings[i].fd, rings[i].obj);
			rings[i].waitfd = wfd >= 0 ? wfd : -1;
			if (wfd >= top)
				top = wfd + 1;
		}
	}
	const size_t bits = 8 * sizeof(long);
	size_t words = ((size_t)top + bits - 1) / bits, uwords = ((size_t)nfds + bits - 1) / bits;
	unsigned long *buf = calloc(6 * words, sizeof(long));
	if (!buf)
		return -ENOMEM;
	unsigned long *in[3] = { buf, buf + words, buf + 2 * words }, *out[3] = { buf + 3 * words, buf + 4 * words, buf + 5 * words };
	unsigned long *const *user = uout;
	for (int s = 0; s < 3; s++)
		if (cin[s])
			memcpy(in[s], cin[s], uwords * sizeof(long));
	for (int i = 0; i < nr; i++) {
		for (int s = 0; s < 3; s++)
			bit_clear(in[s], rings[i].fd);
		if (rings[i].waitfd >= 0)
			bit_set(in[0], rings[i].waitfd);
	}
	int zero_timeout = ts && ts->tv_sec == 0 && ts->tv_nsec == 0;
	int64_t deadline = ts ? mono_ns() + ts_ns(ts) : 0;
	long ret;
	for (;;) {
		/* Announce the sleep only before a look that may block (see wait_with_rings). */
		int ready = 0;
		for (int pass = 0; pass < 2 && !ready && !(pass == 1 && zero_timeout); pass++)
			for (int i = 0; i < nr; i++) {
				if (!bit_isset(r, rings[i].fd))
					continue;
				if (pass == 1)
					set_waiting(rings[i].obj, 1);
				ready |= ready_mask(rings[i].obj) != 0;
			}
		if (!ready && shim_server_lost()) {
			ret = -EIO; /* nothing will ever arrive: the server and its objects are gone */
			break;
		}
		struct timespec left = { 0, 0 };
		if (ts && !ready) {
			int64_t rem = deadline - mono_ns();
			if (rem > 0)
				left = (struct timespec){ rem / 1000000000, rem % 1000000000 };
		}
		for (int s = 0; s < 3; s++)
			memcpy(out[s], in[s], words * sizeof(long));
		ret = bpftime_raw_syscall(SYS_pselect6, top, (long)(user[0] ? out[0] : NULL), (long)(user[1] ? out[1] : NULL),
					  (long)(user[2] ? out[2] : NULL), (long)(ready || ts ? &left : NULL), (long)sigdata);
		long count = ret;
		for (int i = 0; i < nr; i++) {
			set_waiting(rings[i].obj, 0);
			if (rings[i].waitfd < 0)
				continue;
			if (ret >= 0 && bit_isset(out[0], rings[i].waitfd)) {
				drain(rings[i].waitfd);
				bit_clear(out[0], rings[i].waitfd);
				count--;
			}
		}
		if (ret < 0)
			break;
		for (int i = 0; i < nr; i++) {
			if (bit_isset(r, rings[i].fd) && ready_mask(rings[i].obj)) {
				bit_set(out[0], rings[i].fd);
				count++;
			}
		}
		ret = count;
		if (count > 0 || ready || zero_timeout || (ts && mono_ns() >= deadline))
			break;
		/* Woken by a stale eventfd count with nothing to read: the caller's time is not up. */
	}
	if (ret >= 0)
		for (int s = 0; s < 3; s++)
			if (user[s] && shim_write_user(user[s], out[s], uwords * sizeof(long)) < 0)
				ret = -EFAULT;
	free(buf);
	if (ts && !zero_timeout) {
		/* poll_select_finish(): the time left, never negative; a zero timeout is left alone. */
		int64_t rem = deadline - mono_ns();
		if (rem < 0)
			rem = 0;
		*ts = (struct timespec){ rem / 1000000000, rem % 1000000000 };
	}
	return ret;
}

static long select_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* The kernel's select() with a timeval (as glibc's select and syscall(SYS_select) both reach it). */
/* Copies of the caller's sets (read without faulting) and the rings in them; 0 rings (or an
 * unreadable set, which the kernel's own call then reports) means the plain syscall. */
struct sel_copy {
	unsigned long *c[3], *u[3];
	unsigned long *buf;
};

static int copy_sets(int nfds, void *r, void *w, void *e, struct sel_copy *sc, struct sel_ring *rings)
{
	memset(sc, 0, sizeof(*sc));
	if (nfds <= 0 || !fdtab_count())
		return 0;
	size_t uwords = ((size_t)nfds + 8 * sizeof(long) - 1) / (8 * sizeof(long));
	sc->buf = malloc(3 * uwords * sizeof(long));
	if (!sc->buf)
		return 0;
	void *user[3] = { r, w, e };
	for (int s = 0; s < 3; s++) {
		sc->u[s] = user[s];
		if (!user[s])
			continue;
		sc->c[s] = sc->buf + s * uwords;
		if (shim_read_user(sc->c[s], user[s], uwords * sizeof(long)) < 0)
			return 0;
	}
	int nr = find_rings(nfds, sc->c[0], sc->c[1], sc->c[2], rings);
	return nr < 0 ? 0 : nr;
}

long shim_select(int nfds, void *r, void *w, void *e, struct timeval *tv)
{
	struct sel_ring rings[SELECT_MAX_RINGS];
	struct sel_copy sc;
	int nr = copy_sets(nfds, r, w, e, &sc, rings);
	if (nr <= 0) {
		free(sc.buf);
		return bpftime_raw_syscall(SYS_select, nfds, (long)r, (long)w, (long)e, (long)tv, 0);
	}
	struct timespec ts;
	struct timeval t = { 0, 0 };
	if (tv) {
		if (shim_read_user(&t, tv, sizeof(t)) < 0) {
			free(sc.buf);
			return -EFAULT;
		}
		if (t.tv_sec < 0 || t.tv_usec < 0) {
			free(sc.buf);
			return -EINVAL;
		}
		/* kern_select() normalises microseconds above a second the same way. */
		ts = (struct timespec){ t.tv_sec + t.tv_usec / 1000000, (t.tv_usec % 1000000) * 1000 };
	}
	long ret = select_rings(nfds, sc.c, sc.u, tv ? &ts : NULL, NULL, rings, nr);
	free(sc.buf);
	if (tv && (ts.tv_sec || ts.tv_nsec || t.tv_sec || t.tv_usec)) {
		struct timeval left = { ts.tv_sec, ts.tv_nsec / 1000 };
		if (shim_write_user(tv, &left, sizeof(left)) < 0 && ret >= 0)
			ret = -EFAULT;
	}
	return ret;
}

/* The kernel's pselect6(): ts is updated, sigdata is { const sigset_t *, size_t }. */
long shim_pselect6(int nfds, void *r, void *w, void *e, struct timespec *uts, const void *sigdata)
{
	struct sel_ring rings[SELECT_MAX_RINGS];
	struct sel_copy sc;
	int nr = copy_sets(nfds, r, w, e, &sc, rings);
	if (nr <= 0) {
		free(sc.buf);
		return bpftime_raw_syscall(SYS_pselect6, nfds, (long)r, (long)w, (long)e, (long)uts, (long)sigdata);
	}
	struct timespec ts;
	if (uts && shim_read_user(&ts, uts, sizeof(ts)) < 0) {
		free(sc.buf);
		return -EFAULT;
	}
	int was_zero = uts && ts.tv_sec == 0 && ts.tv_nsec == 0;
	long ret = select_rings(nfds, sc.c, sc.u, uts ? &ts : NULL, sigdata, rings, nr);
	free(sc.buf);
	if (uts && !was_zero && shim_write_user(uts, &ts, sizeof(ts)) < 0 && ret >= 0)
		ret = -EFAULT;
	return ret;
}

EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	return (int)select_errno(shim_select(nfds, r, w, e, tv));
}

EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
	/* glibc's pselect gives the kernel a copy of the timeout (the caller's is never updated)
	 * and always passes the signal data, with a NULL set when there is no mask. */
	struct {
		const sigset_t *ss;
		size_t len;
	} data = { mask, _NSIG / 8 };
	struct timespec copy;
	if (ts && shim_read_user(&copy, ts, sizeof(copy)) < 0) {
		errno = EFAULT;
		return -1;
	}
	return (int)select_errno(shim_pselect6(nfds, r, w, e, ts ? &copy : NULL, &data));
}
