/* Helpers: fault-safe reads (NULL, unmapped, PROT_NONE, page-straddling), probe_read_str
 * conventions, pid/tgid in threads and forked children (libc fork and the raw syscall), comm
 * from the thread name, clocks, trace_printk formats and errors, run context, and the map
 * helpers reached through the table.
 *
 * Build and run (test/native/run.sh does this for every *_test.c):
 *   gcc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc-native/include test/native/helpers_test.c \
 *       $(find src-native/core -name '*.c') -lpthread -o /tmp/helpers_test && /tmp/helpers_test
 */
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"


#include "check.h"

#define STREQ(a, b)                                                                         \
	do {                                                                                \
		const char *_a = (a), *_b = (b);                                            \
		if (strcmp(_a, _b) == 0) {                                                  \
			passed++;                                                           \
		} else {                                                                    \
			failed++;                                                           \
			fprintf(stderr, "FAIL %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
				_a, _b);                                                    \
		}                                                                           \
	} while (0)

#define CALL(id, a, b, c, d, e)                                                          \
	bpftime_helper_table[id]((uint64_t)(uintptr_t)(a), (uint64_t)(uintptr_t)(b),        \
				 (uint64_t)(uintptr_t)(c), (uint64_t)(uintptr_t)(d),        \
				 (uint64_t)(uintptr_t)(e))

static long call_ret(uint64_t r) { return (long)(int64_t)r; }

static pid_t gettid_raw(void) { return (pid_t)syscall(SYS_gettid); }

/* A page that is mapped, followed by one that is not. */
static char *mapped_then_hole(void)
{
	char *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(p + 4096, 4096);
	return p;
}

static void test_table(void)
{
	EQ(bpftime_helper_table_len, __BPF_FUNC_MAX_ID);
	const int ids[] = {BPF_FUNC_map_lookup_elem, BPF_FUNC_map_update_elem,
			   BPF_FUNC_map_delete_elem, BPF_FUNC_probe_read, BPF_FUNC_ktime_get_ns,
			   BPF_FUNC_trace_printk, BPF_FUNC_get_prandom_u32,
			   BPF_FUNC_get_smp_processor_id, BPF_FUNC_get_current_pid_tgid,
			   BPF_FUNC_get_current_uid_gid, BPF_FUNC_get_current_comm,
			   BPF_FUNC_probe_read_str, BPF_FUNC_ktime_get_boot_ns,
			   BPF_FUNC_probe_read_user, BPF_FUNC_probe_read_kernel,
			   BPF_FUNC_probe_read_user_str, BPF_FUNC_probe_read_kernel_str,
			   BPF_FUNC_ktime_get_coarse_ns, BPF_FUNC_get_func_ip,
			   BPF_FUNC_get_attach_cookie, BPF_FUNC_trace_vprintk, BPF_FUNC_snprintf};
	int all = 1;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		all &= bpftime_helper_table[ids[i]] != NULL;
	CHECK(all);
	CHECK(bpftime_helper_table[BPF_FUNC_unspec] == NULL);
	CHECK(bpftime_helper_table[BPF_FUNC_override_return] != NULL); /* uprobe error injection */
	/* Tasks come from the host (the agent's stand-ins: task_test.c); without one, a NULL task. */
	CHECK(bpftime_helper_table[BPF_FUNC_get_current_task] != NULL &&
	      bpftime_helper_table[BPF_FUNC_get_current_task](0, 0, 0, 0, 0) == 0);
}

