/* Reading and writing the tool's memory for its bpf() calls without ever crashing it, and
 * without a system call or a setjmp per access (the kernel's bpf() is one syscall; a map
 * command of ours must cost a tenth of it, and it copies the attr, the key and the value).
 *
 * The kernel's own way, an exception table: the copy is a small assembly routine, and the
 * SIGSEGV/SIGBUS handler (installed once, in front of the tool's) checks where the fault
 * happened. A fault raised by the kernel (si_code > 0) on an instruction of the copy routine is
 * a bad user pointer: the handler moves the thread to the routine's fixup, which returns
 * -EFAULT, as copy_from_user/copy_to_user answer. The routine touches no stack and holds no
 * lock, so resuming at the fixup is always safe, and the fast path is a plain copy: no
 * thread-local state, no setjmp, nothing to undo.
 *
 * Every other fault goes to the tool's own handler, exactly as it would without us: sigaction/
 * signal of SIGSEGV and SIGBUS are interposed and recorded as the tool's, and what is not ours
 * is passed on. A thread that blocks SIGSEGV/SIGBUS cannot take the fault (the kernel kills the
 * process): it copies with the syscalls (see "threads that block SIGSEGV/SIGBUS" below).
 * Elsewhere than x86-64 the copies fall back to process_vm_readv/writev (conn.c). */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpftime/client.h"

#define EXPORT __attribute__((visibility("default")))

#if defined(__x86_64__)
/* long shim_uaccess_copy(void *dst, const void *src, size_t n): 0, or -EFAULT when an access in
 * [shim_uaccess_begin, shim_uaccess_end) faulted (the bytes before the fault are copied, as
 * copy_to_user leaves them). Keys, values and attrs are a few to a few hundred bytes: up to 32
 * bytes take two overlapping moves of the largest size that fits, up to 256 a 16-byte loop and
 * an overlapping last move; longer copies use rep movsb. */
__asm__(".pushsection .text\n"
	".p2align 4\n"
	".globl shim_uaccess_copy\n"
	".hidden shim_uaccess_copy\n"
	".type shim_uaccess_copy,@function\n"
	"shim_uaccess_copy:\n"
	".globl shim_uaccess_begin\n"
	".hidden shim_uaccess_begin\n"
	"shim_uaccess_begin:\n"
	"	cmp $16, %rdx\n"
	"	ja 20f\n"
	"	cmp $8, %rdx\n"
	"	jb 8f\n"
	/* 8..16: first 8 and last 8 */
	"	mov (%rsi), %rax\n"
	"	mov -8(%rsi,%rdx), %rcx\n"
	"	mov %rax, (%rdi)\n"
	"	mov %rcx, -8(%rdi,%rdx)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"8:	cmp $4, %rdx\n"
	"	jb 4f\n"
	/* 4..7: first 4 and last 4 */
	"	mov (%rsi), %eax\n"
	"	mov -4(%rsi,%rdx), %ecx\n"
	"	mov %eax, (%rdi)\n"
	"	mov %ecx, -4(%rdi,%rdx)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	/* 0..3: bytes */
	"4:	test %rdx, %rdx\n"
	"	jz 1f\n"
	"2:	movzbl (%rsi), %eax\n"
	"	mov %al, (%rdi)\n"
	"	inc %rsi\n"
	"	inc %rdi\n"
	"	dec %rdx\n"
	"	jnz 2b\n"
	"1:	xor %eax, %eax\n"
	"	ret\n"
	"20:	cmp $32, %rdx\n"
	"	ja 22f\n"
	/* 17..32 (libbpf's 32-byte attr): first 16 and last 16 */
	"	movdqu (%rsi), %xmm0\n"
	"	movdqu -16(%rsi,%rdx), %xmm1\n"
	"	movdqu %xmm0, (%rdi)\n"
	"	movdqu %xmm1, -16(%rdi,%rdx)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"22:	cmp $256, %rdx\n"
	"	jae 30f\n"
	/* 17..255: 16 at a time while more than 16 remain, then the last 16 (overlapping) */
	"	movdqu -16(%rsi,%rdx), %xmm1\n"
	"	lea -16(%rdi,%rdx), %r8\n"
	"21:	movdqu (%rsi), %xmm0\n"
	"	movdqu %xmm0, (%rdi)\n"
	"	add $16, %rsi\n"
	"	add $16, %rdi\n"
	"	sub $16, %rdx\n"
	"	cmp $16, %rdx\n"
	"	ja 21b\n"
	"	movdqu %xmm1, (%r8)\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	"30:	mov %rdx, %rcx\n"
	"	rep movsb\n"
	"	xor %eax, %eax\n"
	"	ret\n"
	".globl shim_uaccess_end\n"
	".hidden shim_uaccess_end\n"
	"shim_uaccess_end:\n"
	".globl shim_uaccess_fixup\n"
	".hidden shim_uaccess_fixup\n"
	"shim_uaccess_fixup:\n"
	"	mov $-14, %rax\n" /* -EFAULT */
	"	ret\n"
	".size shim_uaccess_copy, .-shim_uaccess_copy\n"
	".popsection\n");
