/* Stand-ins for struct task_struct: what bpf_get_current_task() returns in a traced process.
 *
 * Tools read the current task with CO-RE (`BPF_CORE_READ(task, real_parent, tgid)` becomes two
 * bpf_probe_read_kernel calls at offsets libbpf took from the running kernel's BTF). So each
 * thread that asks gets a zeroed buffer of the kernel's sizeof(struct task_struct), with the
 * fields the server found in that BTF (MSG_TASK_LAYOUT, proto.h) written where the kernel keeps
 * them, and probe_read_kernel reads these buffers (host hook kernel_read) and nothing else.
 *
 * What a stand-in holds:
 *   pid, tgid          the thread's ids (bpf_get_current_pid_tgid())
 *   comm               the thread's name, read (prctl) whenever a program reads it
 *   real_parent/parent a stand-in of the parent process: tgid = pid = getppid(), comm and start
 *                      time from /proc/<ppid>/stat, re-read only when getppid() changes
 *   group_leader       the stand-in of the process's main thread (itself for the main thread)
 *   start_time/_boottime  from /proc/self/task/<tid>/stat, once per thread
 *   real_cred/cred     a struct cred after the task in the same slot: uid/gid/euid/egid read
 *                      (getresuid/getresgid) when a program reads them
 *   flags, exit_code   0: a live user thread
 *   nsproxy            the process's namespaces, ns.inum as /proc shows them (task_ns.c)
 * Fields are made current when a program reads them through the hook, so get_current_task()
 * itself costs the (cached) pid_tgid and a compare; bpf_get_current_task_btf() (direct loads,
 * no hook) makes everything current at the call.
 *
 * Memory: stand-ins live in slots of arena chunks (mmap'ed, never unmapped), so "is this address
 * a stand-in" is a range check and a slot state, lock-free. Slots are claimed with a CAS and
 * freed at thread exit (a pthread key destructor). The main thread's and the parent's stand-ins
 * belong to the process and are never freed. The chunks and the process state are
 * MADV_WIPEONFORK: a fork child starts with no stand-ins (its threads and parent differ) while
 * keeping the chunk addresses. The process state names its process (set when the layout comes,
 * and in fork children by an atfork handler), so a vfork child, which shares our memory and TLS,
 * knows it is not us: it is a "guest" with one reusable slot and leaves our stand-ins alone.
 *
 * Everything here may run inside a program at any point of the target (syscall hooks, uprobes,
 * signal handlers): no malloc, no stdio, no locks; /proc is read with open/read/close. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "task_ns.h"

#define SLOTS_PER_CHUNK 64
#define MAX_CHUNKS 256 /* 16384 threads asking at once */
#define PAGE 4096u
#define MAX_TASK_SIZE (1u << 20) /* a sanity bound on what the server says */
#define COMM_MAX 64

enum { SLOT_FREE = 0, SLOT_LIVE = 1 };
enum { KIND_THREAD = 1, KIND_PARENT = 2 };
enum { F_TIMES = 1 }; /* start times filled for this identity */

/* Kept beside the slots (at the start of each chunk), not in them: the stand-in bytes are only
 * what the kernel struct holds. */
struct slot_meta {
	uint32_t state;  /* SLOT_FREE / SLOT_LIVE, claimed by CAS */
	uint32_t kind;   /* KIND_THREAD / KIND_PARENT */
	uint64_t ident;  /* what it describes, tgid << 32 | tid (a parent: ppid << 32 | ppid); 0: nothing yet */
	uint32_t owner;  /* KIND_THREAD: the thread's tid; KIND_PARENT: the tgid whose parent it is */
	uint32_t flags;  /* F_* */
};

/* Per process, on a wipe-on-fork page. */
struct proc_state {
	uint32_t tgid;       /* the process these belong to; 0 until first use (and after a fork) */
	uint32_t pad;
	uint8_t *leader;     /* the main thread's stand-in */
	uint8_t *parent;     /* the parent process's stand-in */
	uint8_t *guest;      /* a vfork child's stand-in (it shares this memory) */
	uint8_t *guest_parent;
};

