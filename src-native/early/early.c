/* libbpftime-early.so: an LD_AUDIT module that records the syscalls a traced image makes before
 * the agent's constructor runs (the dynamic loader opening and mapping the program's libraries,
 * libc's start-up, the constructors that run before the agent's); see bpftime/early.h.
 *
 * The loader loads audit modules into a namespace of their own before any library of the program,
 * so this code runs before those are opened. It uses no C library (there is none yet in its
 * namespace, and loading one would add its own loading to what the program does): raw syscalls
 * from one stub, whose range Syscall User Dispatch always lets through. Every other syscall of
 * the thread raises SIGSYS; the handler runs it from the stub, records it, and returns its result.
 * Calls that cannot be run from a signal handler (rt_sigreturn of a handler of the program, clone,
 * fork, execve, waits for a signal, changes of SIGSYS's handling) end the recording: the call is
 * then made again by the program itself. Other signals wait while a call runs in the handler. */
#include <link.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "bpftime/early.h"

#define EXPORT __attribute__((visibility("default")))
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_OFF 0
#define PR_SYS_DISPATCH_ON 1
#endif
#define DISPATCH_ALLOW 0
#define DISPATCH_BLOCK 1
#define SA_RESTORER_ 0x04000000

/* The only code that makes syscalls: raw_syscall(nr, a1..a6) and the signal restorer. */
long raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) __attribute__((visibility("hidden")));
extern char early_stub_start[] __attribute__((visibility("hidden")));
extern char early_stub_end[] __attribute__((visibility("hidden")));
extern char early_restorer[] __attribute__((visibility("hidden")));
__asm__(".text\n"
	".globl early_stub_start\n.hidden early_stub_start\n"
	".globl early_stub_end\n.hidden early_stub_end\n"
	".globl early_restorer\n.hidden early_restorer\n"
	".globl raw_syscall\n.hidden raw_syscall\n"
	".type raw_syscall,@function\n"
	"early_stub_start:\n"
	"raw_syscall:\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8, %r10\n"
	"	mov %r9, %r8\n"
	"	mov 8(%rsp), %r9\n"
	"	syscall\n"
	"	ret\n"
	"early_restorer:\n"
	"	mov $15, %eax\n" /* rt_sigreturn */
	"	syscall\n"
	"	hlt\n"
	"early_stub_end:\n");

#define SYS0(n) raw_syscall((n), 0, 0, 0, 0, 0, 0)
#define SYS3(n, a, b, c) raw_syscall((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS5(n, a, b, c, d, e) raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* The compiler may emit calls to these for copies; there is no C library to provide them. */
__attribute__((visibility("hidden"))) void *memcpy(void *d, const void *s, size_t n)
{
	char *o = d;
	const char *i = s;
	while (n--)
		*o++ = *i++;
	return d;
}

__attribute__((visibility("hidden"))) void *memset(void *d, int c, size_t n)
{
	char *o = d;
	while (n--)
		*o++ = (char)c;
	return d;
}

struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static struct bpftime_early_hdr *g_hdr;
static int g_agent_seen; /* la_objopen saw the agent: it will end the recording */

static void stop(void)
{
	if (!g_hdr || g_hdr->stopped)
		return;
	g_hdr->stopped = 1;
	g_hdr->selector = DISPATCH_ALLOW;
	SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
	struct ksigaction dfl = { 0 };
	SYS5(SYS_rt_sigaction, SIGSYS, &dfl, 0, 8, 0);
}

/* A record of `size` bytes with its string, or NULL (full: the recording ends). */
static struct bpftime_early_rec *reserve(uint32_t str_len)
{
	uint32_t size = (uint32_t)((sizeof(struct bpftime_early_rec) + str_len + 7) & ~7ul);
	if (g_hdr->used + size > BPFTIME_EARLY_BYTES - sizeof(*g_hdr)) {
		g_hdr->overflow = 1;
		stop();
		return NULL;
	}
	struct bpftime_early_rec *r = (void *)((char *)(g_hdr + 1) + g_hdr->used);
	memset(r, 0, size);
	r->size = size;
	return r;
}

static void commit(struct bpftime_early_rec *r) { g_hdr->used += r->size; }

/* Which argument of syscall nr is a path (copied: the loader's buffers are gone by delivery). */
static int path_arg(long nr)
{
	switch (nr) {
	case SYS_open: case SYS_access: case SYS_stat: case SYS_lstat: case SYS_readlink: case SYS_statfs:
		return 0;
	case SYS_openat: case SYS_faccessat: case SYS_newfstatat: case SYS_statx: case SYS_readlinkat:
	case SYS_openat2: case SYS_faccessat2:
		return 1;
	}
	return -1;
}

