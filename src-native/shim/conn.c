/* The shim's connection to the syscall server: one per process, re-established after fork, and
 * the call loop that feeds the server the memory it asks for. Calls of several threads share it
 * as they share a kernel: each CALL carries a sequence number, the server answers each when it is
 * done (a test run later than a MAP_GET_NEXT_ID sent after it), and one waiting thread at a time
 * reads the socket and hands every reply to the thread that waits for its number. */
#include "shim.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <linux/membarrier.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/objfile.h"
#include "bpftime/proto.h"

static pthread_mutex_t g_conn_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_sock = -1;

/* The connection's lock is taken with asynchronous signals blocked: a handler that runs on a
 * thread holding it and makes a bpf() call of its own would wait for that thread forever
 * (fault signals stay open: they are what the fault-safe copies rely on). */
static __thread sigset_t t_conn_saved_mask;

static void conn_lock(void)
{
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	sigdelset(&all, SIGSYS);
	shim_sigmask_keep_faults(SIG_BLOCK, &all, &t_conn_saved_mask);
	pthread_mutex_lock(&g_conn_lock);
}

static void conn_unlock(void)
{
	pthread_mutex_unlock(&g_conn_lock);
	shim_sigmask_keep_faults(SIG_SETMASK, &t_conn_saved_mask, NULL);
}

/* This thread reads the socket for everyone (await_reply) and, while it waits there, whether it
 * has taken nothing of the next frame yet: what a bpf() call from a signal handler on this thread
 * finds (see await_reply). */
static __thread int t_reading;
static __thread volatile int t_between_frames;
static uint32_t g_seq;

/* Our pid for process_vm_readv on ourselves, cached (glibc's getpid() is a syscall); the fork
 * handler below refreshes it in the child. */
static pid_t g_pid;

