/* Helpers: strncmp, strtol, strtoul (kernel answers for bases, signs, spaces, overflow, length
 * limits), probe_write_user and copy_from_user on good and bad pointers, jiffies64 against the
 * kernel's counter, get_numa_node_id, get_ns_current_pid_tgid, get_current_cgroup_id and
 * get_current_ancestor_cgroup_id (also in a cgroup made for the test when cgroup2 is writable),
 * and override_return on a run context. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <asm/ptrace.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/jit.h"
#include "bpftime/vma.h"
#include "check.h"

/* As JIT code calls helpers: the five arguments and the hidden tail-call count that helpers
 * calling back take (helpers_internal.h), so callbacks registered as JIT entries may run. */
static uint32_t tail_count;
#define CALL(id, a, b, c, d, e)                                                                      \
	(long)(int64_t)((bpftime_helper_fn6)(void (*)(void))bpftime_helper_table[id])(                                \
		(uint64_t)(uintptr_t)(a), (uint64_t)(uintptr_t)(b), (uint64_t)(uintptr_t)(c),          \
		(uint64_t)(uintptr_t)(d), (uint64_t)(uintptr_t)(e), &tail_count)

static void test_strncmp(void)
{
	EQ(CALL(BPF_FUNC_strncmp, "abc", 4, "abc", 0, 0), 0);
	EQ(CALL(BPF_FUNC_strncmp, "abc", 4, "abd", 0, 0), -1);
	EQ(CALL(BPF_FUNC_strncmp, "abz", 4, "abd", 0, 0), 1);
	EQ(CALL(BPF_FUNC_strncmp, "abz", 2, "abd", 0, 0), 0);
	EQ(CALL(BPF_FUNC_strncmp, "ab", 8, "abc", 0, 0), -1);
	EQ(CALL(BPF_FUNC_strncmp, "\x80", 2, "\x01", 0, 0), 1); /* unsigned bytes */
	EQ(CALL(BPF_FUNC_strncmp, "x", 0, "y", 0, 0), 0);
	EQ(CALL(BPF_FUNC_strncmp, "a\0x", 3, "a\0y", 0, 0), 0); /* stops at the NUL */
}

struct strtox_case {
	const char *s;
	int len; /* -1: strlen */
	uint64_t flags;
	long ret;
	long long val;
};

