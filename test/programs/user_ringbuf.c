/* BPF_MAP_TYPE_USER_RINGBUF driver for the differential test
 * (test/e2e/user-ringbuf-differential.test.ts): produces records with libbpf's
 * user_ring_buffer__reserve/submit/discard, drains them with the SYSCALL program of
 * user_ringbuf.bpf.c through bpf_prog_test_run_opts, and prints every answer: map creation
 * errors, element commands (ENOTSUPP), the mmap rules (consumer page read-only, producer page
 * and data writable), drains (sums, counts, discarded records, the callback stopping early,
 * bad flags, records too short for the callback's read), a full ring and reserve_blocking
 * timing out on it, and a producer blocked in reserve_blocking woken by a drain. The same binary runs on the kernel and under the shim; the outputs must
 * be identical.
 *
 * usage: user_ringbuf OBJ */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

struct drain_args {
	__u64 flags, stop_after;
	long ret;
	__u64 sum, count, tail_sum;
	long read_err;
	__u64 sizes;
};

static int prog_fd;
static struct user_ring_buffer *rb;

static void drain(const char *what, __u64 flags, __u64 stop_after)
{
	struct drain_args a = { .flags = flags, .stop_after = stop_after };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &a, .ctx_size_in = sizeof(a));
	int rc = bpf_prog_test_run_opts(prog_fd, &o);
	printf("%s: run=%d retval=%u ret=%ld sum=%llu count=%llu tail_sum=%llu read_err=%ld sizes=%llu\n", what,
	       rc ? -errno : 0, o.retval, a.ret, (unsigned long long)a.sum, (unsigned long long)a.count,
	       (unsigned long long)a.tail_sum, a.read_err, (unsigned long long)a.sizes);
}

/* Submits (or discards) one record of `size` bytes holding v, then v * 1000 if size >= 16. */
static int put(__u32 size, __u64 v, int discard)
{
	__u8 *p = user_ring_buffer__reserve(rb, size);
	if (!p)
		return -errno;
	memset(p, 0, size);
	memcpy(p, &v, size < 8 ? size : 8);
	if (size >= 16) {
		__u64 t = v * 1000;
		memcpy(p + 8, &t, 8);
	}
	if (discard)
		user_ring_buffer__discard(rb, p);
	else
		user_ring_buffer__submit(rb, p);
	return 0;
}

static void create_errors(void)
{
	LIBBPF_OPTS(bpf_map_create_opts, none);
	struct { const char *what; __u32 ks, vs, max; } c[] = {
		{ "good", 0, 0, 4096 }, { "key_size 4", 4, 0, 4096 }, { "value_size 4", 0, 4, 4096 },
		{ "not a power of 2", 0, 0, 3 * 4096 }, { "not a page multiple", 0, 0, 2048 }, { "zero", 0, 0, 0 },
	};
	for (unsigned i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int fd = bpf_map_create(BPF_MAP_TYPE_USER_RINGBUF, NULL, c[i].ks, c[i].vs, c[i].max, &none);
		printf("create %s: %d\n", c[i].what, fd < 0 ? -errno : 0);
		if (fd >= 0)
			close(fd);
	}
}

static void element_and_mmap(int map_fd)
{
	__u64 k = 0, v = 0;
	printf("lookup: %d\n", bpf_map_lookup_elem(map_fd, &k, &v) ? -errno : 0);
	printf("update: %d\n", bpf_map_update_elem(map_fd, &k, &v, 0) ? -errno : 0);
	printf("get_next_key: %d\n", bpf_map_get_next_key(map_fd, NULL, &k) ? -errno : 0);
	long pg = sysconf(_SC_PAGESIZE);
	struct { const char *what; long off, len; int prot; } m[] = {
		{ "consumer page rw", 0, pg, PROT_READ | PROT_WRITE },
		{ "consumer page ro", 0, pg, PROT_READ },
		{ "producer page rw", pg, pg, PROT_READ | PROT_WRITE },
		{ "producer + data twice rw", pg, pg + 2 * 4096, PROT_READ | PROT_WRITE },
		{ "beyond the data", pg, pg + 2 * 4096 + pg, PROT_READ },
	};
	for (unsigned i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		void *p = mmap(NULL, m[i].len, m[i].prot, MAP_SHARED, map_fd, m[i].off);
		printf("mmap %s: %d\n", m[i].what, p == MAP_FAILED ? -errno : 0);
		if (p != MAP_FAILED)
			munmap(p, m[i].len);
	}
	void *p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, map_fd, pg);
	printf("mmap private: %d\n", p == MAP_FAILED ? -errno : 0);
}