static struct bpftime_task_layout g_l;
static int g_have_layout;
static size_t g_cred_off;   /* where a slot's struct cred starts, 0: no cred */
static size_t g_slot_size;
static size_t g_meta_bytes; /* page-rounded metadata at the start of a chunk */
static size_t g_chunk_bytes;
static uint8_t *g_chunks[MAX_CHUNKS];
static struct proc_state *g_proc;
static int g_wipe_ok;       /* MADV_WIPEONFORK works; else an atfork handler wipes */
static pthread_key_t g_key;
static long g_clk_tck = 100;

static __thread uint8_t *t_self;
static __thread uint64_t t_self_ident; /* the pid_tgid t_self was checked for: the fast path */
/* The other thread's stand-in (usually the main thread's) whose comm this thread last read from
 * /proc: read once per thread, then its owner keeps it current. */
static __thread uint8_t *t_comm_seen;
static __thread uint64_t t_comm_seen_ident;

static int init_state(void);

/* ---- layout ---- */

static int32_t field_or_none(int32_t off, uint32_t size, uint32_t limit)
{
	return off >= 0 && (uint64_t)off + size <= limit ? off : -1;
}

void agent_task_set_layout(const void *payload, uint32_t len)
{
	/* The first layout stays: slots are sized by it, and any later server (after a restart)
	 * describes the same running kernel. */
	if (len < sizeof(struct bpftime_task_layout) || __atomic_load_n(&g_have_layout, __ATOMIC_ACQUIRE))
		return;
	struct bpftime_task_layout l;
	memcpy(&l, payload, sizeof(l));
	if (l.task_size == 0 || l.task_size > MAX_TASK_SIZE)
		return;
	/* Never write outside a slot, whatever the message says. */
	uint32_t ts = l.task_size, cs = l.cred_size > MAX_TASK_SIZE ? 0 : l.cred_size;
	l.pid = field_or_none(l.pid, 4, ts);
	l.tgid = field_or_none(l.tgid, 4, ts);
	l.real_parent = field_or_none(l.real_parent, 8, ts);
	l.parent = field_or_none(l.parent, 8, ts);
	l.group_leader = field_or_none(l.group_leader, 8, ts);
	if (l.comm_len == 0 || l.comm_len > COMM_MAX)
		l.comm = -1;
	l.comm = field_or_none(l.comm, l.comm_len, ts);
	l.flags = field_or_none(l.flags, 4, ts);
	l.start_time = field_or_none(l.start_time, 8, ts);
	l.start_boottime = field_or_none(l.start_boottime, 8, ts);
	l.exit_code = field_or_none(l.exit_code, 4, ts);
	l.cred_uid = field_or_none(l.cred_uid, 4, cs);
	l.cred_gid = field_or_none(l.cred_gid, 4, cs);
	l.cred_euid = field_or_none(l.cred_euid, 4, cs);
	l.cred_egid = field_or_none(l.cred_egid, 4, cs);
	if (cs == 0) {
		l.real_cred = l.cred = -1;
	} else {
		l.real_cred = field_or_none(l.real_cred, 8, ts);
		l.cred = field_or_none(l.cred, 8, ts);
	}
	l.cred_size = cs;
	size_t task_bytes = ((size_t)ts + 63) & ~(size_t)63;
	g_cred_off = cs ? task_bytes : 0;
	g_slot_size = task_bytes + (((size_t)cs + 63) & ~(size_t)63);
	g_meta_bytes = (SLOTS_PER_CHUNK * sizeof(struct slot_meta) + PAGE - 1) & ~(size_t)(PAGE - 1);
	g_chunk_bytes = (g_meta_bytes + SLOTS_PER_CHUNK * g_slot_size + PAGE - 1) & ~(size_t)(PAGE - 1);
	g_l = l;
	agent_task_ns_set_layout(payload, len, ts);
	__atomic_store_n(&g_have_layout, 1, __ATOMIC_RELEASE);
	/* Called on the agent's thread in the process itself: the process state is this process's
	 * from now on (a vfork child asking first would otherwise take it). */
	if (init_state()) {
		uint32_t none = 0;
		__atomic_compare_exchange_n(&g_proc->tgid, &none, (uint32_t)getpid(), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	}
}

/* ---- process state, chunks, slots ---- */

/* A fork child (through libc) takes its process state at once: were its first stand-in asked for
 * in a vfork child of its own (which shares its memory), that one would take it instead. Without
 * MADV_WIPEONFORK, this is also where the parent's stand-ins are dropped. */
static void after_fork_child(void)
{
	if (!g_wipe_ok) {
		for (int c = 0; c < MAX_CHUNKS && g_chunks[c]; c++)
			memset(g_chunks[c], 0, g_meta_bytes);
		memset(g_proc, 0, sizeof(*g_proc));
	}
	g_proc->tgid = (uint32_t)getpid();
}

static void *wipe_on_fork_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (g_wipe_ok && madvise(p, bytes, MADV_WIPEONFORK) != 0)
		g_wipe_ok = 0; /* cannot happen after the first success; the atfork handler covers it */
	return p;
}

