/* Credentials of the agent's threads follow the application's.
 *
 * glibc keeps uids/gids/groups the same on every thread: setuid(), setresgid(), setgroups()...
 * run the system call on each other thread from a SIGSETXID handler (nptl_setxid.c), then on the
 * caller, and abort() the process when the results differ (one thread succeeds, another fails).
 * The result depends on per-thread state the kernel does not share: the capability sets,
 * securebits (PR_SET_KEEPCAPS is one), the bounding and ambient sets. A program like setpriv
 * sets PR_SET_KEEPCAPS, setresuid()s, capset()s its effective set back and then setresgid()s:
 * the agent's threads (created while the program was root, never told of the KEEPCAPS nor the
 * capset) lost CAP_SETGID at the setresuid, fail the setresgid, and glibc aborts.
 *
 * So before each of those calls (and after each capset/prctl that changes that state) the
 * calling thread records its state, signals every agent thread, and waits until each has made
 * its own state the same: the set*id call then has the same inputs, hence the same result, on
 * every thread, and leaves the same credentials everywhere, exactly as without the agent. The
 * agent's threads can only ever lower themselves to the caller's state (the kernel refuses
 * anything else), never gain. The signal is SIGSETXID itself (the only signal the agent's
 * threads take besides SIGTRAP, and no program's business) sent as SI_QUEUE with a marker: the
 * handler here serves those and hands glibc's own (SI_TKILL) to glibc's handler.
 *
 * A dlopen'ed agent (`bpftime attach`) interposes nothing: the program's calls are bound to the
 * C library's functions. There the same is done from probes of the agent's own (the uprobe
 * engine, attach.h) on the functions the program's calls resolve to: an entry probe on each set*id
 * function mirrors the caller's state before the call (the function's code, so the C library's
 * internal calls, initgroups' setgroups, are seen too), and capset/prctl are run by their entry
 * probe, which follows a change as the wrappers below do and returns the result in their place.
 *
 * Limit: raw syscall()s that change ids bypass glibc's broadcast altogether (then the agent's
 * threads keep their ids, as any other thread of such a program would). */
#include "setxid.h"
#include "agent.h"
#include "bpftime/attach.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/futex.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define SIGSETXID (__SIGRTMIN + 1) /* glibc's internal signal (SIGCANCEL is __SIGRTMIN) */
#define MIRROR_MARK 0x62706678ull /* si_value of our requests: mark << 32 | sequence */
#define MAX_AGENT_THREADS 64
#define NCAPS 64

struct cred_state {
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	long securebits;
	uint64_t bset, ambient;
	int last_cap;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER; /* registry and one request at a time */
static pid_t g_tids[MAX_AGENT_THREADS];
static int g_ntids;
static struct cred_state g_want; /* the request being served */
static int g_acks;               /* futex word: agent threads done with it */
static uint32_t g_seq;           /* which request: a late answer to one that timed out is no answer */
static void (*g_glibc_handler)(int, siginfo_t *, void *);

static long raw_prctl(long op, unsigned long a, unsigned long b)
{
	return syscall(SYS_prctl, op, a, b, 0UL, 0UL);
}

static int cap_get(struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capget, &h, d);
}

static int cap_set(const struct __user_cap_data_struct *d)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capset, &h, d);
}

/* The calling thread's capability state. */
static void capture(struct cred_state *s)
{
	memset(s, 0, sizeof(*s));
	cap_get(s->caps);
	s->securebits = raw_prctl(PR_GET_SECUREBITS, 0, 0);
	s->last_cap = -1;
	for (int c = 0; c < NCAPS; c++) {
		long in = raw_prctl(PR_CAPBSET_READ, (unsigned long)c, 0);
		if (in < 0)
			break; /* past the kernel's last capability */
		s->last_cap = c;
		if (in)
			s->bset |= 1ull << c;
		if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, (unsigned long)c, 0UL, 0UL) == 1)
			s->ambient |= 1ull << c;
	}
}

