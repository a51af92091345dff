// Element commands (lookup, update, delete, get_next_key, lookup_and_delete) as the shim's data
// plane runs them without the server, on the inputs that take it off its fast path: bad, unmapped,
// read-only and page-straddling attr/key/value pointers (EFAULT, never a crash, and never the
// tool's own SIGSEGV handler), attr sizes below, at and above the union (E2BIG, EINVAL, EFAULT
// for an unreadable tail), dup'ed, closed and foreign fds, frozen maps, and keys and values of
// every copy size up to tens of KB, SIGBUS (a file page past its end) and threads faulting at
// once. test/e2e/elem-fault-differential.test.ts runs it on the kernel and under the shim and
// requires the same lines.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_calls_util.h"

#define ATTR_END(field) (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))
#define R(name, expr) report(name, expr, 0)

/* The tool's own SIGSEGV handler: a bad pointer given to bpf() must never reach it. */
static void tool_handler(int sig)
{
	(void)!write(1, "tool SIGSEGV handler ran\n", 25);
	_exit(9);
}

static int map_create(int type, unsigned ksz, unsigned vsz, unsigned max)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	return (int)sys_bpf(BPF_MAP_CREATE, &a, ATTR_END(map_extra));
}

/* Writes the first `size` bytes of an element attr at `where`. */
static void place(void *where, int fd, const void *k, void *v, uint64_t flags, size_t size)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = flags;
	memcpy(where, &a, size < sizeof(a) ? size : sizeof(a));
}

/* An element command with an attr of `size` bytes at `where`. */
static long elem_at(int cmd, void *where, int fd, const void *k, void *v, uint64_t flags, unsigned size)
{
	place(where, fd, k, v, flags, size);
	return sys_bpf(cmd, where, size);
}

static long e32(int cmd, int fd, const void *k, void *v, uint64_t flags)
{
	union bpf_attr a;
	return elem_at(cmd, &a, fd, k, v, flags, ATTR_END(flags));
}

/* `rw` bytes (a multiple of the page size) read-write, then a PROT_NONE page: returns where
 * the guard page starts. */
static uint8_t *guarded(size_t rw)
{
	uint8_t *p = mmap(NULL, rw + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + rw, 4096, PROT_NONE)) {
		perror("mmap");
		exit(1);
	}
	return p + rw;
}

static const char *const CMD[] = { [BPF_MAP_LOOKUP_ELEM] = "lookup", [BPF_MAP_UPDATE_ELEM] = "update",
				   [BPF_MAP_DELETE_ELEM] = "delete", [BPF_MAP_GET_NEXT_KEY] = "get_next_key",
				   [BPF_MAP_LOOKUP_AND_DELETE_ELEM] = "lookup_and_delete" };
static const int CMDS[] = { BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_GET_NEXT_KEY,
			    BPF_MAP_LOOKUP_AND_DELETE_ELEM };

