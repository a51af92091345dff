/* Reading and writing the tool's memory for its bpf() calls without ever crashing it, and
 * without a system call per access (the kernel's bpf() is one syscall; ours must beat it).
 *
 * The copy is a plain memcpy made recoverable: a SIGSEGV/SIGBUS handler, installed once, sends a
 * fault that happens inside a copy back to the copy's caller, which answers EFAULT as the
 * kernel's copy_from_user does. Every other fault goes to the tool's own handler, exactly as it
 * would without us: the shim keeps its handler in front (sigaction/signal of SIGSEGV and SIGBUS
 * are interposed and recorded as the tool's), and passes on what is not ours. The handler runs
 * with SA_NODEFER so that jumping out of it leaves no signal blocked. */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/client.h"

#define EXPORT __attribute__((visibility("default")))

static __thread sigjmp_buf *tls_recover;
static struct sigaction g_app[2]; /* the tool's own SIGSEGV, SIGBUS actions */
static int g_installed;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);
static sigaction_fn real_sigaction;

static int slot(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *r = tls_recover;
	if (r) {
		tls_recover = NULL;
		siglongjmp(*r, 1);
	}
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
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (real_sigaction(SIGSEGV, &sa, &g_app[0]) == 0 && real_sigaction(SIGBUS, &sa, &g_app[1]) == 0)
		__atomic_store_n(&g_installed, 1, __ATOMIC_RELEASE);
}

/* Copies n bytes, returning 0 or -EFAULT if any byte faulted. */
static int recoverable_copy(void *dst, const void *src, size_t n)
{
	pthread_once(&g_once, install);
	if (!__atomic_load_n(&g_installed, __ATOMIC_ACQUIRE))
		return -ENOSYS;
	sigjmp_buf env;
	if (sigsetjmp(env, 0)) /* no mask to restore: the handler runs with SA_NODEFER */
		return -EFAULT;
	tls_recover = &env;
	memcpy(dst, src, n);
	__asm__ volatile("" ::: "memory"); /* the copy is done before we stop recovering */
	tls_recover = NULL;
	return 0;
}

int shim_read_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	if (!src)
		return -EFAULT;
	int rc = recoverable_copy(dst, src, n);
	if (rc != -ENOSYS)
		return rc;
	return shim_read_user_syscall(dst, src, n);
}

int shim_write_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	if (!dst)
		return -EFAULT;
	int rc = recoverable_copy(dst, src, n);
	if (rc != -ENOSYS)
		return rc;
	return shim_write_user_syscall(dst, src, n);
}

/* The tool's SIGSEGV/SIGBUS handlers are recorded, ours stays installed in front of them. */
EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	pthread_once(&g_once, install);
	int s = slot(sig);
	if (s < 0 || !__atomic_load_n(&g_installed, __ATOMIC_ACQUIRE))
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