/* A producer blocked on a full ring until a drain makes room (the kernel wakes it from the
 * drain; 5 s is far beyond the 100 ms the drain waits). */
static void *blocked_producer(void *arg)
{
	void *p = user_ring_buffer__reserve_blocking(rb, 8, 5000);
	*(int *)arg = p ? 0 : -errno;
	if (p)
		user_ring_buffer__discard(rb, p);
	return NULL;
}

static void wakeup(void)
{
	int n = 0;
	while (put(8, 1, 0) == 0)
		n++;
	printf("wakeup: ring full after %d records\n", n);
	int got = 1;
	pthread_t t;
	pthread_create(&t, NULL, blocked_producer, &got);
	usleep(100000);
	drain("wakeup: drain while the producer waits", 0, 0);
	pthread_join(t, NULL);
	printf("wakeup: blocked reserve: %d\n", got);
	drain("wakeup: after", 0, 0);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OBJ\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %d\n", -errno);
		return 1;
	}
	printf("loaded\n");
	prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, "drain"));
	int map_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "urb"));
	create_errors();
	element_and_mmap(map_fd);
	rb = user_ring_buffer__new(map_fd, NULL);
	if (!rb) {
		printf("user_ring_buffer__new: %d\n", -errno);
		return 1;
	}

	drain("empty", 0, 0);
	for (__u64 i = 1; i <= 100; i++)
		if (put(i % 3 ? 8 : 16, i, i % 10 == 0))
			printf("put %llu: %d\n", (unsigned long long)i, -errno);
	drain("100 records, 10 discarded", 0, 0);
	drain("again: nothing left", 0, 0);
	for (__u64 i = 1; i <= 20; i++)
		put(8, i, 0);
	drain("callback stops at 5", 0, 5);
	drain("the rest", BPF_RB_NO_WAKEUP, 0);
	put(8, 1, 0);
	drain("bad flags", 4, 0);
	drain("after bad flags", BPF_RB_FORCE_WAKEUP, 0);
	put(8, 7, 0);
	put(4, 8, 0);
	put(8, 9, 0);
	drain("a 4-byte record", 0, 0);
	drain("after the 4-byte record", 0, 0);
	put(12, 11, 0);
	put(24, 12, 0);
	drain("12 and 24 bytes", 0, 0);

	/* library-side checks and a full ring */
	errno = 0;
	void *z = user_ring_buffer__reserve(rb, 0);
	printf("reserve 0: %s errno=%d\n", z ? "ok" : "NULL", z ? 0 : errno);
	if (z)
		user_ring_buffer__submit(rb, z);
	errno = 0;
	void *big = user_ring_buffer__reserve(rb, 4096);
	printf("reserve 4096: %s errno=%d\n", big ? "ok" : "NULL", big ? 0 : errno);
	int n = 0, n8 = 0;
	while (put(120, n + 1, 0) == 0)
		n++;
	while (put(8, 1, 0) == 0)
		n8++;
	printf("full after %d records of 120 bytes and %d of 8: errno=%d\n", n, n8, errno);
	errno = 0;
	void *w = user_ring_buffer__reserve_blocking(rb, 8, 50);
	printf("reserve_blocking on a full ring: %s errno=%d\n", w ? "ok" : "NULL", w ? 0 : errno);
	if (w)
		user_ring_buffer__submit(rb, w);
	drain("the full ring", 0, 0);
	printf("put after the drain: %d\n", put(8, 5, 0));
	w = user_ring_buffer__reserve_blocking(rb, 8, 50);
	printf("reserve_blocking with room: %s\n", w ? "ok" : "NULL");
	if (w)
		user_ring_buffer__discard(rb, w);
	drain("last", 0, 0);
	wakeup();
	user_ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