static void attrs(const char *kind, int fd)
{
	char name[128];
	uint8_t *g = guarded(4096) - 4096;
	uint32_t k = 1;
	uint64_t v = 7;
	for (size_t c = 0; c < sizeof(CMDS) / sizeof(CMDS[0]); c++) {
		int cmd = CMDS[c];
		union bpf_attr a;
#define N(what) (snprintf(name, sizeof(name), "%s %s: %s", kind, CMD[cmd], what), name)
		R(N("attr NULL"), sys_bpf(cmd, NULL, ATTR_END(flags)));
		R(N("attr 0x10"), sys_bpf(cmd, (void *)0x10, ATTR_END(flags)));
		R(N("attr unmapped"), sys_bpf(cmd, (void *)(g + 4096), ATTR_END(flags)));
		R(N("attr kernel address"), sys_bpf(cmd, (void *)0xffffffff81000000ul, ATTR_END(flags)));
		place(g + 4096 - 16, fd, &k, &v, 0, 16);
		R(N("attr straddles a page"), sys_bpf(cmd, (void *)(g + 4096 - 16), ATTR_END(flags)));
		R(N("attr above a page"), sys_bpf(cmd, (void *)g, 4097));
		/* A page-sized attr whose tail beyond the union is zero: fine; non-zero: E2BIG. */
		uint8_t *big = calloc(1, 4096);
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uintptr_t)&k;
		a.value = (uintptr_t)&v;
		memcpy(big, &a, sizeof(a));
		R(N("attr of a page, zero tail"), sys_bpf(cmd, (void *)big, 4096));
		big[4000] = 1;
		R(N("attr of a page, non-zero tail"), sys_bpf(cmd, (void *)big, 4096));
		free(big);
		/* A tail beyond the union that runs into the guard page: EFAULT. */
		place(g + 4096 - sizeof(a) - 8, fd, &k, &v, 0, sizeof(a));
		R(N("attr tail unreadable"), sys_bpf(cmd, (void *)(g + 4096 - sizeof(a) - 8), sizeof(a) + 64));
		/* Non-zero bytes after `flags`, inside the union: EINVAL. */
		memset(&a, 0, sizeof(a));
		a.map_fd = fd;
		a.key = (uintptr_t)&k;
		a.value = (uintptr_t)&v;
		((uint8_t *)&a)[ATTR_END(flags) + 3] = 1;
		R(N("non-zero byte after flags"), sys_bpf(cmd, &a, sizeof(a)));
		/* Shorter attrs: the missing fields are zero. */
		R(N("attr of 4 bytes"), elem_at(cmd, &a, fd, &k, &v, 0, 4));
		R(N("attr of 0 bytes"), sys_bpf(cmd, &a, 0));
		R(N("attr of 16 bytes"), elem_at(cmd, &a, fd, &k, &v, 0, 16));
		R(N("attr up to value"), elem_at(cmd, &a, fd, &k, &v, 0, ATTR_END(value)));
		v = 7;
		e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY);
#undef N
	}
	munmap(g, 8192);
}