static void test_strtol(void)
{
	static const struct strtox_case cases[] = {
		{"123", -1, 10, 3, 123},
		{"  -123xyz", -1, 0, 6, -123},
		{"0x1f", -1, 0, 4, 31},
		{"0x1f", -1, 16, 4, 31},
		{"1f", -1, 16, 2, 31},
		{"0x", -1, 0, 1, 0},       /* no hex digit after 0x: octal 0 */
		{"0x", -1, 16, -EINVAL, 0}, /* base 16 skips "0x" and finds no digit */
		{"077", -1, 0, 3, 63},
		{"089", -1, 0, 1, 0},
		{"123", 2, 10, 2, 12},
		{"\xa0" "5", -1, 10, 2, 5}, /* the kernel's isspace() includes 0xa0 */
		{"\t\n\v\f\r 7", -1, 10, 7, 7},
		{"   ", -1, 10, -EINVAL, 0},
		{"-", -1, 10, -EINVAL, 0},
		{"--1", -1, 10, -EINVAL, 0},
		{"+1", -1, 10, -EINVAL, 0},
		{"12", -1, 2, -EINVAL, 0},
		{"12", -1, 10 | 0x20, -EINVAL, 0},
		{"9223372036854775807", -1, 10, 19, 9223372036854775807LL},
		{"9223372036854775808", -1, 10, -ERANGE, 0},
		{"-9223372036854775808", -1, 10, 20, (long long)(-9223372036854775807LL - 1)},
		{"-9223372036854775809", -1, 10, -ERANGE, 0},
		{"99999999999999999999", -1, 10, -ERANGE, 0},
		/* 70 digits: only 63 are read */
		{"0000000000000000000000000000000000000000000000000000000000000000000042", -1, 10, 63, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct strtox_case *c = &cases[i];
		long res = 77;
		long r = CALL(BPF_FUNC_strtol, c->s, c->len < 0 ? strlen(c->s) : (size_t)c->len, c->flags, &res, 0);
		if (r != c->ret || res != c->val)
			fprintf(stderr, "strtol case %zu \"%s\": ret %ld res %ld\n", i, c->s, r, res);
		EQ(r, c->ret);
		EQ(res, c->val);
	}
	long res = 5;
	EQ(CALL(BPF_FUNC_strtol, "1", 0, 10, &res, 0), -EINVAL);
	EQ(res, 0);
}

static void test_strtoul(void)
{
	unsigned long res = 77;
	EQ(CALL(BPF_FUNC_strtoul, "18446744073709551615", 20, 10, &res, 0), 20);
	CHECK(res == 18446744073709551615UL);
	EQ(CALL(BPF_FUNC_strtoul, "18446744073709551616", 20, 10, &res, 0), -ERANGE);
	EQ(res, 0);
	EQ(CALL(BPF_FUNC_strtoul, "9223372036854775808", 19, 10, &res, 0), 19);
	CHECK(res == 9223372036854775808UL);
	res = 3;
	EQ(CALL(BPF_FUNC_strtoul, "-1", 2, 10, &res, 0), -EINVAL);
	EQ(res, 0);
	EQ(CALL(BPF_FUNC_strtoul, " 0xFF!", 6, 0, &res, 0), 5);
	EQ(res, 255);
	EQ(CALL(BPF_FUNC_strtoul, "777", 3, 8, &res, 0), 3);
	EQ(res, 511);
	EQ(CALL(BPF_FUNC_strtoul, "8", 1, 8, &res, 0), -EINVAL);
}

static void test_uaccess(void)
{
	char dst[16] = {0};
	EQ(CALL(BPF_FUNC_probe_write_user, dst, "hello", 6, 0, 0), 0);
	CHECK(strcmp(dst, "hello") == 0);
	EQ(CALL(BPF_FUNC_probe_write_user, NULL, "x", 1, 0, 0), -EFAULT);
	EQ(CALL(BPF_FUNC_probe_write_user, NULL, "x", 0, 0, 0), 0);
	char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	EQ(CALL(BPF_FUNC_probe_write_user, ro, "x", 1, 0, 0), -EFAULT);
	EQ(ro[0], 0);
	char *rw = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(rw + 4096, 4096);
	EQ(CALL(BPF_FUNC_probe_write_user, rw + 4094, "abcd", 4, 0, 0), -EFAULT); /* straddles the hole */
	EQ(CALL(BPF_FUNC_probe_write_user, rw + 4092, "abcd", 4, 0, 0), 0);
	CHECK(memcmp(rw + 4092, "abcd", 4) == 0);

	char buf[8];
	memset(buf, 'z', sizeof(buf));
	EQ(CALL(BPF_FUNC_copy_from_user, buf, 6, "hello", 0, 0), 0);
	CHECK(strcmp(buf, "hello") == 0);
	memset(buf, 'z', sizeof(buf));
	EQ(CALL(BPF_FUNC_copy_from_user, buf, 8, rw + 4092, 0, 0), -EFAULT);
	CHECK(memcmp(buf, "\0\0\0\0\0\0\0\0", 8) == 0);
	munmap(ro, 4096);
	munmap(rw, 4096);
}

/* The kernel's jiffies now, from /proc/timer_list (root only), or 0. */
static unsigned long long kernel_jiffies(void)
{
	FILE *f = fopen("/proc/timer_list", "r");
	if (!f)
		return 0;
	char line[256];
	unsigned long long j = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", &j) == 1)
			break;
	fclose(f);
	return j;
}

static void test_jiffies(void)
{
	uint64_t a = (uint64_t)CALL(BPF_FUNC_jiffies64, 0, 0, 0, 0, 0);
	struct timespec ts = {0, 200000000};
	nanosleep(&ts, NULL);
	uint64_t b = (uint64_t)CALL(BPF_FUNC_jiffies64, 0, 0, 0, 0, 0);
	/* 200 ms at any HZ the kernel offers (100..1000): 20..200 ticks, plus scheduling slack */
	CHECK(b - a >= 20 && b - a <= 260);
	CHECK(a > 0xffffffffull - 300 * 1000); /* jiffies start 5 minutes before the 32-bit wrap */
	unsigned long long k = kernel_jiffies();
	if (k) {
		uint64_t c = (uint64_t)CALL(BPF_FUNC_jiffies64, 0, 0, 0, 0, 0);
		long long d = (long long)(c - k);
		if (d < -2 || d > 2)
			fprintf(stderr, "jiffies64 %llu, kernel %llu\n", (unsigned long long)c, k);
		CHECK(d >= -2 && d <= 2);
	} else {
		printf("jiffies: /proc/timer_list unreadable, not compared with the kernel's counter\n");
	}
}

static void test_numa(void)
{
	unsigned cpu, node;
	CHECK(getcpu(&cpu, &node) == 0);
	EQ(CALL(BPF_FUNC_get_numa_node_id, 0, 0, 0, 0, 0), node);
}

static void test_pidns(void)
{
	struct stat st;
	CHECK(stat("/proc/self/ns/pid", &st) == 0);
	struct bpf_pidns_info ns = {99, 99};
	EQ(CALL(BPF_FUNC_get_ns_current_pid_tgid, st.st_dev, st.st_ino, &ns, sizeof(ns), 0), 0);
	EQ(ns.tgid, getpid());
	EQ(ns.pid, syscall(SYS_gettid));
	ns.pid = ns.tgid = 99;
	EQ(CALL(BPF_FUNC_get_ns_current_pid_tgid, st.st_dev, st.st_ino + 1, &ns, sizeof(ns), 0), -EINVAL);
	CHECK(ns.pid == 0 && ns.tgid == 0);
	EQ(CALL(BPF_FUNC_get_ns_current_pid_tgid, st.st_dev | (1ull << 32), st.st_ino, &ns, sizeof(ns), 0), -EINVAL);
	ns.pid = 99;
	EQ(CALL(BPF_FUNC_get_ns_current_pid_tgid, st.st_dev, st.st_ino, &ns, 4, 0), -EINVAL);
	EQ(ns.pid, 0);
	/* A forked child answers with its own numbers. */
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t c = fork();
	if (c == 0) {
		struct bpf_pidns_info cn;
		CALL(BPF_FUNC_get_ns_current_pid_tgid, st.st_dev, st.st_ino, &cn, sizeof(cn), 0);
		ssize_t w = write(p[1], &cn, sizeof(cn));
		_exit(w == sizeof(cn) ? 0 : 1);
	}
	struct bpf_pidns_info cn = {0};
	CHECK(read(p[0], &cn, sizeof(cn)) == sizeof(cn));
	waitpid(c, NULL, 0);
	EQ(cn.tgid, c);
	EQ(cn.pid, c);
	close(p[0]);
	close(p[1]);
}

/* The cgroup2 mount point (first in mountinfo), or "" */
static void cgroup2_mount(char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[1024], mnt[512];
	out[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, " - cgroup2 "))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1) {
			snprintf(out, cap, "%s", mnt);
			break;
		}
	}
	if (f)
		fclose(f);
}

