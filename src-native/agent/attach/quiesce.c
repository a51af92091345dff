/* Waiting until no other thread can be stopped in the middle of the bytes a jmp will replace.
 *
 * Before this runs, patch.c has parked the site's first instruction (a thread arriving now spins or
 * traps there), so the only threads that can be inside the range are those that were already in
 * it. A thread that is running leaves it within a few instructions; one that was descheduled there
 * leaves it as soon as it runs again. We cannot read another thread's registers without ptrace,
 * but /proc tells enough:
 *   - schedstat's sum_exec_runtime grew by more than the time needed to return to user mode:
 *     the thread has executed user code since, so it left the range (nothing jumps back into it);
 *   - blocked in the kernel (S/D), /proc/.../syscall shows its user pc: outside the range is fine;
 *   - stopped (T, t) or dead: nothing to learn; a stopped thread is assumed not to be in the range.
 * Everything here uses raw system calls and no libc: see rawsys.h. */
#include "attach_internal.h"
#include "rawsys.h"
#include <errno.h>
#include <fcntl.h>

#define RAN_ENOUGH_NS 20000 /* >> the kernel's return-to-user path */
#define POLL_NS 100000

struct linux_dirent64 {
	unsigned long long d_ino;
	long long d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *put_dec(char *p, long v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Read /proc/self/task/<tid>/<leaf> into buf (NUL-terminated). Length, or -errno. */
static long read_task_file(long tid, const char *leaf, char *buf, size_t cap)
{
	char path[64];
	char *p = put_str(path, "/proc/self/task/");
	p = put_dec(p, tid);
	*p++ = '/';
	p = put_str(p, leaf);
	*p = 0;
	long fd = raw_openat(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fd;
	long n = 0;
	while ((size_t)n < cap - 1) {
		long r = raw_read((int)fd, buf + n, cap - 1 - (size_t)n);
		if (r == -EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
	}
	raw_close((int)fd);
	buf[n] = 0;
	return n;
}

static unsigned long parse_num(const char **s, int base)
{
	const char *p = *s;
	unsigned long v = 0;
	if (base == 16 && p[0] == '0' && p[1] == 'x')
		p += 2;
	for (;; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			break;
		v = v * (unsigned long)base + (unsigned long)d;
	}
	*s = p;
	return v;
}

static char task_state(long tid)
{
	char buf[512];
	if (read_task_file(tid, "stat", buf, sizeof(buf)) <= 0)
		return 'X';
	/* "pid (comm) S ...": comm may contain anything, so look for the last ')'. */
	const char *close = NULL;
	for (const char *p = buf; *p; p++)
		if (*p == ')')
			close = p;
	return close && close[1] == ' ' ? close[2] : 'X';
}

/* 1 when the thread is blocked in the kernel with its user pc outside (lo, hi); 0 when unknown
 * or inside. */
static int blocked_outside(long tid, uintptr_t lo, uintptr_t hi)
{
	char buf[256];
	if (read_task_file(tid, "syscall", buf, sizeof(buf)) <= 0)
		return 0;
	if (buf[0] == 'r') /* "running" */
		return 0;
	/* "nr a1 .. a6 sp pc" or "-1 sp pc": the pc is the last field. */
	const char *last = buf;
	for (const char *p = buf; *p; p++)
		if (*p == ' ' && p[1] && p[1] != '\n')
			last = p + 1;
	uintptr_t pc = parse_num(&last, 16);
	return !(pc > lo && pc < hi);
}

static long runtime_ns(long tid)
{
	char buf[128];
	if (read_task_file(tid, "schedstat", buf, sizeof(buf)) <= 0)
		return -1;
	const char *p = buf;
	return (long)parse_num(&p, 10);
}

/* 0 once tid cannot be inside (lo, hi), -EAGAIN at the deadline. */
static int wait_thread(long tid, uintptr_t lo, uintptr_t hi, long deadline)
{
	long r0 = runtime_ns(tid);
	if (r0 < 0)
		return 0; /* gone */
	for (;;) {
		char st = task_state(tid);
		switch (st) {
		case 'S':
		case 'D':
			if (blocked_outside(tid, lo, hi))
				return 0;
			break;
		case 'R':
			break;
		default: /* stopped, traced, dead, unknown */
			return 0;
		}
		long r = runtime_ns(tid);
		if (r < 0 || r - r0 >= RAN_ENOUGH_NS)
			return 0;
		if (raw_now_ns() > deadline)
			return -EAGAIN;
		raw_sleep_ns(POLL_NS);
	}
}

/* Call fn(tid, arg) for every thread but the caller; stops at the first nonzero return. */
static int for_each_other_thread(int (*fn)(long tid, void *arg), void *arg)
{
	long self = raw_gettid();
	long fd = raw_openat("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return (int)fd;
	char buf[4096] __attribute__((aligned(8)));
	int rc = 0;
	for (;;) {
		long n = raw_getdents64((int)fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n && !rc;) {
			struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
			off += d->d_reclen;
			const char *s = d->d_name;
			if (*s < '0' || *s > '9')
				continue;
			long tid = (long)parse_num(&s, 10);
			if (tid != self)
				rc = fn(tid, arg);
		}
		if (rc)
			break;
	}
	raw_close((int)fd);
	return rc;
}

struct quiesce_arg {
	uintptr_t lo, hi;
	long deadline;
	long stuck_tid;
};

static int quiesce_one(long tid, void *argp)
{
	struct quiesce_arg *a = argp;
	if (wait_thread(tid, a->lo, a->hi, a->deadline) < 0) {
		a->stuck_tid = tid;
		return -EAGAIN;
	}
	return 0;
}

int attach_quiesce_range(uintptr_t lo, uintptr_t hi, long timeout_ns, long *stuck_tid)
{
	struct quiesce_arg a = {lo, hi, raw_now_ns() + timeout_ns, 0};
	int rc = for_each_other_thread(quiesce_one, &a);
	*stuck_tid = a.stuck_tid;
	return rc < 0 ? rc : 0;
}

static int blocks_sigtrap(long tid, void *arg)
{
	char buf[2048];
	if (read_task_file(tid, "status", buf, sizeof(buf)) <= 0)
		return 0;
	for (const char *p = buf; *p; p++) {
		if (p[0] == 'S' && p[1] == 'i' && p[2] == 'g' && p[3] == 'B' && p[4] == 'l' && p[5] == 'k' &&
		    p[6] == ':') {
			p += 7;
			while (*p == ' ' || *p == '\t')
				p++;
			unsigned long mask = parse_num(&p, 16);
			if (mask & (1UL << (5 /* SIGTRAP */ - 1))) {
				*(long *)arg = tid;
				return 1;
			}
			return 0;
		}
	}
	return 0;
}

long attach_thread_blocking_sigtrap(void)
{
	long tid = 0;
	for_each_other_thread(blocks_sigtrap, &tid);
	return tid;
}
