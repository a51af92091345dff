/* System calls issued with the `syscall` instruction directly.
 *
 * While a site is half-patched, a thread entering it spins (patch.c). If the patching thread then
 * called the libc wrapper of a function being patched (read, mprotect, nanosleep, ...), it would
 * spin on its own patch forever; and the libc `syscall()` wrapper is itself probe-able, and
 * interposed by the shim in the tool's process. So everything between the first and the last write
 * goes through these. They return -errno like the kernel does. */
#ifndef BPFTIME_ATTACH_RAWSYS_H
#define BPFTIME_ATTACH_RAWSYS_H
#include <stddef.h>
#include <sys/syscall.h>

static inline long raw_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#define raw_syscall3(n, a, b, c) raw_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)

static inline long raw_openat(const char *path, int flags)
{
	return raw_syscall6(SYS_openat, -100 /* AT_FDCWD */, (long)path, flags, 0, 0, 0);
}
static inline long raw_read(int fd, void *buf, size_t n) { return raw_syscall3(SYS_read, fd, buf, n); }
static inline long raw_close(int fd) { return raw_syscall3(SYS_close, fd, 0, 0); }
static inline long raw_getdents64(int fd, void *buf, size_t n) { return raw_syscall3(SYS_getdents64, fd, buf, n); }
static inline long raw_mprotect(void *p, size_t n, int prot) { return raw_syscall3(SYS_mprotect, p, n, prot); }
static inline long raw_membarrier(int cmd) { return raw_syscall3(SYS_membarrier, cmd, 0, 0); }
static inline long raw_gettid(void) { return raw_syscall3(SYS_gettid, 0, 0, 0); }
static inline long raw_sigprocmask(int how, const void *set, void *old)
{
	return raw_syscall6(SYS_rt_sigprocmask, how, (long)set, (long)old, 8, 0, 0);
}
static inline void raw_sleep_ns(long ns)
{
	struct {
		long sec, nsec;
	} ts = {ns / 1000000000L, ns % 1000000000L};
	raw_syscall3(SYS_nanosleep, &ts, 0, 0);
}
static inline long raw_now_ns(void)
{
	struct {
		long sec, nsec;
	} ts;
	raw_syscall3(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts, 0);
	return ts.sec * 1000000000L + ts.nsec;
}
#endif