static void test_probe_read(void)
{
	char dst[64];
	static const char src[] = "0123456789abcdef";

	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 16, src, 0, 0)), 0);
	CHECK(memcmp(dst, src, 16) == 0 && dst[16] == 'X');
	EQ(call_ret(CALL(BPF_FUNC_probe_read, dst, 8, src + 8, 0, 0)), 0);
	CHECK(memcmp(dst, "89abcdef", 8) == 0);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 0, NULL, 0, 0)), 0);

	/* NULL, unmapped, PROT_NONE, straddling: -EFAULT, dst zeroed, no crash */
	int zeroed;
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 16, NULL, 0, 0)), -EFAULT);
	zeroed = 1;
	for (int i = 0; i < 16; i++)
		zeroed &= dst[i] == 0;
	CHECK(zeroed && dst[16] == 'X');
	char *p = mapped_then_hole();
	memset(p, 'a', 4096);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 8, p + 4096, 0, 0)), -EFAULT);
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 16, p + 4088, 0, 0)), -EFAULT);
	zeroed = 1;
	for (int i = 0; i < 16; i++)
		zeroed &= dst[i] == 0;
	CHECK(zeroed);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 8, p + 4088, 0, 0)), 0); /* up to the edge */
	char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user, dst, 4, none, 0, 0)), -EFAULT);
	EQ(call_ret(CALL(BPF_FUNC_probe_read, dst, 4, (void *)0x10, 0, 0)), -EFAULT);
	EQ(bpftime_copy_from_user(dst, (void *)-4096L, 8), -EFAULT);

	/* kernel reads: x86 answers -ERANGE for user addresses, -EFAULT here for kernel ones */
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel, dst, 8, src, 0, 0)), -ERANGE);
	CHECK(dst[0] == 0 && dst[7] == 0 && dst[8] == 'X');
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel, dst, 8, 0xffffffff81000000ull, 0, 0)), -EFAULT);
	EQ(call_ret(CALL(BPF_FUNC_probe_read, dst, 8, 0xffffffff81000000ull, 0, 0)), -EFAULT);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel_str, dst, 8, 0xffffffff81000000ull, 0, 0)), -EFAULT);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel_str, dst, 0, src, 0, 0)), 0);

	/* probe_read_str conventions */
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 32, "hello", 0, 0)), 6);
	STREQ(dst, "hello");
	EQ(dst[6], 'X'); /* nothing written past the NUL */
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 3, "hello", 0, 0)), 3); /* truncated */
	STREQ(dst, "he");
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 5, "hello", 0, 0)), 5);
	STREQ(dst, "hell");
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 6, "hello", 0, 0)), 6);
	STREQ(dst, "hello");
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 1, "hello", 0, 0)), 1);
	EQ(dst[0], 0);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 0, "hello", 0, 0)), 0);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_str, dst, 32, "", 0, 0)), 1);
	memset(dst, 'X', sizeof(dst));
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 32, NULL, 0, 0)), -EFAULT);
	zeroed = 1;
	for (int i = 0; i < 32; i++)
		zeroed &= dst[i] == 0;
	CHECK(zeroed && dst[32] == 'X');
	/* a string ending right before the hole reads fine; one running into it faults */
	memcpy(p + 4096 - 4, "abc", 4);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 64, p + 4092, 0, 0)), 4);
	STREQ(dst, "abc");
	memset(p + 4096 - 8, 'z', 8);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 64, p + 4088, 0, 0)), -EFAULT);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_user_str, dst, 8, p + 4088, 0, 0)), 8); /* bounded */
	STREQ(dst, "zzzzzzz");
	/* a long string across pages */
	char *big = malloc(10000);
	memset(big, 'q', 9999);
	big[9999] = 0;
	char *out = malloc(10000);
	EQ(bpftime_strncpy_from_user(out, big, 10000), 10000);
	EQ(strlen(out), 9999);
	free(big);
	free(out);
	munmap(p, 4096);
	munmap(none, 4096);
}

/* ---- pid/tgid, uid/gid, comm ---- */

static void *thread_ids(void *arg)
{
	uint64_t *out = arg;
	out[0] = CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0);
	out[1] = ((uint64_t)getpid() << 32) | (uint32_t)gettid_raw();
	pthread_setname_np(pthread_self(), "helper-thr");
	char comm[16];
	out[2] = CALL(BPF_FUNC_get_current_comm, comm, sizeof(comm), 0, 0, 0);
	out[3] = strcmp(comm, "helper-thr") == 0;
	return NULL;
}

static uint64_t expected_pid_tgid(void) { return ((uint64_t)getpid() << 32) | (uint32_t)gettid_raw(); }