/* Makes this thread's state `s` (raw system calls only: runs in a signal handler). Each step
 * needs what the one before left: CAP_SETPCAP (from our own permitted set) to drop bounding
 * caps and change securebits, the inheritable set before ambient raises, the ambient set
 * before securebits may forbid raising it, the final sets last. Best effort: what the kernel
 * refuses stays as it was. */
static void apply(const struct cred_state *s)
{
	struct __user_cap_data_struct cur[_LINUX_CAPABILITY_U32S_3], d[_LINUX_CAPABILITY_U32S_3];
	if (cap_get(cur) < 0)
		return;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		d[i].permitted = cur[i].permitted;
		d[i].effective = cur[i].permitted;
		d[i].inheritable = cur[i].inheritable;
	}
	cap_set(d);
	for (int c = 0; c <= s->last_cap; c++)
		if (!(s->bset >> c & 1) && raw_prctl(PR_CAPBSET_READ, (unsigned long)c, 0) == 1)
			raw_prctl(PR_CAPBSET_DROP, (unsigned long)c, 0);
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		d[i].inheritable = s->caps[i].inheritable;
	cap_set(d);
	syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
	for (int c = 0; c <= s->last_cap; c++)
		if (s->ambient >> c & 1)
			syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long)c, 0UL, 0UL);
	long sb = raw_prctl(PR_GET_SECUREBITS, 0, 0);
	if (s->securebits >= 0 && sb != s->securebits && raw_prctl(PR_SET_SECUREBITS, (unsigned long)s->securebits, 0) < 0)
		raw_prctl(PR_SET_KEEPCAPS, (unsigned long)(s->securebits >> SECURE_KEEP_CAPS & 1), 0);
	cap_set(s->caps);
}

static void on_sigsetxid(int sig, siginfo_t *si, void *uc)
{
	uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
	if (si->si_code == SI_QUEUE && si->si_pid == (pid_t)syscall(SYS_getpid) && (v >> 32) == MIRROR_MARK) {
		int saved = errno;
		apply(&g_want);
		if ((uint32_t)v == __atomic_load_n(&g_seq, __ATOMIC_SEQ_CST))
			__atomic_add_fetch(&g_acks, 1, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &g_acks, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		errno = saved;
		return;
	}
	if (g_glibc_handler)
		g_glibc_handler(sig, si, uc);
}

/* The kernel's struct sigaction (the C library's differs). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

void agent_setxid_install(void)
{
	static int done;
	pthread_mutex_lock(&g_lock);
	struct ksigaction old;
	if (!done && syscall(SYS_rt_sigaction, SIGSETXID, NULL, &old, sizeof(old.mask)) == 0 &&
	    (old.flags & SA_SIGINFO) && old.handler != (void *)on_sigsetxid) {
		/* glibc installed it when the process went multi-threaded (our pthread_create). */
		struct ksigaction mine = old;
		g_glibc_handler = (void (*)(int, siginfo_t *, void *))old.handler;
		mine.handler = (void *)on_sigsetxid;
		if (syscall(SYS_rt_sigaction, SIGSETXID, &mine, NULL, sizeof(mine.mask)) == 0)
			done = 1;
	}
	pthread_mutex_unlock(&g_lock);
}

/* Called by the agent's own fork handler (agent.c) before the child's agent thread starts: a
 * handler of our own, registered later, would run after that thread registered. */
void agent_setxid_after_fork_child(void)
{
	pthread_mutex_init(&g_lock, NULL);
	g_ntids = 0;
}

void agent_setxid_thread_enter(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, agent_setxid_install); /* glibc's handler exists: we are a thread */
	pthread_mutex_lock(&g_lock);
	if (g_ntids < MAX_AGENT_THREADS)
		g_tids[g_ntids++] = (pid_t)syscall(SYS_gettid);
	pthread_mutex_unlock(&g_lock);
}