_Static_assert(EFAULT == 14, "the fixup returns -14");
extern const char shim_uaccess_begin[], shim_uaccess_end[], shim_uaccess_fixup[];
/* The linker's bounds of the inlined accesses' table (shim.h's SHIM_EXTABLE). */
extern const struct shim_extable_entry __start_shim_extable[] __attribute__((weak, visibility("hidden")));
extern const struct shim_extable_entry __stop_shim_extable[] __attribute__((weak, visibility("hidden")));

/* The fault was one of the copy routine's accesses: resume at its fixup. */
static int recover(siginfo_t *si, void *uc)
{
	if (si->si_code <= 0) /* sent by kill/tgkill/sigqueue, not raised by an access */
		return 0;
	greg_t *regs = ((ucontext_t *)uc)->uc_mcontext.gregs;
	uintptr_t ip = (uintptr_t)regs[REG_RIP];
	if (ip >= (uintptr_t)shim_uaccess_begin && ip < (uintptr_t)shim_uaccess_end) {
		regs[REG_RIP] = (greg_t)(uintptr_t)shim_uaccess_fixup;
		return 1;
	}
	/* The inlined accesses (shim.h): a few dozen entries, scanned. */
	for (const struct shim_extable_entry *e = __start_shim_extable; e < __stop_shim_extable; e++) {
		if ((uintptr_t)&e->insn + e->insn == ip) {
			regs[REG_RIP] = (greg_t)((uintptr_t)&e->fixup + e->fixup);
			return 1;
		}
	}
	return 0;
}
#define HAVE_FAULT_COPY 1
#else
#define HAVE_FAULT_COPY 0
long shim_uaccess_copy(void *dst, const void *src, size_t n) { return -ENOSYS; } /* never ready */
#endif

static struct sigaction g_app[2]; /* the tool's own SIGSEGV, SIGBUS actions */
__thread int shim_thread_faults __attribute__((tls_model("initial-exec")));
int shim_uaccess_ready; /* our handler is in front: shim_uaccess_copy may be used */
static int g_installed;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
static sigaction_fn real_sigaction;

static int slot(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

static void on_fault(int sig, siginfo_t *si, void *uc)
{
#if HAVE_FAULT_COPY
	if (recover(si, uc))
		return;
#endif
	/* Not ours: what the tool asked for. */
	struct sigaction *a = &g_app[slot(sig)];
	if (a->sa_flags & SA_SIGINFO) {
		if (a->sa_sigaction) {
			a->sa_sigaction(sig, si, uc);
			return;
		}
	} else if (a->sa_handler == SIG_IGN) {
		return;
	} else if (a->sa_handler != SIG_DFL) {
		a->sa_handler(sig);
		return;
	}
	/* Default action: restore it and return; the faulting instruction runs again and the
	 * kernel terminates the process as it would have. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	real_sigaction(sig, &dfl, NULL);
}

static void install(void)
{
	real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	if (!HAVE_FAULT_COPY)
		return; /* nothing to recover: keep out of the tool's signal handling */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (real_sigaction(SIGSEGV, &sa, &g_app[0]) == 0 && real_sigaction(SIGBUS, &sa, &g_app[1]) == 0) {
		__atomic_store_n(&g_installed, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&shim_uaccess_ready, HAVE_FAULT_COPY, __ATOMIC_RELEASE);
	}
}

/* ---- threads that block SIGSEGV/SIGBUS ----
 * The kernel does not deliver a fault signal the thread blocks: it kills the process. So on such
 * a thread (a tool's worker that blocked every signal, a handler whose sa_mask holds them) the
 * copies go through process_vm_readv/writev, which answer EFAULT. The kernel's mask is asked
 * (one rt_sigprocmask) whenever shim_thread_faults is not SHIM_FAULTS_OPEN, and only "open" is
 * cached: a cached answer is reset by each mask change the tool makes through libc and around
 * each of its handlers that blocks them. Not seen: raw rt_sigprocmask syscalls and setcontext
 * with such a mask (the copy would then fault on a blocked signal, as before this check). */
static int thread_blocks_faults(void)
{
	uint64_t cur = 0; /* the kernel's sigset: bit n-1 is signal n */
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &cur, sizeof(cur)) < 0)
		return 1;
	return (cur & ((1ULL << (SIGSEGV - 1)) | (1ULL << (SIGBUS - 1)))) != 0;
}

