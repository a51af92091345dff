// What the *_calls.c differential programs share: the raw bpf() call, errno names, the one line
// each step prints, and element commands. The e2e tests run each program on the kernel and under
// the shim and require the same lines, so a step prints only what both must agree on.
// Include after <errno.h>, <linux/bpf.h>, <stdio.h>, with _GNU_SOURCE defined (strerrorname_np).
#ifndef BPF_CALLS_UTIL_H
#define BPF_CALLS_UTIL_H
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline long sys_bpf(int cmd, union bpf_attr *attr, unsigned size) { return syscall(SYS_bpf, cmd, attr, size); }

/* The errno's name; 524 is the kernel-internal ENOTSUPP that bpf() returns for some commands. */
static inline const char *ename(int e)
{
	static char buf[32];
	const char *n = e == 524 ? "ENOTSUPP" : strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof(buf), "errno%d", e);
	return buf;
}

/* "<name>: <errno name>" on failure, else "<name>: <r>" (show) or "<name>: ok". Returns r. */
static inline long report(const char *name, long r, int show)
{
	if (r < 0)
		printf("%s: %s\n", name, ename(errno));
	else if (show)
		printf("%s: %ld\n", name, r);
	else
		printf("%s: ok\n", name);
	return r;
}

/* An element command (lookup, update, delete, get_next_key, lookup_and_delete). */
static inline long elem(int cmd, int fd, const void *k, void *v, uint64_t flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = flags;
	return sys_bpf(cmd, &a, sizeof(a));
}
#endif