static void test_task(void)
{
	uint64_t main_ids = CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0);
	EQ(main_ids, expected_pid_tgid());
	EQ(bpftime_current_pid_tgid(), main_ids);
	EQ(main_ids >> 32, (uint32_t)main_ids); /* main thread: tid == tgid */

	uint64_t t[4];
	pthread_t th;
	pthread_create(&th, NULL, thread_ids, t);
	pthread_join(th, NULL);
	EQ(t[0], t[1]);
	EQ(t[0] >> 32, main_ids >> 32);
	CHECK((uint32_t)t[0] != (uint32_t)main_ids);
	EQ(t[2], 0);
	EQ(t[3], 1);
	EQ(CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0), main_ids); /* still ours */

	/* children: the cache filled above must not leak into them */
	for (int raw = 0; raw < 2; raw++) {
		int fds[2];
		if (pipe(fds))
			return;
		pid_t pid = raw ? (pid_t)syscall(SYS_fork) : fork();
		if (pid == 0) {
			uint64_t got[2] = {CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0),
					   expected_pid_tgid()};
			if (write(fds[1], got, sizeof(got)) != sizeof(got))
				_exit(1);
			_exit(0);
		}
		uint64_t got[2] = {0, 1};
		CHECK(read(fds[0], got, sizeof(got)) == sizeof(got));
		waitpid(pid, NULL, 0);
		EQ(got[0], got[1]);
		EQ(got[0] >> 32, (uint64_t)pid);
		close(fds[0]);
		close(fds[1]);
	}
	bpftime_helpers_thread_reset();
	EQ(CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0), main_ids);

	uint64_t ug = CALL(BPF_FUNC_get_current_uid_gid, 0, 0, 0, 0, 0);
	EQ((uint32_t)ug, getuid());
	EQ(ug >> 32, getgid());

	/* comm: the thread name, strscpy_pad semantics */
	pthread_setname_np(pthread_self(), "bpf-comm-test");
	char comm[32];
	memset(comm, 'X', sizeof(comm));
	EQ(CALL(BPF_FUNC_get_current_comm, comm, 16, 0, 0, 0), 0);
	STREQ(comm, "bpf-comm-test");
	EQ(comm[15], 0); /* padded with zeros */
	memset(comm, 'X', sizeof(comm));
	EQ(CALL(BPF_FUNC_get_current_comm, comm, 4, 0, 0, 0), 0);
	STREQ(comm, "bpf");
	EQ(comm[4], 'X');
	memset(comm, 'X', sizeof(comm));
	EQ(CALL(BPF_FUNC_get_current_comm, comm, 32, 0, 0, 0), 0);
	STREQ(comm, "bpf-comm-test");
	EQ(comm[31], 0);
	prctl(PR_SET_NAME, "a-name-longer-than-15"); /* the kernel truncates to 15 */
	EQ(CALL(BPF_FUNC_get_current_comm, comm, 32, 0, 0, 0), 0);
	EQ(strlen(comm), 15); /* truncated by the kernel at TASK_COMM_LEN */
	EQ(call_ret(CALL(BPF_FUNC_get_current_comm, comm, 0, 0, 0, 0)), -EINVAL);

	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	CHECK((long)CALL(BPF_FUNC_get_smp_processor_id, 0, 0, 0, 0, 0) < ncpu);

	uint32_t r[8];
	int distinct = 0;
	for (int i = 0; i < 8; i++) {
		r[i] = (uint32_t)CALL(BPF_FUNC_get_prandom_u32, 0, 0, 0, 0, 0);
		distinct += i && r[i] != r[i - 1];
	}
	CHECK(distinct >= 6);
	/* a child's stream differs from the parent's continuation */
	int fds[2];
	if (pipe(fds) == 0) {
		pid_t pid = fork();
		if (pid == 0) {
			uint32_t c = (uint32_t)CALL(BPF_FUNC_get_prandom_u32, 0, 0, 0, 0, 0);
			if (write(fds[1], &c, 4) != 4)
				_exit(1);
			_exit(0);
		}
		uint32_t c = 0, mine = (uint32_t)CALL(BPF_FUNC_get_prandom_u32, 0, 0, 0, 0, 0);
		CHECK(read(fds[0], &c, 4) == 4);
		waitpid(pid, NULL, 0);
		CHECK(c != mine);
		close(fds[0]);
		close(fds[1]);
	}
}

static void test_time(void)
{
	uint64_t a = CALL(BPF_FUNC_ktime_get_ns, 0, 0, 0, 0, 0);
	usleep(2000);
	uint64_t b = CALL(BPF_FUNC_ktime_get_ns, 0, 0, 0, 0, 0);
	CHECK(b > a && b - a >= 2000000 && b - a < 2000000000ull);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mono = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	CHECK(mono >= b && mono - b < 1000000000ull);
	CHECK(CALL(BPF_FUNC_ktime_get_boot_ns, 0, 0, 0, 0, 0) >= a);
	uint64_t coarse = CALL(BPF_FUNC_ktime_get_coarse_ns, 0, 0, 0, 0, 0);
	CHECK(coarse > 0 && coarse <= CALL(BPF_FUNC_ktime_get_ns, 0, 0, 0, 0, 0) + 1);
}

/* ---- trace_printk and friends ---- */

static char trace_text[2048];
static size_t trace_len;
static int trace_calls;

static void capture(const char *text, size_t len)
{
	memcpy(trace_text, text, len);
	trace_text[len] = 0;
	trace_len = len;
	trace_calls++;
}

static long tp(const char *fmt, uint64_t a, uint64_t b, uint64_t c)
{
	trace_text[0] = 0;
	return call_ret(CALL(BPF_FUNC_trace_printk, fmt, strlen(fmt) + 1, a, b, c));
}