static void test_cgroup(void)
{
	char mnt[512], path[512] = "", full[1100];
	cgroup2_mount(mnt, sizeof(mnt));
	FILE *f = fopen("/proc/self/cgroup", "r");
	char line[600];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = 0;
			snprintf(path, sizeof(path), "%s", line + 3);
		}
	if (f)
		fclose(f);
	if (!mnt[0] || !path[0]) {
		printf("cgroup: no cgroup2 mount, ids not compared\n");
		return;
	}
	snprintf(full, sizeof(full), "%s%s", mnt, path);
	struct stat st;
	CHECK(stat(full, &st) == 0);
	EQ(CALL(BPF_FUNC_get_current_cgroup_id, 0, 0, 0, 0, 0), st.st_ino);
	EQ(CALL(BPF_FUNC_get_current_ancestor_cgroup_id, 0, 0, 0, 0, 0), 1); /* the root */
	EQ(CALL(BPF_FUNC_get_current_ancestor_cgroup_id, 1000, 0, 0, 0, 0), 0);
	EQ(CALL(BPF_FUNC_get_current_ancestor_cgroup_id, -1, 0, 0, 0, 0), 0);

	/* A child moved into a cgroup made for the test (needs a writable cgroup2). */
	char dir[1100], sub[1200], procs[1300];
	snprintf(dir, sizeof(dir), "%s/bpftime-helpers-test-%d", mnt, getpid());
	snprintf(sub, sizeof(sub), "%s/inner", dir);
	if (mkdir(dir, 0755) != 0 || mkdir(sub, 0755) != 0) {
		printf("cgroup: cannot create a cgroup in %s (%s): moved-thread case not run\n", mnt, strerror(errno));
		rmdir(dir);
		return;
	}
	struct stat sd, ss;
	stat(dir, &sd);
	stat(sub, &ss);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
	int p[2];
	CHECK(pipe(p) == 0);
	pid_t c = fork();
	if (c == 0) {
		char pid[32];
		int fd = open(procs, O_WRONLY);
		int n = snprintf(pid, sizeof(pid), "%d", getpid());
		if (fd < 0 || write(fd, pid, n) != n)
			_exit(1);
		close(fd);
		uint64_t ids[4] = {
			(uint64_t)CALL(BPF_FUNC_get_current_cgroup_id, 0, 0, 0, 0, 0),
			(uint64_t)CALL(BPF_FUNC_get_current_ancestor_cgroup_id, 0, 0, 0, 0, 0),
			(uint64_t)CALL(BPF_FUNC_get_current_ancestor_cgroup_id, 1, 0, 0, 0, 0),
			(uint64_t)CALL(BPF_FUNC_get_current_ancestor_cgroup_id, 2, 0, 0, 0, 0),
		};
		_exit(write(p[1], ids, sizeof(ids)) == sizeof(ids) ? 0 : 1);
	}
	uint64_t ids[4] = {0};
	CHECK(read(p[0], ids, sizeof(ids)) == sizeof(ids));
	int status;
	waitpid(c, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (strcmp(path, "/") == 0) { /* the test runs in the root: dir is level 1 */
		EQ(ids[0], ss.st_ino);
		EQ(ids[1], 1);
		EQ(ids[2], sd.st_ino);
		EQ(ids[3], ss.st_ino);
	} else {
		EQ(ids[0], ss.st_ino);
	}
	close(p[0]);
	close(p[1]);
	rmdir(sub);
	rmdir(dir);
}