int shim_uaccess_usable_slow(void)
{
	if (!shim_uaccess_setup())
		return 0;
	if (thread_blocks_faults())
		return 0;
	shim_thread_faults = SHIM_FAULTS_OPEN;
	return 1;
}

typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);

/* The tool's mask changes: whatever the result, ask again before the next copy. */
static int mask_call(const char *name, sigmask_fn *real, int how, const sigset_t *set, sigset_t *old)
{
	if (!*real)
		*real = (sigmask_fn)dlsym(RTLD_NEXT, name);
	int rc = (*real)(how, set, old);
	if (set)
		shim_thread_faults = SHIM_FAULTS_UNKNOWN;
	return rc;
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	static sigmask_fn real;
	return mask_call("sigprocmask", &real, how, set, old);
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	static sigmask_fn real;
	return mask_call("pthread_sigmask", &real, how, set, old);
}

/* The shim's own mask changes that leave SIGSEGV/SIGBUS as they were (conn.c): no reset. */
int shim_sigmask_keep_faults(int how, const sigset_t *set, sigset_t *old)
{
	static sigmask_fn real;
	if (!real)
		real = (sigmask_fn)dlsym(RTLD_NEXT, "pthread_sigmask");
	return real(how, set, old);
}

/* Handlers whose sa_mask blocks SIGSEGV or SIGBUS run behind this wrapper, which resets the
 * cached answer on the way in and out: the kernel changed the mask without a call we see. The
 * tool's action is kept here and reported back by sigaction. */
static struct sigaction g_masked[_NSIG];

static void masked_handler(int sig, siginfo_t *si, void *uc)
{
	shim_thread_faults = SHIM_FAULTS_UNKNOWN;
	struct sigaction *a = &g_masked[sig];
	if (a->sa_flags & SA_SIGINFO)
		a->sa_sigaction(sig, si, uc);
	else
		a->sa_handler(sig);
	shim_thread_faults = SHIM_FAULTS_UNKNOWN;
}

static int masks_faults(const struct sigaction *act)
{
	int handler = (act->sa_flags & SA_SIGINFO) ? act->sa_sigaction != NULL
						    : act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
	return handler && (sigismember(&act->sa_mask, SIGSEGV) == 1 || sigismember(&act->sa_mask, SIGBUS) == 1);
}

static int other_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction was;
	int wrapped = sig > 0 && sig < _NSIG && (act || old);
	if (!wrapped)
		return real_sigaction(sig, act, old);
	if (real_sigaction(sig, NULL, &was) < 0)
		return -1; /* EINVAL for a bad signal number, as the kernel's */
	if (was.sa_sigaction == masked_handler && (was.sa_flags & SA_SIGINFO))
		was = g_masked[sig];
	if (act && masks_faults(act)) {
		struct sigaction ours = *act;
		g_masked[sig] = *act;
		ours.sa_sigaction = masked_handler;
		ours.sa_flags |= SA_SIGINFO;
		if (real_sigaction(sig, &ours, NULL) < 0)
			return -1;
	} else if (act && real_sigaction(sig, act, NULL) < 0) {
		return -1;
	}
	if (old)
		*old = was;
	return 0;
}

/* Installed on first use: the first copy, or the tool's first sigaction/signal call. */
int shim_uaccess_setup(void)
{
	pthread_once(&g_once, install);
	return __atomic_load_n(&shim_uaccess_ready, __ATOMIC_ACQUIRE);
}

/* The tool's SIGSEGV/SIGBUS handlers are recorded, ours stays installed in front of them. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	pthread_once(&g_once, install);
	int s = slot(sig);
	if (s < 0)
		return other_sigaction(sig, act, old);
	if (!__atomic_load_n(&g_installed, __ATOMIC_ACQUIRE))
		return real_sigaction(sig, act, old);
	if (old)
		*old = g_app[s];
	if (act)
		g_app[s] = *act;
	return 0;
}

EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}