/* Keys and values at bad, read-only and straddling addresses. */
static void pointers(const char *kind, int fd, unsigned vsz)
{
	char name[128];
	size_t rw = (vsz + 4095) / 4096 * 4096;
	uint8_t *g = guarded(rw) - 4096; /* g + 4096: the guard page, with rw bytes before it */
	uint8_t *ro = mmap(NULL, rw, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *val = calloc(1, vsz), *out = calloc(1, vsz);
	uint32_t k = 2, next;
#define N(what) (snprintf(name, sizeof(name), "%s: %s", kind, what), name)
	memset(val, 0x5a, vsz);
	R(N("update"), e32(BPF_MAP_UPDATE_ELEM, fd, &k, val, BPF_ANY));
	R(N("lookup key NULL"), e32(BPF_MAP_LOOKUP_ELEM, fd, NULL, out, 0));
	R(N("lookup key 0x10"), e32(BPF_MAP_LOOKUP_ELEM, fd, (void *)0x10, out, 0));
	memcpy(g + 4096 - 2, &k, 2);
	R(N("lookup key straddles a page"), e32(BPF_MAP_LOOKUP_ELEM, fd, g + 4096 - 2, out, 0));
	R(N("lookup value NULL"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, NULL, 0));
	R(N("lookup value read-only"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, ro, 0));
	unsigned half = (vsz + 1) / 2; /* at least one byte before the guard page */
	R(N("lookup value straddles a page"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, g + 4096 - half, 0));
	R(N("lookup value kernel address"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, (void *)0xffffffff81000000ul, 0));
	R(N("lookup value non-canonical"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, (void *)0x8000000000000000ul, 0));
	R(N("update key non-canonical"), e32(BPF_MAP_UPDATE_ELEM, fd, (void *)0x0000800000000000ul, val, BPF_ANY));
	R(N("update key 0x10"), e32(BPF_MAP_UPDATE_ELEM, fd, (void *)0x10, val, BPF_ANY));
	R(N("update value NULL"), e32(BPF_MAP_UPDATE_ELEM, fd, &k, NULL, BPF_ANY));
	memcpy(g + 4096 - half, val, half);
	R(N("update value straddles a page"), e32(BPF_MAP_UPDATE_ELEM, fd, &k, g + 4096 - half, BPF_ANY));
	R(N("update value read-only (readable)"), e32(BPF_MAP_UPDATE_ELEM, fd, &k, ro, BPF_ANY));
	R(N("lookup after read-only update"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, out, 0));
	printf("%s: value is zero: %s\n", kind, out[0] == 0 && out[vsz - 1] == 0 ? "yes" : "no");
	R(N("delete key 0x10"), e32(BPF_MAP_DELETE_ELEM, fd, (void *)0x10, NULL, 0));
	R(N("get_next_key key 0x10"), e32(BPF_MAP_GET_NEXT_KEY, fd, (void *)0x10, &next, 0));
	R(N("get_next_key next NULL"), e32(BPF_MAP_GET_NEXT_KEY, fd, NULL, NULL, 0));
	R(N("get_next_key next read-only"), e32(BPF_MAP_GET_NEXT_KEY, fd, &k, ro, 0));
	R(N("get_next_key next straddles a page"), e32(BPF_MAP_GET_NEXT_KEY, fd, NULL, g + 4096 - 2, 0));
	R(N("lookup_and_delete value NULL"), e32(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, &k, NULL, 0));
	R(N("lookup after a faulted lookup_and_delete"), e32(BPF_MAP_LOOKUP_ELEM, fd, &k, out, 0));
	/* Every copy size (the copy routine has a path per size class): update, look up, compare. */
	for (unsigned n = 1; n <= vsz; n = n < 40 ? n + 1 : n * 3 / 2 + 1) {
		memset(val, 0, vsz);
		for (unsigned i = 0; i < n; i++)
			val[i] = (uint8_t)(i * 7 + n);
		memset(out, 0xee, vsz);
		int ok = e32(BPF_MAP_UPDATE_ELEM, fd, &k, val, BPF_ANY) == 0 &&
			 e32(BPF_MAP_LOOKUP_ELEM, fd, &k, out, 0) == 0 && memcmp(val, out, vsz) == 0;
		if (!ok)
			printf("%s: round trip of %u leading bytes: failed (%s)\n", kind, n, ename(errno));
	}
	printf("%s: round trips of every size: done\n", kind);
#undef N
	free(val);
	free(out);
	munmap(ro, rw);
	munmap(g + 4096 - rw, rw + 4096);
}

static void fds(void)
{
	int fd = map_create(BPF_MAP_TYPE_HASH, 4, 8, 16);
	uint32_t k = 1;
	uint64_t v = 5, out = 0;
	R("fds: update", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY));
	int d = dup(fd);
	R("fds: lookup through a dup", e32(BPF_MAP_LOOKUP_ELEM, d, &k, &out, 0));
	printf("fds: value through the dup: %llu\n", (unsigned long long)out);
	int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 500);
	R("fds: lookup through F_DUPFD_CLOEXEC", e32(BPF_MAP_LOOKUP_ELEM, d2, &k, &out, 0));
	close(fd);
	R("fds: lookup on the closed fd", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, &out, 0));
	R("fds: update on the closed fd", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY));
	R("fds: lookup through the dup after close", e32(BPF_MAP_LOOKUP_ELEM, d, &k, &out, 0));
	int nul = open("/dev/null", O_RDONLY);
	R("fds: lookup on /dev/null", e32(BPF_MAP_LOOKUP_ELEM, nul, &k, &out, 0));
	R("fds: get_next_key on /dev/null", e32(BPF_MAP_GET_NEXT_KEY, nul, NULL, &k, 0));
	/* dup2 of another file over a map fd: it is no longer the map. */
	dup2(nul, d);
	R("fds: lookup after dup2 over it", e32(BPF_MAP_LOOKUP_ELEM, d, &k, &out, 0));
	R("fds: lookup on fd -1", e32(BPF_MAP_LOOKUP_ELEM, -1, &k, &out, 0));
	R("fds: lookup on fd 1048580", e32(BPF_MAP_LOOKUP_ELEM, 1048580, &k, &out, 0));
	R("fds: lookup on fd 4000000000", e32(BPF_MAP_LOOKUP_ELEM, (int)4000000000u, &k, &out, 0));
	close(nul);
	close(d);
	close(d2);
}