static pid_t self_pid(void)
{
	pid_t p = __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
	if (!p) {
		p = getpid();
		__atomic_store_n(&g_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

int shim_in_memory_sharing_child(void)
{
	pid_t cached = __atomic_load_n(&g_pid, __ATOMIC_RELAXED);
	return cached && (pid_t)bpftime_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0) != cached;
}

int shim_read_user_syscall(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	struct iovec local = { dst, n }, remote = { (void *)src, n };
	/* process_vm_readv on ourselves: a bad address is an error, never a SIGSEGV. */
	ssize_t r = process_vm_readv(self_pid(), &local, 1, &remote, 1, 0);
	return r == (ssize_t)n ? 0 : -EFAULT;
}

int shim_write_user_syscall(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	struct iovec local = { (void *)src, n }, remote = { dst, n };
	ssize_t r = process_vm_writev(self_pid(), &local, 1, &remote, 1, 0);
	return r == (ssize_t)n ? 0 : -EFAULT;
}

/* Reads a NUL-terminated string of at most max bytes, page by page so that a string that ends
 * just before an unmapped page is still read. Returns its length including the NUL, or -EFAULT. */
static long read_user_str(char *dst, uint64_t addr, size_t max)
{
	size_t got = 0;
	while (got < max) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		if (chunk > max - got)
			chunk = max - got;
		if (shim_read_user(dst + got, (void *)(uintptr_t)(addr + got), chunk) < 0)
			return got ? (long)got : -EFAULT;
		void *nul = memchr(dst + got, 0, chunk);
		if (nul)
			return (long)((char *)nul - dst) + 1;
		got += chunk;
	}
	return (long)got;
}

/* When the server dies, every object of this process dies with it (ids, references and
 * attachments were the server's), so a new server cannot take them over: calls that need the
 * server fail at once with EIO, and waits on ring and perf buffers return EIO (poll.c) instead of
 * sleeping for ever; map commands on shared memory keep working. A watcher thread waits on the
 * server's pidfd so that a tool sleeping in such a wait learns it, and says so once on stderr.
 * The process never connects again: ids and pins it learnt would name other objects. */
static void free_zeroed(void *p, size_t n);
static int g_server_pid;      /* the server of the current connection */
static int g_watch_fd = -1;   /* pidfd of the server the watcher thread waits on */
static int g_lost;            /* pid of the server that went away; 0 while none did */

int shim_server_lost(void) { return __atomic_load_n(&g_lost, __ATOMIC_ACQUIRE) != 0; }

/* Wakes every wait on our ring and perf buffers (their eventfds): poll.c then sees g_lost. */
static void wake_waiters(void)
{
	size_t cap = fdtab_count();
	struct bpftime_fdref *refs = cap ? calloc(cap, sizeof(*refs)) : NULL;
	size_t n = refs ? fdtab_snapshot(refs, cap) : 0;
	for (size_t i = 0; i < n; i++) {
		struct shim_obj *o = fdtab_get(refs[i].fd);
		int w = o ? __atomic_load_n(&o->waitfd, __ATOMIC_ACQUIRE) : -1;
		uint64_t one = 1;
		if (w >= 0 && write(w, &one, sizeof(one)) < 0) {
			/* a full counter wakes the waiter as well */
		}
	}
	free_zeroed(refs, cap * sizeof(*refs));
}

static void server_went_away(int pid)
{
	int expected = 0;
	if (!__atomic_compare_exchange_n(&g_lost, &expected, pid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	char msg[256];
	int n = snprintf(msg, sizeof(msg),
			 "bpftime: the syscall server (pid %d) went away, and this process's BPF objects with it"
			 " - restart it with: bpftime serve\n", pid);
	if (write(2, msg, (size_t)n) < 0) {
		/* nowhere to say it */
	}
	wake_waiters();
}

/* Whether the server (g_watch_fd) has exited, waiting at most ms: its socket closes in do_exit
 * before the process counts as exited, so an EOF may arrive a moment before the pidfd says so. */
static int server_exited(int ms)
{
	struct pollfd p = { g_watch_fd, POLLIN, 0 };
	if (g_watch_fd < 0)
		return 0;
	int r;
	while ((r = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return r > 0 && (p.revents & POLLIN);
}

struct watch {
	int pidfd, pid;
	int started; /* the thread has taken the rest and registered its tid: the creator frees */
};

/* The watchers' thread ids (one per server this process talked to that may still exit). They are
 * the shim's, not the tool's: the tool's agent neither arms nor waits for them. */
#define MAX_WATCHERS 8
static int g_watcher_tids[MAX_WATCHERS];

__attribute__((visibility("default"))) int bpftime_shim_owns_thread(int tid)
{
	for (int i = 0; i < MAX_WATCHERS; i++)
		if (__atomic_load_n(&g_watcher_tids[i], __ATOMIC_ACQUIRE) == tid)
			return 1;
	return 0;
}

static int *watcher_slot(int tid)
{
	for (int i = 0; i < MAX_WATCHERS; i++) {
		int free_slot = 0;
		if (__atomic_compare_exchange_n(&g_watcher_tids[i], &free_slot, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return &g_watcher_tids[i];
	}
	return NULL;
}

static void *watch_server(void *arg)
{
	struct watch w = *(struct watch *)arg;
	sigset_t all;
	sigfillset(&all);
	/* A tool that probes itself may get int3 probe sites: the agent refuses those while any thread
	 * blocks SIGTRAP (a hit there would kill the process), so this one never does. */
	sigdelset(&all, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the tool's business */
	prctl(PR_SET_NAME, "bpftime-watch", 0, 0, 0);
	int *slot = watcher_slot((int)syscall(SYS_gettid));
	__atomic_store_n(&((struct watch *)arg)->started, 1, __ATOMIC_RELEASE); /* arg is gone now */
	struct pollfd p = { w.pidfd, POLLIN, 0 };
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	/* POLLNVAL: the tool closed the fd (close_range): nothing more to watch with. */
	if ((p.revents & POLLIN) && __atomic_load_n(&g_server_pid, __ATOMIC_ACQUIRE) == w.pid)
		server_went_away(w.pid);
	if (slot)
		__atomic_store_n(slot, 0, __ATOMIC_RELEASE);
	return NULL;
}

/* Called with g_conn_lock held, on a new connection: watch its server (once per server). */
static void watch(int sock)
{
	int pid = 0, fd = bpftime_client_peer_pidfd(sock, &pid);
	if (fd < 0)
		return;
	int same = pid == g_server_pid && g_watch_fd >= 0;
	__atomic_store_n(&g_server_pid, pid, __ATOMIC_RELEASE);
	if (same) {
		real_close(fd);
		return;
	}
	struct watch *w = malloc(sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	if (!w) {
		real_close(fd);
		return;
	}
	*w = (struct watch){ fd, pid, 0 };
	/* The tool's own agent (tool_agent.c) patches code and syncs cores with membarrier, whose
	 * registration waits for RCU grace periods once a second thread shares the mm (20 ms of a
	 * tool's start, seen on opensnoop). This watcher is often that second thread: register
	 * first, while that costs nothing. Registration only marks the mm; idempotent. */
	syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
	syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, watch_server, w) != 0) {
		free(w);
		real_close(fd);
	} else {
		/* Known as the shim's before anything else of this process can list its threads. */
		while (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE))
			sched_yield();
		free(w);
		g_watch_fd = fd; /* an older watcher's fd stays with it: that server may still exit */
	}
	pthread_attr_destroy(&attr);
}

static void on_fork_prepare(void) { pthread_mutex_lock(&g_conn_lock); }
static void on_fork_parent(void) { pthread_mutex_unlock(&g_conn_lock); }
struct waiter;
static struct waiter *g_waiters;
static int g_reading;
static void forget_waiters(void);

static void on_fork_child(void)
{
	__atomic_store_n(&g_pid, 0, __ATOMIC_RELAXED);
	forget_waiters(); /* their threads stayed in the parent */
	/* The child must not share the parent's conversation: it says hello on its own. */
	if (g_sock >= 0)
		real_close(g_sock);
	g_sock = -1;
	/* The watcher thread stayed in the parent: the child watches on its next connection. */
	memset(g_watcher_tids, 0, sizeof(g_watcher_tids));
	if (g_watch_fd >= 0)
		real_close(g_watch_fd);
	g_watch_fd = -1;
	g_server_pid = 0;
	pthread_mutex_unlock(&g_conn_lock);
}

__attribute__((constructor)) static void conn_init(void)
{
	pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

/* Heap memory that held fd numbers (the fd table snapshot, copies of the tool's bpf_attr, requests
 * and replies) is zeroed before it goes back to malloc, where the tool's next allocation may find
 * it: some tools read uninitialised fd members and close() them. bcc 0.26 does (its
 * ProcSyms::ModulePath for /tmp/perf-PID.map, inside bpftrace's ustack/usym); that close is
 * dropped when it hits one of our objects (interpose.c), and zeroed memory keeps our numbers out
 * of such garbage for whatever else reads it. */
static void free_zeroed(void *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

static void buf_free_zeroed(struct bpftime_buf *b)
{
	free_zeroed(b->data, b->cap);
	b->data = NULL;
	b->len = b->cap = 0;
}

static int say_hello(int sock)
{
	struct bpftime_buf b = { 0 };
	/* self_pid() also caches the pid, which tells a vfork child from us from now on
	 * (shim_in_memory_sharing_child) */
	struct bpftime_hello h = { .role = BPFTIME_ROLE_TOOL, .version = BPFTIME_PROTO_VERSION,
				   .pid = (uint32_t)self_pid() };
	prctl(PR_GET_NAME, h.comm, 0, 0, 0);
	size_t cap = fdtab_count(), n;
	struct bpftime_fdref *refs = cap ? calloc(cap, sizeof(*refs)) : NULL;
	n = refs ? fdtab_snapshot(refs, cap) : 0;
	h.n_held = (uint32_t)n;
	bpftime_buf_put(&b, &h, sizeof(h));
	for (size_t i = 0; i < n; i++)
		bpftime_buf_put(&b, &refs[i].ino, sizeof(uint64_t));
	free_zeroed(refs, cap * sizeof(*refs));
	char exe[PATH_MAX] = "";
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = 0;
	bpftime_buf_put(&b, exe, strlen(exe) + 1);
	int rc = bpftime_send_frame(sock, BPFTIME_MSG_HELLO, ++g_seq, b.data, (uint32_t)b.len, NULL, 0);
	buf_free_zeroed(&b);
	if (rc < 0)
		return rc;
	struct bpftime_frame hdr;
	void *payload;
	int fds[4], nfds;
	rc = bpftime_recv_frame(sock, &hdr, &payload, fds, 4, &nfds);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nfds; i++)
		real_close(fds[i]);
	int status = -EPROTO;
	if (hdr.type == BPFTIME_MSG_HELLO_REPLY && hdr.len >= sizeof(struct bpftime_hello_reply))
		status = ((struct bpftime_hello_reply *)payload)->status;
	free_zeroed(payload, hdr.len);
	return status;
}

/* Called with g_conn_lock held. */
static int ensure_connected(void)
{
	if (g_sock >= 0)
		return 0;
	if (shim_server_lost())
		return -EIO; /* for good: what the process knew (ids, pins, fds) went with the server */
	int s = bpftime_client_connect(1);
	if (s < 0)
		return s;
	int rc = say_hello(s);
	if (rc < 0) {
		real_close(s);
		return rc;
	}
	/* A receive timeout makes a signal handler interrupt our wait for an answer even under
	 * SA_RESTART (signal(7)), so that the caller can be told (on_interrupted). It never
	 * expires in effect: the wait goes on after it. */
	struct timeval tv = { 3600, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	g_sock = s;
	watch(s);
	return 0;
}

/* A thread waiting for the answer to its CALL seq (on the connection of generation gen). The
 * reading thread stores the reply here and wakes the owner through efd (an eventfd made when it
 * first parks: poll() on it ends with EINTR when a handler runs, even under SA_RESTART). */
struct waiter {
	uint32_t seq, gen;
	int told;   /* CANCEL sent */
	int done;   /* reply stored, or err set */
	int err;    /* the connection broke before the reply came */
	int efd;
	struct bpftime_frame hdr;
	void *payload;
	int fds[BPFTIME_MAX_FDS_PER_FRAME], nfds;
	struct waiter *next;
};
static uint32_t g_gen; /* bumped whenever the connection is dropped */
static int g_orphan = -1; /* a dropped socket the reading thread still reads: it closes it */

/* A signal handler ran in the waiting thread: the kernel's long calls (a test run's repeat loop)
 * stop with EINTR when a signal is pending, so the server is told, once per call; a call that can
 * stop answers EINTR, any other answers as it would have. */
static void on_interrupted(void *arg)
{
	struct waiter *w = arg;
	conn_lock();
	if (!w->told && !w->done && w->gen == g_gen && g_sock >= 0 &&
	    bpftime_send_frame(g_sock, BPFTIME_MSG_CANCEL, w->seq, NULL, 0, NULL, 0) == 0)
		w->told = 1;
	conn_unlock();
}

static void wake(struct waiter *w)
{
	uint64_t one = 1;
	if (w->efd >= 0 && write(w->efd, &one, sizeof(one)) < 0) {
		/* a full counter wakes it as well */
	}
}

/* Called with g_conn_lock held: the socket failed (rc); every call on it fails. */
static void drop_connection(int rc)
{
	if (g_sock >= 0 && g_reading) {
		shutdown(g_sock, SHUT_RDWR); /* its recv ends; the number stays ours until then */
		g_orphan = g_sock;
	} else if (g_sock >= 0) {
		real_close(g_sock);
	}
	g_sock = -1;
	for (struct waiter *o = g_waiters; o; o = o->next)
		if (!o->done && o->gen == g_gen) {
			o->err = rc;
			o->done = 1;
			wake(o);
		}
	g_gen++;
}

/* Called with g_conn_lock held: a reply for seq arrived; NULL-safe for an unknown seq. */
static void deliver(const struct bpftime_frame *hdr, void *payload, const int *fds, int nfds)
{
	struct waiter *o = g_waiters;
	while (o && !(o->seq == hdr->seq && o->gen == g_gen && !o->done))
		o = o->next;
	if (!o) { /* nobody asked: drop it */
		free_zeroed(payload, hdr->len);
		for (int i = 0; i < nfds; i++)
			real_close(fds[i]);
		return;
	}
	o->hdr = *hdr;
	o->payload = payload;
	memcpy(o->fds, fds, (size_t)nfds * sizeof(int));
	o->nfds = nfds;
	o->done = 1;
	wake(o);
}

static void unlink_waiter(struct waiter *w)
{
	for (struct waiter **pp = &g_waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->efd >= 0)
		real_close(w->efd);
	w->efd = -1;
}

/* In the child after fork: the waiting threads stayed in the parent; their eventfds did not. */
static void forget_waiters(void)
{
	for (struct waiter *o = g_waiters; o; o = o->next)
		if (o->efd >= 0)
			real_close(o->efd);
	g_waiters = NULL;
	g_reading = 0;
	if (g_orphan >= 0)
		real_close(g_orphan);
	g_orphan = -1;
}

/* Called with g_conn_lock held, w linked, in a signal handler that interrupted this thread while it
 * read the socket for everyone (await_reply below it on the stack). Where that reader had taken
 * nothing of a frame yet, this call reads frames itself, delivering each, until its own answer is
 * in; then it asks the server for a ping, whose answer the reader below will read when the handler
 * returns (so it looks again at its own call, which may be answered now, and never waits on a
 * socket that has nothing more for it). In the middle of a frame it cannot read: the call fails
 * with EINTR (a window of a few instructions). */
static void read_nested(struct waiter *w)
{
	if (!t_between_frames) {
		w->err = -EINTR;
		w->done = 1;
		return;
	}
	int sock = g_sock;
	while (!w->done && sock >= 0 && sock == g_sock) {
		conn_unlock();
		struct bpftime_frame hdr;
		void *payload = NULL;
		int fds[BPFTIME_MAX_FDS_PER_FRAME], nfds = 0;
		int rc = bpftime_recv_frame(sock, &hdr, &payload, fds, BPFTIME_MAX_FDS_PER_FRAME, &nfds);
		conn_lock();
		if (rc < 0) {
			if (sock == g_sock)
				drop_connection(rc);
		} else {
			deliver(&hdr, payload, fds, nfds);
		}
	}
	if (g_sock >= 0 && sock == g_sock)
		(void)bpftime_send_frame(g_sock, BPFTIME_MSG_PING, ++g_seq, NULL, 0, NULL, 0);
	if (!w->done) { /* the connection went meanwhile */
		w->err = -EPIPE;
		w->done = 1;
	}
}

/* Called with g_conn_lock held, w linked: waits for w's reply, reading the socket when no other
 * thread does. Returns with the lock held and w->done set. */
static void await_reply(struct waiter *w)
{
	while (!w->done) {
		if (!g_reading) {
			g_reading = 1;
			int sock = g_sock;
			conn_unlock();
			struct bpftime_frame hdr;
			void *payload = NULL;
			int fds[BPFTIME_MAX_FDS_PER_FRAME], nfds = 0;
			t_reading = 1;
			int rc = bpftime_recv_frame_intr(sock, &hdr, &payload, fds, BPFTIME_MAX_FDS_PER_FRAME,
							 &nfds, on_interrupted, w, &t_between_frames);
			t_reading = 0;
			conn_lock();
			g_reading = 0;
			if (sock == g_orphan) { /* dropped meanwhile: its waiters have failed */
				real_close(sock);
				g_orphan = -1;
				if (rc == 0) {
					free_zeroed(payload, hdr.len);
					for (int i = 0; i < nfds; i++)
						real_close(fds[i]);
				}
			} else if (rc < 0) {
				drop_connection(rc);
			} else {
				deliver(&hdr, payload, fds, nfds);
			}
			/* answered: someone else reads from now on, if anyone waits */
			for (struct waiter *o = g_waiters; o && w->done; o = o->next)
				if (o != w && !o->done) {
					wake(o);
					break;
				}
			continue;
		}
		if (t_reading) {
			/* A signal handler on the reading thread: the reader is below us on this stack and
			 * cannot go on before we return, so this call reads for itself. */
			read_nested(w);
			continue;
		}
		if (w->efd < 0 &&
		    (w->efd = (int)bpftime_raw_syscall(SYS_eventfd2, 0, EFD_CLOEXEC, 0, 0, 0, 0)) < 0) {
			w->efd = -1;
			/* no way to park: take turns through the lock */
			conn_unlock();
			sched_yield();
			conn_lock();
			continue;
		}
		conn_unlock();
		struct pollfd p = { w->efd, POLLIN, 0 };
		if (poll(&p, 1, -1) < 0 && errno == EINTR)
			on_interrupted(w);
		uint64_t v;
		if (p.revents & POLLIN && read(w->efd, &v, sizeof(v)) < 0) {
			/* drained by then */
		}
		conn_lock();
	}
}

struct blob {
	uint64_t addr;
	uint32_t len, flags;
	void *data;
};

static int build_call(struct bpftime_buf *b, uint32_t op, const uint64_t args[6], struct blob *blobs,
		      size_t nblobs)
{
	size_t cap = fdtab_count(), nref;
	struct bpftime_fdref *refs = cap ? calloc(cap, sizeof(*refs)) : NULL;
	nref = refs ? fdtab_snapshot(refs, cap) : 0;
	struct bpftime_call c = { .op = op, .nblobs = (uint32_t)nblobs, .nfdrefs = (uint32_t)nref };
	memcpy(c.args, args, sizeof(c.args));
	/* sized once: a realloc would free a chunk holding the call unzeroed */
	size_t total = sizeof(c) + nref * sizeof(*refs);
	for (size_t i = 0; i < nblobs; i++)
		total += sizeof(struct bpftime_blob) + ((blobs[i].len + 7) & ~(size_t)7);
	if (!b->data && (b->data = malloc(total)) != NULL)
		b->cap = total;
	int rc = bpftime_buf_put(b, &c, sizeof(c));
	for (size_t i = 0; i < nblobs && rc == 0; i++) {
		struct bpftime_blob bh = { blobs[i].addr, blobs[i].len, blobs[i].flags };
		rc = bpftime_buf_put(b, &bh, sizeof(bh));
		if (rc == 0 && !(blobs[i].flags & BPFTIME_BLOB_UNREADABLE))
			rc = bpftime_buf_put(b, blobs[i].data, blobs[i].len);
		if (rc == 0)
			rc = bpftime_buf_pad8(b);
	}
	if (rc == 0 && nref)
		rc = bpftime_buf_put(b, refs, nref * sizeof(*refs));
	free_zeroed(refs, cap * sizeof(*refs));
	return rc;
}

/* Reads what the server asked for and appends it to the blob list. */
static int add_need(struct blob **blobs, size_t *nblobs, const struct bpftime_blob *need)
{
	struct blob *nb = realloc(*blobs, (*nblobs + 1) * sizeof(**blobs));
	if (!nb)
		return -ENOMEM;
	*blobs = nb;
	struct blob *bl = &nb[(*nblobs)++];
	size_t max = need->len;
	if (max > BPFTIME_MAX_FRAME / 2)
		max = BPFTIME_MAX_FRAME / 2;
	bl->addr = need->addr;
	bl->flags = 0;
	bl->data = malloc(max ? max : 1);
	if (!bl->data)
		return -ENOMEM;
	long got;
	if (need->flags & BPFTIME_BLOB_STRING) {
		got = read_user_str(bl->data, need->addr, max);
		bl->flags |= BPFTIME_BLOB_STRING;
	} else {
		got = shim_read_user(bl->data, (void *)(uintptr_t)need->addr, max) == 0 ? (long)max : -EFAULT;
	}
	if (got < 0) {
		bl->flags |= BPFTIME_BLOB_UNREADABLE;
		bl->len = (uint32_t)max;
	} else {
		bl->len = (uint32_t)got;
	}
	return 0;
}

/* One request/answer round; on success *reply/payload hold the answer (caller frees). */
static int round_trip(struct bpftime_buf *req, struct bpftime_frame *hdr, void **payload, int *fds,
		      int *nfds)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = ensure_connected();
		if (rc < 0)
			return rc;
		struct waiter w = { .seq = ++g_seq, .gen = g_gen, .efd = -1 };
		rc = bpftime_send_frame(g_sock, BPFTIME_MSG_CALL, w.seq, req->data, (uint32_t)req->len,
					NULL, 0);
		if (rc == 0) {
			w.next = g_waiters;
			g_waiters = &w;
			await_reply(&w);
			unlink_waiter(&w);
			rc = w.err;
		} else {
			drop_connection(rc);
		}
		if (rc == 0) {
			*hdr = w.hdr;
			*payload = w.payload;
			memcpy(fds, w.fds, (size_t)w.nfds * sizeof(int));
			*nfds = w.nfds;
			return 0;
		}
		/* The server died (its objects with it: no retry), or the tool closed our socket or the
		 * server dropped us: try a fresh connection once. */
		conn_unlock();
		int gone = (rc == -EPIPE || rc == -ECONNRESET) && server_exited(1000);
		conn_lock();
		if (gone) {
			server_went_away(g_server_pid);
			return -EIO;
		}
	}
	return -EIO;
}

long shim_call(uint32_t op, const uint64_t args[6], const void *first_blob, size_t first_len,
	       uint64_t first_addr)
{
	struct shim_blob b = { first_blob, first_len, first_addr };
	return shim_call_blobs(op, args, &b, first_blob && first_len ? 1 : 0);
}

long shim_call_blobs(uint32_t op, const uint64_t args[6], const struct shim_blob *given, size_t ngiven)
{
	struct blob *blobs = NULL;
	size_t nblobs = 0;
	long result = -EIO;
	if (ngiven) {
		blobs = calloc(ngiven, sizeof(*blobs));
		if (!blobs)
			return -ENOMEM;
	}
	for (size_t i = 0; i < ngiven; i++) {
		blobs[i].addr = given[i].addr;
		blobs[i].len = (uint32_t)given[i].len;
		blobs[i].data = malloc(given[i].len ? given[i].len : 1);
		if (!blobs[i].data) {
			for (size_t j = 0; j < i; j++)
				free_zeroed(blobs[j].data, blobs[j].len);
			free(blobs);
			return -ENOMEM;
		}
		memcpy(blobs[i].data, given[i].data, given[i].len);
		nblobs++;
	}
	/* Each round either answers or asks for more memory; a well-formed call needs few rounds. */
	for (int round = 0; round < 16; round++) {
		struct bpftime_buf req = { 0 };
		if (build_call(&req, op, args, blobs, nblobs) < 0) {
			buf_free_zeroed(&req);
			result = -ENOMEM;
			break;
		}
		struct bpftime_frame hdr;
		void *payload = NULL;
		int fds[BPFTIME_MAX_FDS_PER_FRAME], nfds = 0;
		conn_lock();
		int rc = round_trip(&req, &hdr, &payload, fds, &nfds);
		conn_unlock();
		buf_free_zeroed(&req);
		if (rc < 0) {
			/* A server this user may not use (its socket is another user's, or it lets this
			 * uid in as an agent only) answers as a kernel answers an unprivileged user. */
			result = rc == -EPERM || rc == -EACCES ? -EPERM : -EIO;
			break;
		}
		if (hdr.type != BPFTIME_MSG_REPLY || hdr.len < sizeof(struct bpftime_reply)) {
			free_zeroed(payload, hdr.len);
			for (int i = 0; i < nfds; i++)
				real_close(fds[i]);
			result = -EPROTO;
			break;
		}
		struct bpftime_reply *r = payload;
		uint8_t *p = (uint8_t *)(r + 1), *end = (uint8_t *)payload + hdr.len;
		int fault = 0;
		for (uint32_t i = 0; i < r->nwrites && p + sizeof(struct bpftime_blob) <= end; i++) {
			struct bpftime_blob *w = (struct bpftime_blob *)p;
			p += sizeof(*w);
			if (p + w->len > end)
				break;
			if (w->flags & BPFTIME_BLOB_NOTICE) {
				/* a hint for the user (a probe no traced process will hit yet) */
				if (!getenv("BPFTIME_NO_HINTS"))
					(void)!write(2, p, w->len);
			} else if (shim_write_user((void *)(uintptr_t)w->addr, p, w->len) < 0) {
				fault = 1;
			}
			p += (w->len + 7) & ~7u;
		}
		if (r->nneeds) {
			for (uint32_t i = 0; i < r->nneeds && p + sizeof(struct bpftime_blob) <= end; i++) {
				add_need(&blobs, &nblobs, (struct bpftime_blob *)p);
				p += sizeof(struct bpftime_blob);
			}
			for (int i = 0; i < nfds; i++)
				real_close(fds[i]);
			free_zeroed(payload, hdr.len);
			continue;
		}
		if (r->err) {
			result = -r->err;
		} else if (r->ret_fd_idx >= 0 && r->ret_fd_idx < nfds) {
			int fd = fds[r->ret_fd_idx];
			fds[r->ret_fd_idx] = -1;
			fdtab_adopt(fd);
			result = fd;
		} else {
			result = r->ret;
		}
		if (fault && result >= 0 && r->ret_fd_idx < 0)
			result = -EFAULT;
		for (int i = 0; i < nfds; i++)
			if (fds[i] >= 0)
				real_close(fds[i]);
		free_zeroed(payload, hdr.len);
		break;
	}
	for (size_t i = 0; i < nblobs; i++)
		free_zeroed(blobs[i].data, blobs[i].len);
	free(blobs);
	if (result != -EIO)
		shim_load_tool_agent(); /* outside the lock: the agent talks to the server on its own */
	return result;
}

void shim_release(uint64_t ino)
{
	conn_lock();
	if (g_sock >= 0) {
		struct bpftime_release rel = { ino };
		int rc = bpftime_send_frame(g_sock, BPFTIME_MSG_RELEASE, ++g_seq, &rel, sizeof(rel), NULL, 0);
		if (rc < 0 && !g_reading) /* a reading thread learns it from its recv */
			drop_connection(rc);
	}
	conn_unlock();
}
