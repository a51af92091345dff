/* Task stand-ins (src-native/agent/task.c) behind bpf_get_current_task[_btf] and the
 * probe_read family, reached through the helper table as programs reach them: the thread's ids,
 * name (also after a rename), parent (also after reparenting), main thread, credentials and
 * start times; other threads; fork and vfork children; and that nothing but a stand-in reads as
 * kernel memory (ends, padding, freed slots, the stack).
 *
 * The layout is a made-up one (not the running kernel's) so that every field the message names
 * is exercised, including ones placed out of bounds, which must be dropped.
 * Build and run: test/native/run.sh task_test
 */
// native-test-extra: src-native/agent/task.c src-native/agent/task_ns.c
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src-native/agent/agent.h"
#include "bpftime/helpers.h"


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

/* The made-up layout: a 250-byte task (so 6 bytes of padding precede the cred at 256). */
enum {
	TASK_SIZE = 250,
	CRED_SIZE = 32,
	O_PID = 8,
	O_TGID = 12,
	O_REAL_PARENT = 16,
	O_PARENT = 24,
	O_GROUP_LEADER = 32,
	O_COMM = 40,
	O_FLAGS = 56,
	O_START = 64,
	O_BOOT = 72,
	O_EXIT_CODE = 248, /* 248 + 4 > 250: must be dropped, never written */
	O_REAL_CRED = 80,
	O_CRED = 88,
	C_UID = 4,
	C_GID = 8,
	C_EUID = 12,
	C_EGID = 16,
	CRED_OFF = 256, /* where task.c puts the cred: the task rounded up to 64 */
};

static uint64_t call(int id, uint64_t a, uint64_t b, uint64_t c)
{
	return bpftime_helper_table[id](a, b, c, 0, 0);
}

static uint64_t current_task(void) { return call(BPF_FUNC_get_current_task, 0, 0, 0); }

/* probe_read_kernel of n bytes at task + off; the helper's return value. */
static long kread(uint64_t task, long off, void *dst, uint32_t n)
{
	return (long)call(BPF_FUNC_probe_read_kernel, (uint64_t)(uintptr_t)dst, n, task + (uint64_t)off);
}

static uint32_t kread32(uint64_t task, long off)
{
	uint32_t v = 0xdeadbeef;
	return kread(task, off, &v, 4) == 0 ? v : 0xdeadbeef;
}

static uint64_t kread64(uint64_t task, long off)
{
	uint64_t v = 0;
	return kread(task, off, &v, 8) == 0 ? v : 0xdeadbeefdeadbeefull;
}

static void kcomm(uint64_t task, char out[16])
{
	memset(out, 0, 16);
	long n = (long)call(BPF_FUNC_probe_read_kernel_str, (uint64_t)(uintptr_t)out, 16, task + O_COMM);
	if (n < 0)
		strcpy(out, "<fault>");
}

static void proc_comm(pid_t pid, char out[32])
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	FILE *f = fopen(path, "r");
	out[0] = 0;
	if (f) {
		if (fgets(out, 32, f))
			out[strcspn(out, "\n")] = 0;
		fclose(f);
	}
}

static void set_layout(void)
{
	struct bpftime_task_layout l = {
		.task_size = TASK_SIZE,
		.cred_size = CRED_SIZE,
		.pid = O_PID,
		.tgid = O_TGID,
		.real_parent = O_REAL_PARENT,
		.parent = O_PARENT,
		.group_leader = O_GROUP_LEADER,
		.comm = O_COMM,
		.comm_len = 16,
		.flags = O_FLAGS,
		.start_time = O_START,
		.start_boottime = O_BOOT,
		.exit_code = O_EXIT_CODE,
		.real_cred = O_REAL_CRED,
		.cred = O_CRED,
		.cred_uid = C_UID,
		.cred_gid = C_GID,
		.cred_euid = C_EUID,
		.cred_egid = C_EGID,
	};
	agent_task_set_layout(&l, sizeof(l));
}

static void test_no_layout(void)
{
	/* Before the server said anything: no task, and nothing reads as kernel memory. */
	EQ(current_task(), 0);
	char buf[8];
	EQ(kread((uint64_t)(uintptr_t)buf, 0, buf, 8), -ERANGE);
}