void agent_setxid_thread_leave(void)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&g_lock);
	for (int i = 0; i < g_ntids; i++)
		if (g_tids[i] == self) {
			g_tids[i] = g_tids[--g_ntids];
			break;
		}
	pthread_mutex_unlock(&g_lock);
}

/* Makes every agent thread take the calling thread's capability state; returns once they have
 * (bounded: a thread that is exiting may never answer). Called with g_lock held. */
static void mirror_locked(void)
{
	pid_t self = (pid_t)syscall(SYS_gettid), pid = (pid_t)syscall(SYS_getpid);
	int quiet = agent_syscall_tp_quiet(1); /* the agent's doing, not the application's syscalls */
	capture(&g_want);
	uint32_t seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&g_acks, 0, __ATOMIC_SEQ_CST);
	int sent = 0;
	for (int i = 0; i < g_ntids; i++) {
		if (g_tids[i] == self)
			continue;
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		si.si_signo = SIGSETXID;
		si.si_code = SI_QUEUE;
		si.si_pid = pid;
		si.si_uid = getuid();
		si.si_value.sival_ptr = (void *)(uintptr_t)((uint64_t)MIRROR_MARK << 32 | seq);
		if (syscall(SYS_rt_tgsigqueueinfo, pid, g_tids[i], SIGSETXID, &si) == 0)
			sent++;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 2;
	for (int acks; (acks = __atomic_load_n(&g_acks, __ATOMIC_SEQ_CST)) < sent;) {
		struct timespec now, wait = { 0, 20 * 1000000L };
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
			break;
		syscall(SYS_futex, &g_acks, FUTEX_WAIT_PRIVATE, acks, &wait, NULL, 0);
	}
	agent_syscall_tp_quiet(quiet);
}

static int have_agent_threads(void)
{
	return __atomic_load_n(&g_ntids, __ATOMIC_RELAXED) > 0;
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

/* A glibc set*id call: the agent's threads take the caller's state first, the call (with its
 * broadcast) runs while no other request can change that state. */
#define SETXID_WRAPPER(ret, name, params, args)                              \
	EXPORT ret name params                                               \
	{                                                                    \
		static __typeof__(&name) real;                               \
		if (!real)                                                   \
			real = NEXT(name);                                   \
		if (!real) {                                                 \
			errno = ENOSYS;                                      \
			return -1;                                           \
		}                                                            \
		if (!have_agent_threads())                                   \
			return real args;                                    \
		pthread_mutex_lock(&g_lock);                                 \
		mirror_locked();                                             \
		ret rc = real args;                                          \
		int saved = errno;                                           \
		pthread_mutex_unlock(&g_lock);                               \
		errno = saved;                                               \
		return rc;                                                   \
	}

SETXID_WRAPPER(int, setuid, (uid_t u), (u))
SETXID_WRAPPER(int, setgid, (gid_t g), (g))
SETXID_WRAPPER(int, seteuid, (uid_t u), (u))
SETXID_WRAPPER(int, setegid, (gid_t g), (g))
SETXID_WRAPPER(int, setreuid, (uid_t r, uid_t e), (r, e))
SETXID_WRAPPER(int, setregid, (gid_t r, gid_t e), (r, e))
SETXID_WRAPPER(int, setresuid, (uid_t r, uid_t e, uid_t s), (r, e, s))
SETXID_WRAPPER(int, setresgid, (gid_t r, gid_t e, gid_t s), (r, e, s))
SETXID_WRAPPER(int, setgroups, (size_t n, const gid_t *list), (n, list))
SETXID_WRAPPER(int, initgroups, (const char *user, gid_t group), (user, group))

/* After the caller changed its own capability state: the agent's threads drop to it too, so no
 * thread of the process keeps a capability the program gave up. */
static void follow(void)
{
	if (!have_agent_threads())
		return;
	int saved = errno;
	pthread_mutex_lock(&g_lock);
	mirror_locked();
	pthread_mutex_unlock(&g_lock);
	errno = saved;
}

EXPORT int capset(cap_user_header_t hdr, const cap_user_data_t data)
{
	long rc = syscall(SYS_capset, hdr, data);
	if (rc == 0 && hdr && hdr->pid == 0)
		follow();
	return (int)rc;
}

EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	long rc = syscall(SYS_prctl, option, a2, a3, a4, a5);
	if (rc >= 0 && (option == PR_SET_KEEPCAPS || option == PR_SET_SECUREBITS || option == PR_CAPBSET_DROP ||
			(option == PR_CAP_AMBIENT && a2 != PR_CAP_AMBIENT_IS_SET)))
		follow();
	return (int)rc;
}