/* Up to 255 bytes of the string at addr, without faulting (a bad pointer gives an empty copy). */
static uint32_t copy_string(char *dst, uint64_t addr)
{
	struct { void *base; size_t len; } local = { dst, 255 }, remote = { (void *)addr, 255 };
	long n = raw_syscall(SYS_process_vm_readv, SYS0(SYS_getpid), (long)&local, 1, (long)&remote, 1, 0);
	if (n <= 0) {
		/* The string may end before an unreadable page: read up to the page's end. */
		remote.len = local.len = 4096 - (addr & 4095) < 255 ? 4096 - (addr & 4095) : 255;
		n = raw_syscall(SYS_process_vm_readv, SYS0(SYS_getpid), (long)&local, 1, (long)&remote, 1, 0);
	}
	uint32_t len = 0;
	while (n > 0 && len < (uint32_t)n && dst[len])
		len++;
	dst[len] = 0;
	return len + 1;
}

static void apply_sigprocmask(ucontext_t *uc, long how, long set_addr, long old_addr, long size, long *ret)
{
	/* The handler's return restores the mask saved in its frame: the call acts on that one. */
	uint64_t *mask = (uint64_t *)&uc->uc_sigmask;
	if (size != 8) {
		*ret = -22;
		return;
	}
	uint64_t set = 0;
	if (set_addr) {
		struct { void *base; size_t len; } l = { &set, 8 }, r = { (void *)set_addr, 8 };
		if (raw_syscall(SYS_process_vm_readv, SYS0(SYS_getpid), (long)&l, 1, (long)&r, 1, 0) != 8) {
			*ret = -14;
			return;
		}
	}
	uint64_t old = *mask;
	if (old_addr) {
		struct { void *base; size_t len; } l = { &old, 8 }, r = { (void *)old_addr, 8 };
		if (raw_syscall(SYS_process_vm_writev, SYS0(SYS_getpid), (long)&l, 1, (long)&r, 1, 0) != 8) {
			*ret = -14;
			return;
		}
	}
	if (set_addr) {
		uint64_t keep = (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));
		if (how == SIG_BLOCK)
			*mask = old | (set & ~keep);
		else if (how == SIG_UNBLOCK)
			*mask = old & ~set;
		else if (how == SIG_SETMASK)
			*mask = set & ~keep;
		else {
			*ret = -22;
			return;
		}
	}
	*ret = 0;
}

/* Whether rt_sigprocmask(a...) would block SIGSYS (after which a dispatched call would kill). */
static int blocks_sigsys(const long *a)
{
	uint64_t set = 0;
	struct { void *base; size_t len; } l = { &set, 8 }, r = { (void *)a[1], 8 };
	if (!a[1] || (a[0] != SIG_BLOCK && a[0] != SIG_SETMASK) ||
	    raw_syscall(SYS_process_vm_readv, SYS0(SYS_getpid), (long)&l, 1, (long)&r, 1, 0) != 8)
		return 0;
	return (set >> (SIGSYS - 1)) & 1;
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	long nr = si->si_syscall;
	long a[6] = { g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9] };
	if (nr == SYS_prctl && a[0] == BPFTIME_EARLY_PRCTL) { /* the agent: stop, and say where */
		stop();
		if (a[1])
			*(struct bpftime_early_hdr **)a[1] = g_hdr;
		g[REG_RAX] = 0;
		return;
	}
	if (nr == SYS_rt_sigreturn || nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork || nr == SYS_vfork ||
	    nr == SYS_execve || nr == SYS_execveat || g_hdr->stopped || nr == SYS_rt_sigsuspend || nr == SYS_pause ||
	    nr == SYS_rt_sigtimedwait || (nr == SYS_rt_sigaction && a[0] == SIGSYS) ||
	    (nr == SYS_prctl && a[0] == PR_SET_SYSCALL_USER_DISPATCH) || (nr == SYS_rt_sigprocmask && blocks_sigsys(a))) {
		/* Not from here: the program makes it again, with the recording over. */
		stop();
		g[REG_RAX] = nr;
		g[REG_RIP] -= 2;
		return;
	}
	int sarg = path_arg(nr);
	char path[256];
	uint32_t slen = sarg >= 0 ? copy_string(path, (uint64_t)a[sarg]) : 0;
	long ret;
	if (nr == SYS_rt_sigprocmask)
		apply_sigprocmask(uc, a[0], a[1], a[2], a[3], &ret);
	else
		ret = raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	g[REG_RAX] = ret;
	if (nr == SYS_exit_group || nr == SYS_exit)
		return; /* not reached */
	struct bpftime_early_rec *r = reserve(slen);
	if (!r)
		return;
	r->kind = BPFTIME_EARLY_SYSCALL;
	r->nr = (int32_t)nr;
	r->str_arg = sarg >= 0 ? sarg : -1;
	for (int i = 0; i < 6; i++)
		r->args[i] = (uint64_t)a[i];
	r->ret = ret;
	if (slen)
		memcpy(r->str, path, slen);
	commit(r);
}