static void test_self(void)
{
	prctl(PR_SET_NAME, "task-main", 0, 0, 0);
	uint64_t t = current_task();
	CHECK(t != 0);
	EQ(current_task(), t); /* the same stand-in on every call */
	EQ(kread32(t, O_PID), getpid()); /* the main thread: tid == tgid */
	EQ(kread32(t, O_TGID), getpid());
	char c[16];
	kcomm(t, c);
	STREQ(c, "task-main");
	/* A rename shows at the next read, as it does in the kernel. */
	prctl(PR_SET_NAME, "renamed", 0, 0, 0);
	kcomm(t, c);
	STREQ(c, "renamed");
	prctl(PR_SET_NAME, "task-main", 0, 0, 0);
	EQ(kread64(t, O_GROUP_LEADER), t); /* the main thread leads its group */
	EQ(kread32(t, O_FLAGS), 0);

	/* The parent: tgid and pid are getppid(), its name as /proc says. */
	uint64_t p = kread64(t, O_REAL_PARENT);
	CHECK(p != 0 && p != t);
	EQ(kread64(t, O_PARENT), p);
	EQ(kread32(p, O_TGID), getppid());
	EQ(kread32(p, O_PID), getppid());
	char pc[16], want[32];
	kcomm(p, pc);
	proc_comm(getppid(), want);
	want[15] = 0;
	STREQ(pc, want);
	EQ(kread64(p, O_GROUP_LEADER), p);

	/* Credentials: a struct cred after the task, reached by pointer. */
	uint64_t cr = kread64(t, O_CRED);
	EQ(cr, t + CRED_OFF);
	EQ(kread64(t, O_REAL_CRED), cr);
	EQ(kread32(cr, C_UID), getuid());
	EQ(kread32(cr, C_EUID), geteuid());
	EQ(kread32(cr, C_GID), getgid());
	EQ(kread32(cr, C_EGID), getegid());

	/* Start times: this process's, from /proc; never in the future. */
	struct timespec m, b;
	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_BOOTTIME, &b);
	uint64_t st = kread64(t, O_START), sb = kread64(t, O_BOOT);
	CHECK(st > 0 && st <= (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec);
	CHECK(sb >= st && sb <= (uint64_t)b.tv_sec * 1000000000ull + (uint64_t)b.tv_nsec);

	/* The exit_code offset ran past the task: dropped, so those bytes stay zero. */
	uint16_t tail = 0xffff;
	EQ(kread(t, TASK_SIZE - 2, &tail, 2), 0);
	EQ(tail, 0);
}

static void test_bounds(void)
{
	uint64_t t = current_task();
	char buf[16];
	EQ(kread(t, 0, buf, 0), 0);                    /* a stand-in address, nothing to copy */
	EQ(kread(t, TASK_SIZE - 4, buf, 4), 0);        /* the last bytes */
	EQ(kread(t, TASK_SIZE - 4, buf, 8), -ERANGE);  /* past the end: a user address to the helper */
	EQ(kread(t, TASK_SIZE + 2, buf, 2), -ERANGE);  /* padding before the cred */
	EQ(kread(t, CRED_OFF + CRED_SIZE - 4, buf, 8), -ERANGE);
	int on_stack = 42;
	EQ(kread((uint64_t)(uintptr_t)&on_stack, 0, buf, 4), -ERANGE); /* user memory stays unreadable */
	memset(buf, 'x', sizeof(buf));
	EQ(kread(t, TASK_SIZE, buf, 8), -ERANGE);
	CHECK(buf[0] == 0 && buf[7] == 0); /* a failed read zeroes dst */
	/* Kernel addresses still fault. */
	EQ(kread(0xffff888000000000ull, 0, buf, 8), -EFAULT);

	/* Strings: up to the NUL; truncated at n with a NUL; the old helpers read stand-ins too. */
	char c[16];
	EQ((long)call(BPF_FUNC_probe_read_kernel_str, (uint64_t)(uintptr_t)c, 16, t + O_COMM), strlen("task-main") + 1);
	EQ((long)call(BPF_FUNC_probe_read_kernel_str, (uint64_t)(uintptr_t)c, 5, t + O_COMM), 5);
	STREQ(c, "task");
	EQ((long)call(BPF_FUNC_probe_read_str, (uint64_t)(uintptr_t)c, 16, t + O_COMM), strlen("task-main") + 1);
	STREQ(c, "task-main");
	uint32_t v = 0;
	EQ((long)call(BPF_FUNC_probe_read, (uint64_t)(uintptr_t)&v, 4, t + O_PID), 0);
	EQ(v, getpid());
	/* A string reaching the end of the task without a NUL is not one we hold. */
	EQ((long)call(BPF_FUNC_probe_read_kernel_str, (uint64_t)(uintptr_t)c, 16, t + TASK_SIZE - 1), 1); /* a zero byte */
}