/* A frozen map refuses writes with EPERM before it looks at the key (map_get_sys_perms). */
static void frozen(void)
{
	int fd = map_create(BPF_MAP_TYPE_HASH, 4, 8, 16);
	uint32_t k = 1;
	uint64_t v = 5, out;
	e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	R("frozen: freeze", sys_bpf(BPF_MAP_FREEZE, &a, ATTR_END(map_fd)));
	R("frozen: update", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY));
	R("frozen: update, bad key", e32(BPF_MAP_UPDATE_ELEM, fd, (void *)0x10, &v, BPF_ANY));
	R("frozen: update, bad flags", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, 77));
	R("frozen: delete, bad key", e32(BPF_MAP_DELETE_ELEM, fd, (void *)0x10, NULL, 0));
	R("frozen: lookup_and_delete, bad key", e32(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, (void *)0x10, &out, 0));
	R("frozen: lookup", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, &out, 0));
	R("frozen: get_next_key", e32(BPF_MAP_GET_NEXT_KEY, fd, NULL, &out, 0));
	close(fd);
}

/* Threads faulting at the same time: each copy's fault comes back to its own thread. */
static int mt_fd;
static void *mt_worker(void *arg)
{
	long efault = 0, ok = 0;
	uint64_t out;
	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t k = i & 3;
		void *v = (i + (uintptr_t)arg) % 3 == 0 ? (void *)0x10 : (void *)&out;
		long r = e32(BPF_MAP_LOOKUP_ELEM, mt_fd, &k, v, 0);
		if (r == 0)
			ok++;
		else if (errno == EFAULT)
			efault++;
	}
	return (void *)(ok * 100000 + efault);
}

static void threads(void)
{
	mt_fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, mt_worker, (void *)i);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		printf("threads: worker %d: %ld ok, %ld EFAULT\n", i, (long)(uintptr_t)r / 100000,
		       (long)(uintptr_t)r % 100000);
	}
	close(mt_fd);
}

/* A value in a file mapping past the file's end: a SIGBUS, not a SIGSEGV, for the copy. */
static void sigbus(void)
{
	int fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
	uint32_t k = 1;
	int mfd = memfd_create("elem-fault-sigbus", MFD_CLOEXEC);
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0); /* the file is empty */
	R("sigbus: update from beyond the file's end", e32(BPF_MAP_UPDATE_ELEM, fd, &k, p, BPF_ANY));
	R("sigbus: lookup into beyond the file's end", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, p, 0));
	munmap(p, 4096);
	close(mfd);
	close(fd);
}

/* A thread that blocks SIGSEGV and SIGBUS (a worker that blocked every signal, a handler whose
 * sa_mask holds them): a fault there is not delivered, the kernel would kill the process, so the
 * bad pointers must still come back as EFAULT without one. Also the same calls again once the
 * mask is open, and the server's commands (an attr copy) on the blocked thread. */
static int bl_fd;
static void bad_calls(const char *where)
{
	char name[128];
	uint32_t k = 1;
	uint64_t v = 7, out = 0;
	union bpf_attr info_attr;
	struct bpf_map_info info;
#define N(what) (snprintf(name, sizeof(name), "%s: %s", where, what), name)
	R(N("lookup value 0x10"), e32(BPF_MAP_LOOKUP_ELEM, bl_fd, &k, (void *)0x10, 0));
	R(N("update key 0x10"), e32(BPF_MAP_UPDATE_ELEM, bl_fd, (void *)0x10, &v, BPF_ANY));
	R(N("update value 0x10"), e32(BPF_MAP_UPDATE_ELEM, bl_fd, &k, (void *)0x10, BPF_ANY));
	R(N("get_next_key next 0x10"), e32(BPF_MAP_GET_NEXT_KEY, bl_fd, NULL, (void *)0x10, 0));
	R(N("attr 0x10"), sys_bpf(BPF_MAP_LOOKUP_ELEM, (void *)0x10, 32));
	R(N("update"), e32(BPF_MAP_UPDATE_ELEM, bl_fd, &k, &v, BPF_ANY));
	R(N("lookup"), e32(BPF_MAP_LOOKUP_ELEM, bl_fd, &k, &out, 0));
	printf("%s: value %llu\n", where, (unsigned long long)out);
	memset(&info_attr, 0, sizeof(info_attr));
	info_attr.info.bpf_fd = bl_fd;
	info_attr.info.info_len = sizeof(info);
	info_attr.info.info = 0x10;
	R(N("map info into 0x10"), sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &info_attr, sizeof(info_attr)));