static void start(void)
{
	/* A memfd's mapping has a name in /proc/self/maps: where the agent finds the records when the
	 * recording ended before it could ask. The fd goes at once (the program's fd numbers stay). */
	long fd = SYS3(SYS_memfd_create, BPFTIME_EARLY_MEMFD, 1 /* MFD_CLOEXEC */, 0);
	if (fd < 0)
		return;
	long p = -1;
	if (SYS3(SYS_ftruncate, fd, BPFTIME_EARLY_BYTES, 0) == 0)
		p = raw_syscall(SYS_mmap, 0, BPFTIME_EARLY_BYTES, 3 /* RW */, 0x02 /* PRIVATE */, fd, 0);
	SYS3(SYS_close, fd, 0, 0);
	if (p < 0 && p > -4096)
		return;
	g_hdr = (struct bpftime_early_hdr *)p;
	g_hdr->magic = BPFTIME_EARLY_MAGIC;
	g_hdr->selector = DISPATCH_ALLOW;
	/* Only where SIGSYS can be taken: a process started with it blocked (the mask survives exec)
	 * would be killed by the first dispatched call. Then nothing is recorded. */
	uint64_t mask = 0;
	if (SYS5(SYS_rt_sigprocmask, SIG_BLOCK, 0, &mask, 8, 0) != 0 || ((mask >> (SIGSYS - 1)) & 1)) {
		g_hdr->stopped = 1;
		return;
	}
	/* Every other signal waits while a call runs in the handler (a signal raised by that call, a
	 * tgkill, is delivered once it returned: a program handler running on top of ours would find
	 * SIGSYS blocked and its rt_sigreturn would kill the process); SIGSYS itself stays open. */
	struct ksigaction sa = { (void *)on_sigsys, SA_SIGINFO | SA_RESTORER_ | SA_NODEFER, early_restorer,
				 ~(1ull << (SIGSYS - 1)) };
	struct ksigaction old;
	if (SYS5(SYS_rt_sigaction, SIGSYS, &sa, &old, 8, 0) != 0 || (old.handler != 0 /* SIG_DFL */)) {
		if (old.handler != 0)
			SYS5(SYS_rt_sigaction, SIGSYS, &old, 0, 8, 0);
		g_hdr->stopped = 1;
		return;
	}
	if (SYS5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, (long)early_stub_start,
		 early_stub_end - early_stub_start, (long)&g_hdr->selector) != 0) {
		struct ksigaction dfl = { 0 };
		SYS5(SYS_rt_sigaction, SIGSYS, &dfl, 0, 8, 0);
		g_hdr->stopped = 1;
		return;
	}
	g_hdr->selector = DISPATCH_BLOCK;
}

EXPORT unsigned int la_version(unsigned int version)
{
	if (version == 0)
		return 0;
	start();
	return version < LAV_CURRENT ? version : LAV_CURRENT;
}

static int is_agent(const char *name)
{
	static const char want[] = "libbpftime-agent.so";
	const char *base = name;
	for (const char *p = name; *p; p++)
		if (*p == '/')
			base = p + 1;
	for (size_t i = 0; i < sizeof(want); i++)
		if (base[i] != want[i])
			return 0;
	return 1;
}

EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
	(void)cookie;
	if (!g_hdr || g_hdr->stopped || lmid != LM_ID_BASE)
		return 0;
	const char *name = map->l_name ? map->l_name : "";
	if (is_agent(name))
		g_agent_seen = 1;
	uint32_t n = 0;
	while (n < 4095 && name[n])
		n++;
	struct bpftime_early_rec *r = reserve(n + 1);
	if (!r)
		return 0;
	r->kind = BPFTIME_EARLY_OBJOPEN;
	r->str_arg = -1;
	r->args[0] = map->l_addr;
	r->args[1] = (uint64_t)lmid;
	memcpy(r->str, name, n);
	r->str[n] = 0;
	commit(r);
	return 0;
}

EXPORT void la_preinit(uintptr_t *cookie)
{
	(void)cookie;
	if (!g_hdr || g_hdr->stopped)
		return;
	if (!g_agent_seen) { /* no agent to end it: nothing would read the records either */
		stop();
		return;
	}
	struct bpftime_early_rec *r = reserve(0);
	if (!r)
		return;
	r->kind = BPFTIME_EARLY_PREINIT;
	r->str_arg = -1;
	commit(r);
}