static void slot_release(void *slot);

static int init_state(void)
{
	/* 0 nothing, 1 being set up, 2 ready, 3 failed. A thread finding it being set up gets no
	 * task this time rather than waiting (it may be a signal handler on the same thread). */
	static int state;
	int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
	if (s == 2)
		return 1;
	if (s != 0 || !__atomic_compare_exchange_n(&state, &s, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return 0;
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || pthread_key_create(&g_key, slot_release) != 0) {
		__atomic_store_n(&state, 3, __ATOMIC_RELEASE);
		return 0;
	}
	g_wipe_ok = madvise(p, PAGE, MADV_WIPEONFORK) == 0;
	long t = sysconf(_SC_CLK_TCK);
	if (t > 0)
		g_clk_tck = t;
	g_proc = p;
	pthread_atfork(NULL, NULL, after_fork_child);
	__atomic_store_n(&state, 2, __ATOMIC_RELEASE);
	return 1;
}

static inline struct slot_meta *chunk_meta(uint8_t *chunk) { return (struct slot_meta *)chunk; }
static inline uint8_t *chunk_slot(uint8_t *chunk, unsigned i) { return chunk + g_meta_bytes + i * g_slot_size; }

/* The slot containing address a, or NULL. */
static uint8_t *slot_of(uintptr_t a, struct slot_meta **meta)
{
	for (int c = 0; c < MAX_CHUNKS; c++) {
		uint8_t *base = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
		if (!base)
			return NULL;
		uintptr_t first = (uintptr_t)base + g_meta_bytes;
		if (a < first || a >= first + SLOTS_PER_CHUNK * g_slot_size)
			continue;
		unsigned i = (unsigned)((a - first) / g_slot_size);
		*meta = &chunk_meta(base)[i];
		return chunk_slot(base, i);
	}
	return NULL;
}

static uint8_t *slot_alloc(uint32_t kind, uint32_t owner, struct slot_meta **meta)
{
	for (int c = 0; c < MAX_CHUNKS; c++) {
		uint8_t *base = __atomic_load_n(&g_chunks[c], __ATOMIC_ACQUIRE);
		if (!base) {
			uint8_t *fresh = wipe_on_fork_map(g_chunk_bytes), *none = NULL;
			if (!fresh)
				return NULL;
			if (__atomic_compare_exchange_n(&g_chunks[c], &none, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				base = fresh;
			} else {
				munmap(fresh, g_chunk_bytes);
				base = none;
			}
		}
		struct slot_meta *m = chunk_meta(base);
		for (unsigned i = 0; i < SLOTS_PER_CHUNK; i++) {
			uint32_t free_ = SLOT_FREE;
			if (__atomic_load_n(&m[i].state, __ATOMIC_RELAXED) != SLOT_FREE ||
			    !__atomic_compare_exchange_n(&m[i].state, &free_, SLOT_LIVE, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				continue;
			uint8_t *s = chunk_slot(base, i);
			memset(s, 0, g_slot_size); /* a reused slot must not show its last thread */
			m[i].kind = kind;
			m[i].owner = owner;
			m[i].ident = 0;
			m[i].flags = 0;
			*meta = &m[i];
			return s;
		}
	}
	return NULL;
}

/* Thread exit (pthread key destructor): the thread's own slot goes back, unless the process
 * keeps it (main thread) or a fork handed this thread a new identity. */
static void slot_release(void *slot)
{
	struct slot_meta *m = NULL;
	uint8_t *s = slot_of((uintptr_t)slot, &m);
	if (!s || s == g_proc->leader || s == g_proc->guest)
		return;
	if (m->kind == KIND_THREAD && m->owner == (uint32_t)gettid())
		__atomic_store_n(&m->state, SLOT_FREE, __ATOMIC_RELEASE);
}

/* ---- writing fields ---- */

static inline void put32(uint8_t *s, int32_t off, uint32_t v)
{
	if (off >= 0)
		memcpy(s + off, &v, 4);
}

static inline void put64(uint8_t *s, int32_t off, uint64_t v)
{
	if (off >= 0)
		memcpy(s + off, &v, 8);
}

static void put_comm(uint8_t *s, const char *name, size_t n)
{
	if (g_l.comm < 0)
		return;
	if (n > g_l.comm_len - 1)
		n = g_l.comm_len - 1;
	char buf[COMM_MAX] = { 0 };
	memcpy(buf, name, n);
	memcpy(s + g_l.comm, buf, g_l.comm_len); /* the whole field: no tail of a longer old name */
}

/* Reads a small /proc file into buf (NUL-terminated); length or -1. */
static long read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* "/proc/<a>[/task/<b>]/<leaf>" without stdio. */
static void proc_path(char *out, uint32_t a, uint32_t b, const char *leaf)
{
	char *p = out;
	const char *pre = "/proc/";
	while (*pre)
		*p++ = *pre++;
	for (int pass = 0; pass < (b ? 2 : 1); pass++) {
		uint32_t v = pass ? b : a;
		char d[10];
		int k = 0;
		do
			d[k++] = (char)('0' + v % 10);
		while ((v /= 10) && k < 10);
		while (k)
			*p++ = d[--k];
		const char *mid = pass || !b ? "/" : "/task/";
		while (*mid)
			*p++ = *mid++;
	}
	while (*leaf)
		*p++ = *leaf++;
	*p = 0;
}

/* From a /proc stat line: the name between the parentheses (it may itself hold ')') and field
 * 22, starttime in clock ticks since boot. */
static int parse_stat(const char *st, const char **name, size_t *name_len, uint64_t *ticks)
{
	const char *open_ = strchr(st, '('), *close_ = strrchr(st, ')');
	if (!open_ || !close_ || close_ < open_)
		return -1;
	*name = open_ + 1;
	*name_len = (size_t)(close_ - open_ - 1);
	const char *p = close_ + 1; /* the space before field 3 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -1;
	}
	uint64_t v = 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	*ticks = v;
	return 0;
}

/* start_boottime from /proc ticks; start_time is CLOCK_MONOTONIC: boot time minus the time
 * spent suspended since boot (BOOTTIME - MONOTONIC now). */
static void put_times(uint8_t *s, uint64_t ticks)
{
	uint64_t boot_ns = ticks * (1000000000ull / (uint64_t)g_clk_tck);
	struct timespec b, m;
	clock_gettime(CLOCK_BOOTTIME, &b);
	clock_gettime(CLOCK_MONOTONIC, &m);
	int64_t suspended = ((int64_t)b.tv_sec - m.tv_sec) * 1000000000ll + (b.tv_nsec - m.tv_nsec);
	put64(s, g_l.start_boottime, boot_ns);
	put64(s, g_l.start_time, suspended > 0 && (uint64_t)suspended < boot_ns ? boot_ns - (uint64_t)suspended : boot_ns);
}

/* ---- the parent process ---- */

static void fill_parent(uint8_t *s, struct slot_meta *m, uint32_t ppid)
{
	char path[64], st[512];
	put32(s, g_l.pid, ppid);
	put32(s, g_l.tgid, ppid);
	put64(s, g_l.group_leader, (uint64_t)(uintptr_t)s); /* the process, as its main thread */
	proc_path(path, ppid, 0, "stat");
	const char *name;
	size_t n;
	uint64_t ticks;
	if (ppid && read_small(path, st, sizeof(st)) > 0 && parse_stat(st, &name, &n, &ticks) == 0) {
		put_comm(s, name, n);
		put_times(s, ticks);
	} else {
		put_comm(s, "", 0);
	}
	__atomic_store_n(&m->ident, ((uint64_t)ppid << 32) | ppid, __ATOMIC_RELEASE);
}

/* The stand-in of the parent of process tgid (for a guest: of the vfork child). Filled when made;
 * refreshed when read (refresh_parent). */
static uint8_t *get_parent(uint8_t **where, uint32_t tgid)
{
	uint8_t *p = __atomic_load_n(where, __ATOMIC_ACQUIRE);
	if (p)
		return p;
	struct slot_meta *m = NULL;
	p = slot_alloc(KIND_PARENT, tgid, &m);
	if (!p)
		return NULL;
	fill_parent(p, m, (uint32_t)getppid());
	uint8_t *none = NULL;
	if (!__atomic_compare_exchange_n(where, &none, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&m->state, SLOT_FREE, __ATOMIC_RELEASE);
		return none;
	}
	return p;
}

/* A process is reparented when its parent exits: getppid() tells (one cheap syscall); /proc is
 * read again only then. Only the child process itself can ask. */
static void refresh_parent(uint8_t *s, struct slot_meta *m, uint32_t my_tgid)
{
	if (m->owner != my_tgid)
		return;
	uint32_t ppid = (uint32_t)getppid();
	if (__atomic_load_n(&m->ident, __ATOMIC_ACQUIRE) != (((uint64_t)ppid << 32) | ppid))
		fill_parent(s, m, ppid);
}

/* ---- threads ---- */

static void refresh_comm(uint8_t *s, struct slot_meta *m, uint32_t my_tid, uint32_t my_tgid)
{
	if (g_l.comm < 0)
		return;
	uint64_t ident = __atomic_load_n(&m->ident, __ATOMIC_ACQUIRE);
	if (m->owner == my_tid && (uint32_t)(ident >> 32) == my_tgid) {
		char name[17] = { 0 }; /* the kernel's TASK_COMM_LEN is 16 */
		if (prctl(PR_GET_NAME, name, 0, 0, 0) == 0)
			put_comm(s, name, strnlen(name, 16));
		return;
	}
	/* Another thread of this process (the main thread, read through group_leader): its name
	 * from /proc once per reading thread; the owner refreshes it when it reads it itself. */
	if ((uint32_t)(ident >> 32) != my_tgid || (t_comm_seen == s && t_comm_seen_ident == ident))
		return;
	char path[64], name[64];
	proc_path(path, my_tgid, m->owner, "comm");
	long n = read_small(path, name, sizeof(name));
	if (n > 0) {
		if (name[n - 1] == '\n')
			n--;
		put_comm(s, name, (size_t)n);
	}
	t_comm_seen = s;
	t_comm_seen_ident = ident;
}

static void fill_times(uint8_t *s, struct slot_meta *m)
{
	if ((m->flags & F_TIMES) || (g_l.start_time < 0 && g_l.start_boottime < 0))
		return;
	uint64_t ident = __atomic_load_n(&m->ident, __ATOMIC_ACQUIRE);
	char path[64], st[512];
	proc_path(path, (uint32_t)(ident >> 32), (uint32_t)ident, "stat");
	const char *name;
	size_t n;
	uint64_t ticks;
	if (read_small(path, st, sizeof(st)) > 0 && parse_stat(st, &name, &n, &ticks) == 0)
		put_times(s, ticks);
	m->flags |= F_TIMES;
}

/* The thread's credentials as the kernel's struct cred holds them (real and effective ids).
 * Only the process itself can say; glibc keeps its threads' ids in step. */
static void refresh_cred(uint8_t *s, struct slot_meta *m, uint32_t my_tgid)
{
	if (!g_cred_off || (uint32_t)(m->ident >> 32) != my_tgid)
		return;
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	uint8_t *c = s + g_cred_off;
	if (getresuid(&ru, &eu, &su) == 0) {
		put32(c, g_l.cred_uid, ru);
		put32(c, g_l.cred_euid, eu);
	}
	if (getresgid(&rg, &eg, &sg) == 0) {
		put32(c, g_l.cred_gid, rg);
		put32(c, g_l.cred_egid, eg);
	}
}

static void fill_thread(uint8_t *s, struct slot_meta *m, uint32_t tid, uint32_t tgid, uint8_t *leader, uint8_t *parent)
{
	put32(s, g_l.pid, tid);
	put32(s, g_l.tgid, tgid);
	put64(s, g_l.real_parent, (uint64_t)(uintptr_t)parent);
	put64(s, g_l.parent, (uint64_t)(uintptr_t)parent);
	put64(s, g_l.group_leader, (uint64_t)(uintptr_t)leader);
	if (g_cred_off) {
		put64(s, g_l.real_cred, (uint64_t)(uintptr_t)(s + g_cred_off));
		put64(s, g_l.cred, (uint64_t)(uintptr_t)(s + g_cred_off));
	}
	agent_task_ns_put(s);
	m->flags = 0;
	__atomic_store_n(&m->ident, ((uint64_t)tgid << 32) | tid, __ATOMIC_RELEASE);
	refresh_comm(s, m, tid, tgid); /* a name from the start: stand-ins are also read by address */
}

/* The main thread's stand-in, made by whichever thread needs it first. */
static uint8_t *get_leader(uint32_t tgid)
{
	uint8_t *l = __atomic_load_n(&g_proc->leader, __ATOMIC_ACQUIRE);
	if (l)
		return l;
	struct slot_meta *m = NULL;
	l = slot_alloc(KIND_THREAD, tgid, &m);
	if (!l)
		return NULL;
	fill_thread(l, m, tgid, tgid, l, get_parent(&g_proc->parent, tgid));
	uint8_t *none = NULL;
	if (!__atomic_compare_exchange_n(&g_proc->leader, &none, l, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&m->state, SLOT_FREE, __ATOMIC_RELEASE);
		return none;
	}
	return l;
}

/* A vfork child runs on its parent's memory and TLS until it execs or exits: one slot kept for
 * such guests, refilled for each, so the parent's own stand-ins stay as they are. */
static uint8_t *guest_task(uint32_t tid, uint32_t tgid)
{
	uint8_t *g = __atomic_load_n(&g_proc->guest, __ATOMIC_ACQUIRE);
	struct slot_meta *m = NULL;
	if (!g) {
		g = slot_alloc(KIND_THREAD, tid, &m);
		if (!g)
			return NULL;
		uint8_t *none = NULL;
		if (!__atomic_compare_exchange_n(&g_proc->guest, &none, g, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&m->state, SLOT_FREE, __ATOMIC_RELEASE);
			g = none;
		}
	}
	if (!slot_of((uintptr_t)g, &m))
		return NULL;
	if (m->ident != (((uint64_t)tgid << 32) | tid)) {
		m->owner = tid;
		uint8_t *parent = get_parent(&g_proc->guest_parent, tgid);
		struct slot_meta *pm = NULL;
		if (parent && slot_of((uintptr_t)parent, &pm)) {
			pm->owner = tgid;
			refresh_parent(parent, pm, tgid);
		}
		fill_thread(g, m, tid, tgid, g, parent);
	}
	return g;
}

static void refresh_all(uint8_t *s, struct slot_meta *m, uint32_t tid, uint32_t tgid)
{
	refresh_comm(s, m, tid, tgid);
	fill_times(s, m);
	refresh_cred(s, m, tgid);
	agent_task_ns_refresh();
	struct slot_meta *pm = NULL;
	uint8_t *p = NULL;
	if (g_l.real_parent >= 0)
		memcpy(&p, s + g_l.real_parent, sizeof(p));
	if (p && slot_of((uintptr_t)p, &pm) == p)
		refresh_parent(p, pm, tgid);
	uint8_t *l = NULL;
	if (g_l.group_leader >= 0)
		memcpy(&l, s + g_l.group_leader, sizeof(l));
	if (l && l != s && slot_of((uintptr_t)l, &pm) == l) {
		refresh_comm(l, pm, tid, tgid);
		fill_times(l, pm);
	}
}

/* ---- the host hooks ---- */

static uint64_t current_task(int btf);

/* The hooks run inside programs, anywhere in the application: they leave its errno alone. */
uint64_t agent_task_current(int btf)
{
	int saved = errno;
	uint64_t t = current_task(btf);
	errno = saved;
	return t;
}

static uint64_t current_task(int btf)
{
	uint64_t pt = bpftime_current_pid_tgid();
	/* Same thread, same identity as last time: a fork or vfork child has another pid_tgid. */
	if (__builtin_expect(!btf && t_self && t_self_ident == pt, 1))
		return (uint64_t)(uintptr_t)t_self;
	if (!__atomic_load_n(&g_have_layout, __ATOMIC_ACQUIRE) || !init_state())
		return 0;
	uint32_t tid = (uint32_t)pt, tgid = (uint32_t)(pt >> 32);
	uint32_t owner_tgid = __atomic_load_n(&g_proc->tgid, __ATOMIC_ACQUIRE);
	if (owner_tgid == 0) { /* first use in a child forked without libc (page wiped) */
		__atomic_compare_exchange_n(&g_proc->tgid, &owner_tgid, tgid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		owner_tgid = __atomic_load_n(&g_proc->tgid, __ATOMIC_ACQUIRE);
	}
	struct slot_meta *m = NULL;
	uint8_t *s;
	if (owner_tgid != tgid) {
		s = guest_task(tid, tgid);
		if (s && btf && slot_of((uintptr_t)s, &m))
			refresh_all(s, m, tid, tgid);
		return (uint64_t)(uintptr_t)s;
	}
	s = t_self;
	if (!s || !slot_of((uintptr_t)s, &m) || __atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != SLOT_LIVE ||
	    m->owner != tid) {
		/* First call on this thread, or its slot was wiped by a fork. */
		if (tid == tgid) {
			s = get_leader(tgid);
			if (!s)
				return 0;
			slot_of((uintptr_t)s, &m);
		} else {
			s = slot_alloc(KIND_THREAD, tid, &m);
			if (!s)
				return 0;
			fill_thread(s, m, tid, tgid, get_leader(tgid), get_parent(&g_proc->parent, tgid));
			pthread_setspecific(g_key, s);
		}
		t_self = s;
	}
	t_self_ident = pt;
	if (btf)
		refresh_all(s, m, tid, tgid);
	return (uint64_t)(uintptr_t)s;
}

static int overlaps(size_t off, size_t len, int32_t field, size_t size)
{
	return field >= 0 && off < (size_t)field + size && (size_t)field < off + len;
}

/* Makes the fields a read of [off, off + len) touches current. */
static void refresh_for_read(uint8_t *s, struct slot_meta *m, size_t off, size_t len)
{
	uint64_t pt = bpftime_current_pid_tgid();
	uint32_t tid = (uint32_t)pt, tgid = (uint32_t)(pt >> 32);
	if (m->kind == KIND_PARENT) {
		refresh_parent(s, m, tgid);
		return;
	}
	if (overlaps(off, len, g_l.comm, g_l.comm_len))
		refresh_comm(s, m, tid, tgid);
	if (overlaps(off, len, g_l.start_time, 8) || overlaps(off, len, g_l.start_boottime, 8))
		fill_times(s, m);
	if (g_cred_off && off >= g_cred_off)
		refresh_cred(s, m, tgid);
}

static long kernel_read(void *dst, const void *src, uint32_t n, int str);

long agent_task_kernel_read(void *dst, const void *src, uint32_t n, int str)
{
	int saved = errno;
	long r = kernel_read(dst, src, n, str);
	errno = saved;
	return r;
}

static long kernel_read(void *dst, const void *src, uint32_t n, int str)
{
	if (!__atomic_load_n(&g_have_layout, __ATOMIC_ACQUIRE))
		return -1;
	struct slot_meta *m = NULL;
	uintptr_t a = (uintptr_t)src;
	uint8_t *s = slot_of(a, &m);
	if (!s || __atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != SLOT_LIVE)
		return agent_task_ns_read(dst, src, n, str);
	size_t off = a - (uintptr_t)s, end;
	if (off < g_l.task_size)
		end = g_l.task_size;
	else if (g_cred_off && off >= g_cred_off && off < g_cred_off + g_l.cred_size)
		end = g_cred_off + g_l.cred_size;
	else
		return -1; /* padding between the structs is no kernel memory */
	size_t avail = end - off;
	if (!str) {
		if (n > avail)
			return -1;
		if (n) {
			refresh_for_read(s, m, off, n);
			memcpy(dst, s + off, n);
		}
		return 0;
	}
	/* strncpy_from_kernel_nofault: up to and including the NUL, at most n bytes; a string that
	 * runs to the end of the structure is not one we hold. */
	size_t want = n < avail ? n : avail;
	refresh_for_read(s, m, off, want);
	const uint8_t *nul = memchr(s + off, 0, want);
	if (nul) {
		size_t k = (size_t)(nul - (s + off)) + 1;
		memcpy(dst, s + off, k);
		return (long)k;
	}
	if (n > avail)
		return -1;
	memcpy(dst, s + off, n - 1);
	((char *)dst)[n - 1] = 0;
	return (long)n;
}