static void test_override(void)
{
	struct pt_regs regs = {0};
	EQ(CALL(BPF_FUNC_override_return, &regs, -5, 0, 0, 0), -EINVAL); /* not in a probe run */
	struct bpftime_run_ctx rc = {.regs = &regs};
	bpftime_run_ctx_set(&rc);
	EQ(CALL(BPF_FUNC_override_return, &regs, (uint64_t)-5, 0, 0, 0), 0);
	bpftime_run_ctx_set(NULL);
	EQ(rc.override, 1);
	EQ((long)regs.rax, -5);
}

/* find_vma: a synthetic layout, a "task" the host presents as kernel memory, a C callback (what
 * JIT code hands the helper). */
static uint8_t fake_task[64];
static long fake_kernel_read(void *dst, const void *src, uint32_t n, int str)
{
	if ((const uint8_t *)src < fake_task || (const uint8_t *)src + n > fake_task + sizeof(fake_task))
		return -1;
	memcpy(dst, src, n);
	return 0;
}

static struct {
	int calls;
	uint64_t task, start, end, flags, pgoff;
	char name[64], iname[32];
	long read_ret;
} seen;

static uint64_t vma_cb(uint64_t task, uint64_t vma, uint64_t ctx, uint64_t a4, uint64_t a5)
{
	uint8_t *v = (uint8_t *)(uintptr_t)vma;
	seen.calls++;
	seen.task = task;
	memcpy(&seen.start, v + 0, 8);
	memcpy(&seen.end, v + 8, 8);
	memcpy(&seen.flags, v + 16, 8);
	memcpy(&seen.pgoff, v + 24, 8);
	uint8_t *file, *dentry;
	const char *name;
	memcpy(&file, v + 32, 8);
	if (file) {
		memcpy(&dentry, file + 8, 8);
		memcpy(&name, dentry + 16, 8);
		/* probe_read_kernel_str reads the stand-ins as kernel memory */
		seen.read_ret = (long)(int64_t)bpftime_helper_table[BPF_FUNC_probe_read_kernel_str](
			(uint64_t)(uintptr_t)seen.name, sizeof(seen.name), (uint64_t)(uintptr_t)name, 0, 0);
		memcpy(seen.iname, dentry + 32, sizeof(seen.iname));
	}
	return 0;
}