struct thread_result {
	uint64_t task, leader, parent;
	uint32_t pid, tgid, tid;
	char leader_comm[16], comm[16];
};

static void *thread_main(void *arg)
{
	struct thread_result *r = arg;
	prctl(PR_SET_NAME, "task-worker", 0, 0, 0);
	r->tid = (uint32_t)syscall(SYS_gettid);
	r->task = current_task();
	r->pid = kread32(r->task, O_PID);
	r->tgid = kread32(r->task, O_TGID);
	r->leader = kread64(r->task, O_GROUP_LEADER);
	r->parent = kread64(r->task, O_REAL_PARENT);
	kcomm(r->task, r->comm);
	kcomm(r->leader, r->leader_comm);
	return NULL;
}

static void test_threads(void)
{
	uint64_t main_task = current_task();
	struct thread_result r = { 0 };
	pthread_t th;
	pthread_create(&th, NULL, thread_main, &r);
	pthread_join(th, NULL);
	CHECK(r.task != 0 && r.task != main_task);
	EQ(r.pid, r.tid);
	EQ(r.tgid, getpid());
	EQ(r.leader, main_task);                   /* group_leader: the main thread's stand-in */
	EQ(r.parent, kread64(main_task, O_REAL_PARENT)); /* one parent per process */
	STREQ(r.comm, "task-worker");
	STREQ(r.leader_comm, "task-main");
	/* The thread is gone: so is its stand-in. */
	char buf[4];
	EQ(kread(r.task, O_PID, buf, 4), -ERANGE);

	/* Slots are reused, and a reused one shows its new thread only. */
	struct thread_result r2 = { 0 };
	pthread_create(&th, NULL, thread_main, &r2);
	pthread_join(th, NULL);
	EQ(r2.pid, r2.tid);
	EQ(r2.leader, main_task);
}

static void test_btf_variant(void)
{
	/* The _btf variant's programs load fields directly: they are current without a read. */
	uint64_t t = call(BPF_FUNC_get_current_task_btf, 0, 0, 0);
	EQ(t, current_task());
	prctl(PR_SET_NAME, "btf-name", 0, 0, 0);
	t = call(BPF_FUNC_get_current_task_btf, 0, 0, 0);
	STREQ((const char *)(uintptr_t)(t + O_COMM), "btf-name");
	EQ(*(uint32_t *)(uintptr_t)(t + O_PID), getpid());
	prctl(PR_SET_NAME, "task-main", 0, 0, 0);
}

/* In a child: 0 when the stand-in describes it, else a line number. */
static int child_checks(pid_t parent)
{
	uint64_t t = current_task();
	if (!t)
		return __LINE__;
	if (kread32(t, O_PID) != (uint32_t)getpid() || kread32(t, O_TGID) != (uint32_t)getpid())
		return __LINE__;
	uint64_t p = kread64(t, O_REAL_PARENT);
	if (kread32(p, O_TGID) != (uint32_t)parent)
		return __LINE__;
	char c[16];
	kcomm(p, c);
	if (strcmp(c, "task-main") != 0)
		return __LINE__;
	if (kread64(t, O_GROUP_LEADER) != t)
		return __LINE__;
	return 0;
}

static void test_fork(void)
{
	uint64_t before = current_task();
	pid_t me = getpid();
	pid_t c = fork();
	if (c == 0)
		_exit(child_checks(me));
	int st = 0;
	waitpid(c, &st, 0);
	EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	EQ(current_task(), before); /* the parent's own is as it was */
	EQ(kread32(before, O_PID), getpid());
}

static void test_vfork(void)
{
	/* A vfork child shares our memory and TLS; the agent's syscall hooks drop the pid cache on
	 * both sides (here by hand). The child gets a stand-in of its own and leaves ours alone. */
	uint64_t before = current_task();
	uint64_t parent_of_before = kread64(before, O_REAL_PARENT);
	pid_t me = getpid();
	static volatile int child_rc = -1;
	static volatile uint64_t child_task;
	pid_t c = vfork();
	if (c == 0) {
		bpftime_helpers_thread_reset();
		child_task = current_task();
		child_rc = child_checks(me);
		_exit(0);
	}
	bpftime_helpers_thread_reset();
	waitpid(c, NULL, 0);
	EQ(child_rc, 0);
	CHECK(child_task != 0 && child_task != before);
	EQ(current_task(), before);
	EQ(kread32(before, O_PID), getpid());
	EQ(kread64(before, O_REAL_PARENT), parent_of_before);
	EQ(kread32(parent_of_before, O_TGID), getppid());
}