static void test_printk(void)
{
	struct bpftime_helper_host host = {.trace_printk = capture};
	bpftime_helpers_set_host(&host);

	EQ(tp("hello %d %u %x\n", (uint64_t)-5, 7, 255), 14);
	STREQ(trace_text, "hello -5 7 ff\n");
	EQ(trace_len, 14);
	tp("%ld %lu %lx", (uint64_t)-1, 1ull << 40, 0xdeadbeefcafeull);
	STREQ(trace_text, "-1 1099511627776 deadbeefcafe");
	tp("%lld %llu %llx", (uint64_t)-2, 3, 0xabcull);
	STREQ(trace_text, "-2 3 abc");
	tp("%i %X %%", 42, 0xbeef, 0);
	STREQ(trace_text, "42 BEEF %");
	tp("%d", 0x1ffffffffull, 0, 0); /* 32-bit conversion takes the low half */
	STREQ(trace_text, "-1");
	tp("[%5d][%-4u][%05x]", 42, 7, 0xab);
	STREQ(trace_text, "[   42][7   ][000ab]");
	tp("%c%c%c", 'a', 'b', 'c');
	STREQ(trace_text, "abc");
	tp("%s=%s.", (uintptr_t)"key", (uintptr_t)"value", 0);
	STREQ(trace_text, "key=value.");
	tp("[%s]", 0, 0, 0); /* unreadable string: printed empty, like the kernel */
	STREQ(trace_text, "[]");
	tp("%p", 0x1234, 0, 0);
	STREQ(trace_text, "0000000000001234");
	tp("%px %pK.", 0xabc, 0xdef, 0);
	STREQ(trace_text, "0000000000000abc 0000000000000def.");
	uint8_t ip4[4] = {10, 0, 0, 1};
	tp("%pI4 %pi4", (uintptr_t)ip4, (uintptr_t)ip4, 0);
	STREQ(trace_text, "10.0.0.1 010.000.000.001");
	uint8_t ip6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	tp("%pI6", (uintptr_t)ip6, 0, 0);
	STREQ(trace_text, "2001:0db8:0000:0000:0000:0000:0000:0001");
	tp("%pus!", (uintptr_t)"user", 0, 0);
	STREQ(trace_text, "user!");

	int before = trace_calls;
	EQ(tp("%q", 1, 0, 0), -EINVAL);           /* unknown conversion */
	EQ(tp("%d %d %d %d", 1, 2, 3), -EINVAL);  /* more than 3 */
	EQ(tp("%sx", (uintptr_t)"a", 0, 0), -EINVAL); /* %s followed by a letter */
	EQ(tp("%hd", 1, 0, 0), -EINVAL);
	EQ(tp("%lu%", 1, 0, 0), -EINVAL);         /* conversion without arguments left */
	EQ(tp("bell\a", 0, 0, 0), -EINVAL);       /* control character */
	EQ(tp("%pZ", 1, 0, 0), -EINVAL);
	EQ(call_ret(CALL(BPF_FUNC_trace_printk, "abc", 3, 0, 0, 0)), -EINVAL); /* no NUL in size */
	EQ(trace_calls, before); /* nothing emitted for rejected formats */
	EQ(tp("no args\n", 0, 0, 0), 8);
	EQ(tp("%%d", 0, 0, 0), 2);
	STREQ(trace_text, "%d");

	/* long output is cut at 1023 bytes but the length is the full one */
	static char longfmt[1500];
	memset(longfmt, 'w', 1400);
	longfmt[1400] = 0;
	EQ(tp(longfmt, 0, 0, 0), 1400);
	EQ(trace_len, 1023);

	/* vprintk: up to 12 arguments */
	uint64_t args[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	const char *vf = "%d %d %d %d %d %d %d %d %d %d %d %d";
	EQ(call_ret(CALL(BPF_FUNC_trace_vprintk, vf, strlen(vf) + 1, args, 96, 0)), 26);
	STREQ(trace_text, "1 2 3 4 5 6 7 8 9 10 11 12");
	EQ(call_ret(CALL(BPF_FUNC_trace_vprintk, vf, strlen(vf) + 1, args, 12, 0)), -EINVAL);
	EQ(call_ret(CALL(BPF_FUNC_trace_vprintk, vf, strlen(vf) + 1, args, 104, 0)), -EINVAL);
	EQ(call_ret(CALL(BPF_FUNC_trace_vprintk, vf, strlen(vf) + 1, args, 88, 0)), -EINVAL);

	/* snprintf: returns the full length + 1, truncates */
	char sbuf[8];
	uint64_t sargs[2] = {123456, (uintptr_t)"str"};
	EQ(call_ret(CALL(BPF_FUNC_snprintf, sbuf, sizeof(sbuf), "%d-%s", sargs, 16)), 11);
	STREQ(sbuf, "123456-");
	EQ(call_ret(CALL(BPF_FUNC_snprintf, NULL, 0, "%d", sargs, 8)), 7);
	bpftime_helpers_set_host(NULL);
}

/* ---- run context ---- */

static void test_run_ctx(void)
{
	EQ(CALL(BPF_FUNC_get_attach_cookie, 0, 0, 0, 0, 0), 0);
	struct bpftime_run_ctx c = {.cookie = 0xc00c1e, .func_ip = 0x401000};
	bpftime_run_ctx_set(&c);
	CHECK(bpftime_run_ctx_get() == &c);
	EQ(CALL(BPF_FUNC_get_attach_cookie, 0, 0, 0, 0, 0), 0xc00c1e);
	EQ(CALL(BPF_FUNC_get_func_ip, 0, 0, 0, 0, 0), 0x401000);
	bpftime_run_ctx_set(NULL);
	EQ(CALL(BPF_FUNC_get_func_ip, 0, 0, 0, 0, 0), 0);
}

/* ---- map helpers through the table ---- */

static void test_map_helpers(void)
{
	struct bpftime_map_spec spec = {BPF_MAP_TYPE_HASH, 4, 8, 16, 0, 0};
	int64_t size = bpftime_map_region_size(&spec);
	CHECK(size > 0);
	void *region = aligned_alloc(4096, ((size_t)size + 4095) & ~4095ul);
	memset(region, 0, (size_t)size);
	EQ(bpftime_map_region_init(region, (uint64_t)size, &spec), 0);
	struct bpftime_map *m;
	EQ(bpftime_map_open(&m, region, (uint64_t)size, 1), 0);
	uint32_t k = 5;
	uint64_t v = 99;
	EQ(CALL(BPF_FUNC_map_lookup_elem, m, &k, 0, 0, 0), 0);
	EQ(call_ret(CALL(BPF_FUNC_map_update_elem, m, &k, &v, BPF_NOEXIST, 0)), 0);
	EQ(call_ret(CALL(BPF_FUNC_map_update_elem, m, &k, &v, BPF_NOEXIST, 0)), -EEXIST);
	uint64_t *p = (uint64_t *)(uintptr_t)CALL(BPF_FUNC_map_lookup_elem, m, &k, 0, 0, 0);
	CHECK(p && *p == 99);
	/* a map value is kernel memory to the program, as on a kernel (bcc reads values with
	 * probe_read_kernel); past the map's memory it is not */
	uint64_t got = 0;
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel, &got, 8, p, 0, 0)), 0);
	EQ(got, 99);
	char s[4] = "xyz";
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel_str, s, 4, p, 0, 0)), 2); /* "c\0" of 99 */
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel, &got, 8, (char *)region + size - 4, 0, 0)), -ERANGE);
	EQ(call_ret(CALL(BPF_FUNC_map_delete_elem, m, &k, 0, 0, 0)), 0);
	EQ(call_ret(CALL(BPF_FUNC_map_delete_elem, m, &k, 0, 0, 0)), -ENOENT);
	bpftime_map_close(m);
	EQ(call_ret(CALL(BPF_FUNC_probe_read_kernel, &got, 8, region, 0, 0)), -ERANGE); /* closed */
	free(region);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void bench(void)
{
	const int N = 2000000;
	volatile uint64_t sink = 0;
	double t0 = now_ns();
	for (int i = 0; i < N; i++)
		sink += CALL(BPF_FUNC_get_current_pid_tgid, 0, 0, 0, 0, 0);
	double t1 = now_ns();
	for (int i = 0; i < N; i++)
		sink += CALL(BPF_FUNC_ktime_get_ns, 0, 0, 0, 0, 0);
	double t2 = now_ns();
	char buf[16];
	static const char src[] = "some data here";
	for (int i = 0; i < N / 10; i++)
		sink += CALL(BPF_FUNC_probe_read_user, buf, 8, src, 0, 0);
	double t3 = now_ns();
	printf("bench: get_current_pid_tgid %.1f ns, ktime_get_ns %.1f ns, probe_read_user(8) %.0f ns\n",
	       (t1 - t0) / N, (t2 - t1) / N, (t3 - t2) / (N / 10));
}

int main(void)
{
	test_table();
	test_probe_read();
	test_task();
	test_time();
	test_printk();
	test_run_ctx();
	test_map_helpers();
	bench();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