/* ---- the same from probes, for a dlopen'ed agent ---- */

static int probed_setxid(void *data, struct pt_regs *regs)
{
	(void)data;
	(void)regs;
	follow(); /* before the call: the agent's threads then give the same result */
	return BPFTIME_PROBE_CONTINUE;
}

/* Runs the call itself (the registers hold its arguments), follows a change, and returns its
 * result in place of the function, errno set as the C library sets it. */
static int probed_capset(void *data, struct pt_regs *regs)
{
	(void)data;
	cap_user_header_t hdr = (cap_user_header_t)regs->rdi;
	long rc = syscall(SYS_capset, hdr, (cap_user_data_t)regs->rsi);
	int saved = errno;
	if (rc == 0 && hdr && hdr->pid == 0)
		follow();
	errno = saved;
	regs->rax = (unsigned long)rc;
	return BPFTIME_PROBE_OVERRIDE;
}

static int probed_prctl(void *data, struct pt_regs *regs)
{
	(void)data;
	int option = (int)regs->rdi;
	if (option != PR_SET_KEEPCAPS && option != PR_SET_SECUREBITS && option != PR_CAPBSET_DROP && option != PR_CAP_AMBIENT)
		return BPFTIME_PROBE_CONTINUE; /* not about capabilities: the real prctl runs */
	long rc = syscall(SYS_prctl, option, regs->rsi, regs->rdx, regs->rcx, regs->r8);
	int saved = errno;
	if (rc >= 0 && (option != PR_CAP_AMBIENT || regs->rsi != PR_CAP_AMBIENT_IS_SET))
		follow();
	errno = saved;
	regs->rax = (unsigned long)rc;
	return BPFTIME_PROBE_OVERRIDE;
}

void agent_setxid_probe_libc(void)
{
	static const char *const setxid_fns[] = { "setuid",    "setgid",    "seteuid",   "setegid",  "setreuid",
						  "setregid",  "setresuid", "setresgid", "setgroups" };
	static int done;
	pthread_mutex_lock(&g_lock);
	if (done++) {
		pthread_mutex_unlock(&g_lock);
		return;
	}
	pthread_mutex_unlock(&g_lock);
	struct {
		const char *name;
		bpftime_probe_handler h;
	} want[sizeof(setxid_fns) / sizeof(setxid_fns[0]) + 2];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(setxid_fns) / sizeof(setxid_fns[0]); i++)
		want[n++] = (__typeof__(want[0])){ setxid_fns[i], probed_setxid };
	want[n++] = (__typeof__(want[0])){ "capset", probed_capset };
	want[n++] = (__typeof__(want[0])){ "prctl", probed_prctl };
	Dl_info self;
	dladdr((void *)agent_setxid_probe_libc, &self);
	for (size_t i = 0; i < n; i++) {
		void *fn = dlsym(RTLD_DEFAULT, want[i].name);
		Dl_info where;
		/* What the program's calls reach; never our own exports (preloaded: they wrap already). */
		if (!fn || (dladdr(fn, &where) && where.dli_fbase == self.dli_fbase))
			continue;
		struct bpftime_probe *p;
		char err[256];
		if (bpftime_probe_attach(fn, 0, want[i].h, NULL, &p, err, sizeof(err)) != 0)
			fprintf(stderr, "bpftime agent: cannot watch %s() for id changes (%s): a later set*id call may abort "
					"the process\n", want[i].name, err);
	}
}