static void test_vfork_first(void)
{
	/* A fork child whose first stand-in is asked for by its own vfork child: the vfork child is
	 * a guest, and the fork child's stand-ins are still its own afterwards. */
	pid_t c = fork();
	if (c == 0) {
		pid_t me = getpid();
		static volatile int grc = -1;
		pid_t g = vfork();
		if (g == 0) {
			bpftime_helpers_thread_reset();
			grc = child_checks(me);
			_exit(0);
		}
		bpftime_helpers_thread_reset();
		waitpid(g, NULL, 0);
		if (grc != 0)
			_exit(10);
		int rc = child_checks(getppid());
		if (rc)
			_exit(20);
		/* Its threads get stand-ins of their own, led by its main thread's. */
		struct thread_result r = { 0 };
		pthread_t th;
		pthread_create(&th, NULL, thread_main, &r);
		pthread_join(th, NULL);
		uint64_t t = current_task();
		_exit(r.task != t && r.leader == t && r.pid == r.tid && r.tgid == (uint32_t)me ? 0 : 30);
	}
	int st = 0;
	waitpid(c, &st, 0);
	EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
}

static void test_reparent(void)
{
	/* The grandchild's parent exits; as we are a subreaper, it is reparented to us. Its parent's
	 * stand-in follows getppid(). */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		return;
	pid_t mid = fork();
	if (mid == 0) {
		prctl(PR_SET_NAME, "task-mid", 0, 0, 0);
		pid_t gc = fork();
		if (gc == 0) {
			uint64_t t = current_task();
			uint64_t p = kread64(t, O_REAL_PARENT);
			char c[16];
			kcomm(p, c);
			int rc = kread32(p, O_TGID) == (uint32_t)getppid() && strcmp(c, "task-mid") == 0 ? 0 : 1;
			char x;
			if (write(done[1], "r", 1) != 1 || read(go[0], &x, 1) != 1) /* wait for mid to go */
				_exit(9);
			if (rc == 0 && kread32(p, O_TGID) != (uint32_t)getppid())
				rc = 2;
			kcomm(p, c);
			if (rc == 0 && strcmp(c, "task-main") != 0)
				rc = 3;
			_exit(rc);
		}
		char x;
		if (read(done[0], &x, 1) != 1)
			_exit(9);
		_exit(0);
	}
	waitpid(mid, NULL, 0); /* mid is gone: the grandchild is ours now */
	if (write(go[1], "g", 1) != 1)
		return;
	int st = 0;
	pid_t gc = wait(&st);
	CHECK(gc > 0);
	EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
}

static double ns_per(struct timespec a, struct timespec b, int n)
{
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
}

static void bench(void)
{
	enum { N = 200000 };
	struct timespec a, b;
	volatile uint64_t sink = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N; i++)
		sink += current_task();
	clock_gettime(CLOCK_MONOTONIC, &b);
	double cur = ns_per(a, b, N);
	uint64_t t = current_task();
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N; i++)
		sink += kread32(t, O_TGID);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double rd = ns_per(a, b, N);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N / 10; i++)
		sink += kread32(kread64(t, O_REAL_PARENT), O_TGID); /* getppid() per parent read */
	clock_gettime(CLOCK_MONOTONIC, &b);
	double pp = ns_per(a, b, N / 10);
	char c[16];
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < N / 10; i++)
		kcomm(t, c); /* prctl() per read of one's own comm */
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("bench: get_current_task %.1f ns, probe_read_kernel(tgid) %.1f ns, real_parent->tgid %.1f ns, comm %.1f ns\n",
	       cur, rd, pp, ns_per(a, b, N / 10));
	(void)sink;
}

int main(void)
{
	static const struct bpftime_helper_host host = { .current_task = agent_task_current,
							 .kernel_read = agent_task_kernel_read };
	bpftime_helpers_set_host(&host);
	test_no_layout();
	set_layout();
	test_self();
	test_bounds();
	test_threads();
	test_btf_variant();
	test_fork();
	test_vfork();
	test_vfork_first();
	test_reparent();
	bench();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