static void test_find_vma(void)
{
	/* Helpers call only registered JIT callback entries as native code (jit_callbacks.c). */
	EQ(bpftime_jit_callback_add((uint64_t)(uintptr_t)vma_cb), 0);
	EQ(CALL(BPF_FUNC_find_vma, fake_task, (uintptr_t)test_find_vma, vma_cb, 0, 0), -EOPNOTSUPP); /* no layout */
	struct bpftime_vma_layout l = {
		.magic = BPFTIME_VMA_LAYOUT_MAGIC, .vma_size = 48, .file_size = 16, .dentry_size = 64,
		.vm_start = 0, .vm_end = 8, .vm_flags = 16, .vm_pgoff = 24, .vm_file = 32, .f_path_dentry = 8,
		.d_name_name = 16, .d_name_len = 4, .d_iname = 32, .d_iname_len = 32, .task_tgid = 12,
	};
	bpftime_vma_set_layout(&l, sizeof(l));
	struct bpftime_helper_host host = {.kernel_read = fake_kernel_read};
	bpftime_helpers_set_host(&host);
	uint32_t tgid = (uint32_t)getpid();
	memcpy(fake_task + 12, &tgid, 4);

	EQ(CALL(BPF_FUNC_find_vma, fake_task, (uintptr_t)test_find_vma, vma_cb, 0, 1), -EINVAL);
	EQ(CALL(BPF_FUNC_find_vma, NULL, (uintptr_t)test_find_vma, vma_cb, 0, 0), -ENOENT);
	EQ(CALL(BPF_FUNC_find_vma, &tgid, (uintptr_t)test_find_vma, vma_cb, 0, 0), -ENOENT); /* not a task */
	EQ(CALL(BPF_FUNC_find_vma, fake_task, 8, vma_cb, 0, 0), -ENOENT);                    /* unmapped */
	EQ(seen.calls, 0);
	EQ(CALL(BPF_FUNC_find_vma, fake_task, (uintptr_t)test_find_vma, vma_cb, 0, 0), 0);
	EQ(seen.calls, 1);
	CHECK(seen.task == (uintptr_t)fake_task);
	CHECK(seen.start <= (uintptr_t)test_find_vma && (uintptr_t)test_find_vma < seen.end);
	EQ(seen.flags & 0xf, 0x5); /* r-x private */
	EQ(seen.read_ret, (long)strlen("helpers_misc_test") + 1);
	CHECK(strcmp(seen.name, "helpers_misc_test") == 0);
	CHECK(strcmp(seen.iname, "helpers_misc_test") == 0);
	/* An anonymous mapping: no file. */
	char *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(&seen, 0, sizeof(seen));
	EQ(CALL(BPF_FUNC_find_vma, fake_task, anon, vma_cb, 0, 0), 0);
	EQ(seen.start, (uintptr_t)anon);
	EQ(seen.flags & 0xf, 0x3);
	EQ(seen.name[0], 0);
	munmap(anon, 4096);
	bpftime_helpers_set_host(NULL);
}

int main(void)
{
	test_strncmp();
	test_strtol();
	test_strtoul();
	test_uaccess();
	test_jiffies();
	test_numa();
	test_pidns();
	test_cgroup();
	test_override();
	test_find_vma();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