#undef N
}

static void *bl_worker(void *arg)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	bad_calls("thread blocking every signal");
	return NULL;
}

static void bl_handler(int sig) { bad_calls("handler with a full sa_mask"); }

static void calls_blocking(int (*mask)(int, const sigset_t *, sigset_t *), int sig, const char *where)
{
	sigset_t one, old;
	sigemptyset(&one);
	sigaddset(&one, sig);
	mask(SIG_BLOCK, &one, &old);
	bad_calls(where);
	mask(SIG_SETMASK, &old, NULL);
}

static void blocked(void)
{
	bl_fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
	pthread_t t;
	pthread_create(&t, NULL, bl_worker, NULL);
	pthread_join(t, NULL);

	/* Both of libc's ways to change the mask. */
	calls_blocking(sigprocmask, SIGSEGV, "main thread blocking SIGSEGV");
	calls_blocking(pthread_sigmask, SIGBUS, "main thread blocking SIGBUS");
	bad_calls("main thread, mask open again");

	struct sigaction sa, back;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bl_handler;
	sigfillset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR1, NULL, &back);
	printf("handler reported back as installed: %s, full mask: %s\n", back.sa_handler == bl_handler ? "yes" : "no",
	       sigismember(&back.sa_mask, SIGSEGV) == 1 && sigismember(&back.sa_mask, SIGTERM) == 1 ? "yes" : "no");
	raise(SIGUSR1);
	bad_calls("main thread after the handler");
	signal(SIGUSR1, SIG_DFL);
	close(bl_fd);
}

static void flags(void)
{
	int fd = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 4);
	uint32_t k = 1;
	uint64_t v = 5, out;
	R("flags: lookup flags 4", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, &out, 4));
	R("flags: lookup flags 4, bad fd", e32(BPF_MAP_LOOKUP_ELEM, -1, &k, &out, 4));
	R("flags: lookup F_LOCK without a lock", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, &out, BPF_F_LOCK));
	R("flags: update flags 77", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, 77));
	R("flags: update NOEXIST on an array", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_NOEXIST));
	R("flags: delete on an array", e32(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0));
	R("flags: get_next_key flags 1", e32(BPF_MAP_GET_NEXT_KEY, fd, &k, &out, 1));
	k = 9;
	R("flags: lookup out of range", e32(BPF_MAP_LOOKUP_ELEM, fd, &k, &out, 0));
	R("flags: update out of range", e32(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY));
	close(fd);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tool_handler;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	int h = map_create(BPF_MAP_TYPE_HASH, 4, 8, 64);
	if (h < 0) {
		printf("bpf available: %s\n", ename(errno));
		return 0;
	}
	printf("bpf available: ok\n");
	int a = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 64);
	attrs("hash", h);
	attrs("array", a);
	close(h);
	close(a);

	static const unsigned sizes[] = { 1, 3, 4, 7, 8, 12, 16, 17, 24, 31, 32, 33, 64, 100, 255, 256, 257, 513, 1000, 1025, 4096, 40000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char kind[64];
		snprintf(kind, sizeof(kind), "hash value %u", sizes[i]);
		int fd = map_create(BPF_MAP_TYPE_HASH, 4, sizes[i], 8);
		if (fd < 0) {
			printf("%s: create %s\n", kind, ename(errno));
			continue;
		}
		pointers(kind, fd, sizes[i]);
		close(fd);
		snprintf(kind, sizeof(kind), "array value %u", sizes[i]);
		fd = map_create(BPF_MAP_TYPE_ARRAY, 4, sizes[i], 8);
		pointers(kind, fd, sizes[i]);
		close(fd);
	}
	fds();
	frozen();
	sigbus();
	threads();
	flags();
	blocked();
	printf("tool SIGSEGV handler never ran\n");
	return 0;
}
