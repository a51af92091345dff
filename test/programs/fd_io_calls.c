// select/pselect on ring buffer and perf buffer fds, per-fd access modes of map fds, and the perf
// ioctls PAUSE_OUTPUT and QUERY_BPF, each step printed as one line. test/e2e/fdio-differential
// .test.ts runs it on the kernel and under the shim and requires the same lines. Records come from
// a program at a uprobe on this program itself (bpf_ringbuf_output + bpf_perf_event_output of its
// first argument). A perf buffer is reported readable once per wakeup by the kernel and while it
// holds unread records by the shim (level, as for ring buffers): the program consumes after each
// report, where both agree (see consume_perf). Nothing printed depends on ids, fd numbers, addresses or timing beyond "in
// time"/"late".
//
// Usage: fd_io_calls <directory on a bpf filesystem, for pins>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpf_calls_util.h"

#define PAGE 4096ul

static int map_create(int type, int ksz, int vsz, int max, int flags) { return create_map(type, ksz, vsz, max, flags, 0); }

/* ---- the program: ringbuf_output(rb, &arg0, 8), res[0] = perf_event_output(ctx, pa, CURRENT_CPU, &arg0, 8) ---- */

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LDX64(d, s, o) INSN(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define STX64(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define ST32(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define MOVK(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOVX(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADDK(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
#define LD_IMM64(d, lo, hi) INSN(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, lo), INSN(0, 0, 0, 0, hi)

static int load_output_prog(int rb, int pa, int res)
{
	struct bpf_insn insn[] = {
		MOVX(6, 1),
		LDX64(7, 6, 112), /* pt_regs->di: the first argument */
		STX64(10, 7, -8),
		LD_MAP(1, rb),
		MOVX(2, 10),
		ADDK(2, -8),
		MOVK(3, 8),
		MOVK(4, 0),
		CALL(BPF_FUNC_ringbuf_output),
		MOVX(1, 6),
		LD_MAP(2, pa),
		LD_IMM64(3, -1, 0), /* BPF_F_CURRENT_CPU */
		MOVX(4, 10),
		ADDK(4, -8),
		MOVK(5, 8),
		CALL(BPF_FUNC_perf_event_output),
		STX64(10, 0, -16),
		ST32(10, -20, 0),
		LD_MAP(1, res),
		MOVX(2, 10),
		ADDK(2, -20),
		MOVX(3, 10),
		ADDK(3, -16),
		MOVK(4, 0),
		CALL(BPF_FUNC_map_update_elem),
		MOVK(0, 0),
		EXIT(),
	};
	return load_kprobe_insns(insn, sizeof(insn) / sizeof(insn[0]));
}

/* A tracepoint program that does nothing, for QUERY_BPF. */
static int load_tp_prog(void)
{
	struct bpf_insn insn[] = { MOVK(0, 0), EXIT() };
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_TRACEPOINT;
	a.insns = (uintptr_t)insn;
	a.insn_cnt = 2;
	a.license = (uintptr_t) "GPL";
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

__attribute__((noinline)) void trigger(long value) { __asm__ volatile("" ::"r"(value) : "memory"); }

static int uprobe_self(void) { return open_self_uprobe((void *)trigger); }

static int perf_output_event(void)
{
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = PERF_TYPE_SOFTWARE;
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pa.sample_type = PERF_SAMPLE_RAW;
	pa.sample_period = 1;
	pa.wakeup_events = 1; /* as libbpf's perf_buffer opens them */
	return (int)syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

/* ---- the buffers as a consumer sees them ---- */

struct bufs {
	int rb, pe, res;
	volatile uint64_t *rb_cons;
	const volatile uint64_t *rb_prod;
	struct perf_event_mmap_page *pg;
};

/* The kernel reports a perf buffer readable once per wakeup (perf_poll() takes rb->poll), the
 * shim while records are unread (level): both agree once every report is followed by consuming
 * what was reported. This takes the kernel's pending report, then consumes. */
static void consume_perf(struct bufs *b)
{
	fd_set r;
	FD_ZERO(&r);
	FD_SET(b->pe, &r);
	struct timeval tv = { 0, 0 };
	usleep(10000);
	select(b->pe + 1, &r, NULL, NULL, &tv);
	__atomic_store_n(&b->pg->data_tail, __atomic_load_n(&b->pg->data_head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

static void consume_all(struct bufs *b)
{
	consume_perf(b);
	__atomic_store_n(b->rb_cons, __atomic_load_n(b->rb_prod, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	__atomic_store_n(&b->pg->data_tail, __atomic_load_n(&b->pg->data_head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

static int64_t result(int res)
{
	uint32_t k = 0;
	int64_t v = -999;
	elem(BPF_MAP_LOOKUP_ELEM, res, &k, &v, 0);
	return v;
}

/* The records in the perf buffer since data_tail, as "SAMPLE(value)" / "LOST(n)"; consumes them. */
static void print_perf_records(struct bufs *b, const char *what)
{
	const uint8_t *data = (const uint8_t *)b->pg + b->pg->data_offset;
	uint64_t size = b->pg->data_size, tail = b->pg->data_tail;
	uint64_t head = __atomic_load_n(&b->pg->data_head, __ATOMIC_ACQUIRE);
	char line[512] = "";
	while (tail < head) {
		const struct perf_event_header *h = (const void *)(data + (tail & (size - 1)));
		char one[64];
		if (h->type == PERF_RECORD_SAMPLE)
			snprintf(one, sizeof(one), " SAMPLE(0x%lx)", (unsigned long)*(const uint64_t *)((const uint8_t *)h + 12));
		else if (h->type == PERF_RECORD_LOST)
			snprintf(one, sizeof(one), " LOST(%lu)", (unsigned long)((const uint64_t *)(h + 1))[1]);
		else
			snprintf(one, sizeof(one), " type%u", h->type);
		strncat(line, one, sizeof(line) - strlen(line) - 1);
		tail += h->size;
	}
	__atomic_store_n(&b->pg->data_tail, tail, __ATOMIC_RELEASE);
	printf("%s:%s\n", what, line[0] ? line : " none");
}

/* ---- select ---- */

static void settle(void) { usleep(10000); } /* the kernel wakes from irq_work: let it run */

/* "ret N [rb pe rd wr]" : which of the named fds came back set. */
static void print_sets(const char *name, long ret, int err, const fd_set *r, const fd_set *w, struct bufs *b, const int *p)
{
	if (ret < 0) {
		printf("%s: %s\n", name, ename(err));
		return;
	}
	printf("%s: %ld [%s%s%s%s]\n", name, ret, r && FD_ISSET(b->rb, r) ? " rb" : "", r && FD_ISSET(b->pe, r) ? " pe" : "",
	       r && FD_ISSET(p[0], r) ? " pipe-r" : "", w && FD_ISSET(p[1], w) ? " pipe-w" : "");
}

static int maxfd(struct bufs *b, const int *p)
{
	int m = b->rb;
	if (b->pe > m)
		m = b->pe;
	if (p[0] > m)
		m = p[0];
	if (p[1] > m)
		m = p[1];
	return m + 1;
}

static void read_set(fd_set *r, struct bufs *b, const int *p)
{
	FD_ZERO(r);
	FD_SET(b->rb, r);
	FD_SET(b->pe, r);
	FD_SET(p[0], r);
}

struct later {
	long value;
	int delay_ms;
};

static void *trigger_later(void *arg)
{
	struct later *l = arg;
	usleep(l->delay_ms * 1000);
	trigger(l->value);
	return NULL;
}

static void *write_later(void *arg)
{
	usleep(100000);
	if (write(*(int *)arg, "y", 1) != 1)
		perror("write");
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void select_checks(struct bufs *b)
{
	int p[2];
	if (pipe(p) < 0)
		return;
	int n = maxfd(b, p);
	fd_set r, w;
	struct timeval tv;

	read_set(&r, b, p);
	tv = (struct timeval){ 0, 0 };
	long ret = select(n, &r, NULL, NULL, &tv);
	print_sets("select empty", ret, errno, &r, NULL, b, p);
	printf("select empty timeout: %ld.%06ld\n", (long)tv.tv_sec, (long)tv.tv_usec);

	if (write(p[1], "x", 1) != 1)
		return;
	read_set(&r, b, p);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, &r, NULL, NULL, &tv);
	print_sets("select pipe data", ret, errno, &r, NULL, b, p);

	FD_ZERO(&w);
	FD_SET(b->rb, &w);
	FD_SET(b->pe, &w);
	FD_SET(p[1], &w);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, NULL, &w, NULL, &tv);
	printf("select write set: %ld [%s%s%s]\n", ret, FD_ISSET(b->rb, &w) ? " rb" : "", FD_ISSET(b->pe, &w) ? " pe" : "",
	       FD_ISSET(p[1], &w) ? " pipe-w" : "");
	FD_ZERO(&w);
	FD_SET(b->rb, &w);
	FD_SET(b->pe, &w);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, NULL, NULL, &w, &tv);
	printf("select except set: %ld [%s%s]\n", ret, FD_ISSET(b->rb, &w) ? " rb" : "", FD_ISSET(b->pe, &w) ? " pe" : "");

	trigger(0x11);
	settle();
	read_set(&r, b, p);
	FD_ZERO(&w);
	FD_SET(p[1], &w);
	tv = (struct timeval){ 5, 0 };
	ret = select(n, &r, &w, NULL, &tv);
	print_sets("select after output", ret, errno, &r, &w, b, p);
	printf("select after output timeout left: %s\n", tv.tv_sec == 4 || (tv.tv_sec == 5 && tv.tv_usec == 0) ? "most" : "wrong");
	consume_all(b);
	char c;
	if (read(p[0], &c, 1) != 1)
		return;
	read_set(&r, b, p);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, &r, NULL, NULL, &tv);
	print_sets("select after consuming", ret, errno, &r, NULL, b, p);

	read_set(&r, b, p);
	tv = (struct timeval){ 0, 50000 };
	double t0 = now();
	ret = select(n, &r, NULL, NULL, &tv);
	double waited = now() - t0;
	print_sets("select 50ms", ret, errno, &r, NULL, b, p);
	printf("select 50ms: waited %s, timeout left %ld.%06ld\n", waited >= 0.045 ? "enough" : "too little", (long)tv.tv_sec,
	       (long)tv.tv_usec);

	/* Blocking: woken by a record (ring buffer, then perf buffer), not by a timeout. */
	const char *which[] = { "ring buffer", "perf buffer" };
	for (int i = 0; i < 2; i++) {
		FD_ZERO(&r);
		FD_SET(i == 0 ? b->rb : b->pe, &r);
		FD_SET(p[0], &r);
		struct later l = { 0x20 + i, 100 };
		pthread_t t;
		pthread_create(&t, NULL, trigger_later, &l);
		t0 = now();
		ret = select(n, &r, NULL, NULL, NULL);
		waited = now() - t0;
		pthread_join(t, NULL);
		char name[64];
		snprintf(name, sizeof(name), "select blocked on %s", which[i]);
		print_sets(name, ret, errno, &r, NULL, b, p);
		printf("%s: woken %s\n", name, waited < 2 ? "in time" : "late");
		settle();
		consume_all(b);
	}
	/* A pipe written while a select waits on it and on the rings wakes it by itself. */
	{
		read_set(&r, b, p);
		pthread_t t;
		pthread_create(&t, NULL, write_later, &p[1]);
		t0 = now();
		ret = select(n, &r, NULL, NULL, NULL);
		waited = now() - t0;
		pthread_join(t, NULL);
		print_sets("select blocked, pipe written", ret, errno, &r, NULL, b, p);
		printf("select blocked, pipe written: woken %s\n", waited < 2 ? "in time" : "late");
		char c2;
		if (read(p[0], &c2, 1) != 1)
			return;
	}

	/* pselect: glibc's leaves the timeout alone; the raw pselect6 updates it. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	trigger(0x30);
	settle();
	read_set(&r, b, p);
	struct timespec ts = { 3, 0 };
	ret = pselect(n, &r, NULL, NULL, &ts, &mask);
	print_sets("pselect", ret, errno, &r, NULL, b, p);
	printf("pselect timeout: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
	consume_perf(b); /* the ring buffer's record stays: level on both */
	read_set(&r, b, p);
	struct {
		const sigset_t *ss;
		size_t len;
	} data = { &mask, 8 };
	ts = (struct timespec){ 3, 0 };
	ret = syscall(SYS_pselect6, n, &r, NULL, NULL, &ts, &data);
	print_sets("pselect6", ret, errno, &r, NULL, b, p);
	printf("pselect6 timeout left: %s\n", ts.tv_sec == 2 || (ts.tv_sec == 3 && ts.tv_nsec == 0) ? "most" : "wrong");
	data.len = 4;
	read_set(&r, b, p);
	ret = syscall(SYS_pselect6, n, &r, NULL, NULL, &ts, &data);
	print_sets("pselect6 bad sigset size", ret, errno, &r, NULL, b, p);
	read_set(&r, b, p);
	tv = (struct timeval){ 1, 0 };
	ret = syscall(SYS_select, n, &r, NULL, NULL, &tv);
	print_sets("SYS_select", ret, errno, &r, NULL, b, p);
	consume_all(b);
	read_set(&r, b, p);
	ts = (struct timespec){ 0, 20000000 };
	ret = syscall(SYS_pselect6, n, &r, NULL, NULL, &ts, NULL);
	print_sets("pselect6 20ms", ret, errno, &r, NULL, b, p);
	printf("pselect6 20ms timeout: %ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);

	/* Errors: a closed fd among the rings, bad timeouts, a bad set pointer. */
	int closed = dup(p[0]);
	close(closed);
	read_set(&r, b, p);
	FD_SET(closed, &r);
	tv = (struct timeval){ 0, 0 };
	ret = select(closed + 1 > n ? closed + 1 : n, &r, NULL, NULL, &tv);
	printf("select closed fd: %s, rb still set %d\n", ret < 0 ? ename(errno) : "ok", FD_ISSET(b->rb, &r) != 0);
	read_set(&r, b, p);
	tv = (struct timeval){ -1, 0 };
	ret = select(n, &r, NULL, NULL, &tv);
	print_sets("select negative timeout", ret, errno, &r, NULL, b, p);
	read_set(&r, b, p);
	ts = (struct timespec){ 0, 1000000000 };
	ret = syscall(SYS_pselect6, n, &r, NULL, NULL, &ts, NULL);
	print_sets("pselect6 bad nsec", ret, errno, &r, NULL, b, p);
	read_set(&r, b, p);
	ret = syscall(SYS_select, n, &r, NULL, NULL, (void *)8);
	print_sets("select bad timeout pointer", ret, errno, &r, NULL, b, p);
	ret = select(-1, &r, NULL, NULL, NULL);
	print_sets("select nfds -1", ret, errno, &r, NULL, b, p);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, (fd_set *)8, NULL, NULL, &tv);
	printf("select bad read set: %s\n", ret < 0 ? ename(errno) : "ok");
	read_set(&r, b, p);
	tv = (struct timeval){ 0, 0 };
	ret = select(n, &r, (fd_set *)8, NULL, &tv);
	printf("select bad write set: %s\n", ret < 0 ? ename(errno) : "ok");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 };
	epoll_ctl(ep, EPOLL_CTL_ADD, b->rb, &ev);
	/* The kernel only faults when it has events to write. */
	struct epoll_event *bad_events = (struct epoll_event *)(uintptr_t)8;
	ret = epoll_wait(ep, bad_events, 4, 0);
	printf("epoll_wait bad events, none ready: %s\n", ret < 0 ? ename(errno) : "ok");
	trigger(0x50);
	settle();
	ret = epoll_wait(ep, bad_events, 4, 0);
	printf("epoll_wait bad events, one ready: %s\n", ret < 0 ? ename(errno) : "ok");
	consume_all(b);
	close(ep);
	struct pollfd *bad_fds = (struct pollfd *)(uintptr_t)8;
	ret = poll(bad_fds, 1, 0);
	printf("poll bad fds: %s\n", ret < 0 ? ename(errno) : "ok");
	close(p[0]);
	close(p[1]);
}

/* ---- access modes ---- */

static void mode_ops(const char *name, int fd)
{
	uint32_t k = 0, nk;
	uint64_t v = 7;
	int fl = fcntl(fd, F_GETFL);
	const char *acc = fl < 0 ? ename(errno) : (fl & O_ACCMODE) == O_RDONLY ? "O_RDONLY" : (fl & O_ACCMODE) == O_WRONLY ? "O_WRONLY" : "O_RDWR";
	printf("%s: F_GETFL %s\n", name, acc);
	char path[64], text[4096] = "";
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *fi = fopen(path, "r");
	if (fi) {
		size_t got = fread(text, 1, sizeof(text) - 1, fi);
		text[got] = 0;
		fclose(fi);
	}
	const char *fl_line = strstr(text, "flags:");
	printf("%s: fdinfo %.*s\n", name, fl_line ? (int)strcspn(fl_line, "\n") : 4, fl_line ? fl_line : "none");
	char line[256];
	int n = snprintf(line, sizeof(line), "%s:", name);
	long r;
	r = elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, 0);
	n += snprintf(line + n, sizeof(line) - n, " update %s", r < 0 ? ename(errno) : "ok");
	r = elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0);
	n += snprintf(line + n, sizeof(line) - n, " lookup %s", r < 0 ? ename(errno) : "ok");
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)&k;
	a.next_key = (uintptr_t)&nk;
	r = sys_bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof(a));
	n += snprintf(line + n, sizeof(line) - n, " next_key %s", r < 0 ? ename(errno) : "ok");
	r = elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, &k, &v, 0);
	n += snprintf(line + n, sizeof(line) - n, " lookup_and_delete %s", r < 0 ? ename(errno) : "ok");
	r = elem(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0);
	n += snprintf(line + n, sizeof(line) - n, " delete %s", r < 0 ? ename(errno) : "ok");
	/* batches */
	uint32_t keys[4], count = 4, out;
	uint64_t vals[4];
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = fd;
	a.batch.out_batch = (uintptr_t)&out;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)vals;
	a.batch.count = count;
	r = sys_bpf(BPF_MAP_LOOKUP_BATCH, &a, sizeof(a));
	n += snprintf(line + n, sizeof(line) - n, " lookup_batch %s", r < 0 ? ename(errno) : "ok");
	keys[0] = 1;
	vals[0] = 1;
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = fd;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)vals;
	a.batch.count = 1;
	r = sys_bpf(BPF_MAP_UPDATE_BATCH, &a, sizeof(a));
	n += snprintf(line + n, sizeof(line) - n, " update_batch %s", r < 0 ? ename(errno) : "ok");
	a.batch.count = 1;
	r = sys_bpf(BPF_MAP_DELETE_BATCH, &a, sizeof(a));
	snprintf(line + n, sizeof(line) - n, " delete_batch %s", r < 0 ? ename(errno) : "ok");
	printf("%s\n", line);
}

static int get_fd_by_id(int id, uint32_t flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_id = id;
	a.open_flags = flags;
	return (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof(a));
}

static int map_id(int fd)
{
	struct bpf_map_info info;
	memset(&info, 0, sizeof(info));
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0 ? -1 : (int)info.id;
}

static void mode_checks(const char *bpffs)
{
	report("create hash RDONLY|WRONLY", map_create(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_RDONLY | BPF_F_WRONLY), 0);
	int ro = map_create(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_RDONLY);
	if (report("create hash RDONLY", ro, 0) >= 0)
		mode_ops("RDONLY fd", ro);
	int wo = map_create(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_WRONLY);
	if (report("create hash WRONLY", wo, 0) >= 0)
		mode_ops("WRONLY fd", wo);
	int rw = map_create(BPF_MAP_TYPE_HASH, 4, 8, 8, 0);
	if (report("create hash", rw, 0) < 0)
		return;
	int id = map_id(rw);
	int byid_ro = get_fd_by_id(id, BPF_F_RDONLY);
	if (report("get_fd_by_id RDONLY", byid_ro, 0) >= 0)
		mode_ops("by id RDONLY", byid_ro);
	int byid_wo = get_fd_by_id(id, BPF_F_WRONLY);
	if (report("get_fd_by_id WRONLY", byid_wo, 0) >= 0)
		mode_ops("by id WRONLY", byid_wo);
	mode_ops("read-write fd after", rw);
	int dupd = dup(byid_ro);
	mode_ops("dup of RDONLY", dupd);
	if (id > 0 && byid_ro >= 0) {
		int ro_by_id = get_fd_by_id(map_id(ro), 0);
		report("get_fd_by_id of a map created RDONLY", ro_by_id, 0);
		if (ro_by_id >= 0)
			mode_ops("by id of RDONLY map", ro_by_id);
	}
	/* Pins: BPF_OBJ_GET file_flags. */
	char path[512];
	snprintf(path, sizeof(path), "%s/fdio_mode_map", bpffs);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.bpf_fd = rw;
	a.pathname = (uintptr_t)path;
	if (report("pin", sys_bpf(BPF_OBJ_PIN, &a, sizeof(a)), 0) == 0) {
		memset(&a, 0, sizeof(a));
		a.pathname = (uintptr_t)path;
		a.file_flags = BPF_F_RDONLY;
		int g = (int)sys_bpf(BPF_OBJ_GET, &a, sizeof(a));
		if (report("obj_get RDONLY", g, 0) >= 0)
			mode_ops("obj_get RDONLY", g);
		a.file_flags = BPF_F_WRONLY;
		g = (int)sys_bpf(BPF_OBJ_GET, &a, sizeof(a));
		if (report("obj_get WRONLY", g, 0) >= 0)
			mode_ops("obj_get WRONLY", g);
		unlink(path);
	}
	/* Freezing needs write access. */
	memset(&a, 0, sizeof(a));
	a.map_fd = byid_ro;
	report("freeze through RDONLY fd", sys_bpf(BPF_MAP_FREEZE, &a, sizeof(a)), 0);
	/* mmap of a read-only fd: never writable. */
	int arr = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 512, BPF_F_MMAPABLE | BPF_F_RDONLY);
	if (report("create mmapable array RDONLY", arr, 0) >= 0) {
		void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, arr, 0);
		printf("mmap RDONLY fd rw: %s\n", m == MAP_FAILED ? ename(errno) : "ok");
		m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, arr, 0);
		printf("mmap RDONLY fd ro: %s\n", m == MAP_FAILED ? ename(errno) : "ok");
		if (m != MAP_FAILED)
			printf("mprotect RDONLY mapping rw: %s\n", mprotect(m, PAGE, PROT_READ | PROT_WRITE) < 0 ? ename(errno) : "ok");
	}
	int arr_wo = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 512, BPF_F_MMAPABLE | BPF_F_WRONLY);
	if (report("create mmapable array WRONLY", arr_wo, 0) >= 0) {
		void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, arr_wo, 0);
		printf("mmap WRONLY fd rw: %s\n", m == MAP_FAILED ? ename(errno) : "ok");
	}
}

/* ---- perf ioctls ---- */

static int tracepoint_id(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", name);
	return read_int(path);
}

static int tracepoint_event(int id)
{
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.config = id;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	pa.disabled = 1;
	return (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void query(const char *name, int fd, uint32_t ids_len)
{
	struct {
		struct perf_event_query_bpf q;
		uint32_t ids[80];
	} q;
	memset(&q, 0xff, sizeof(q));
	q.q.ids_len = ids_len;
	int r = ioctl(fd, PERF_EVENT_IOC_QUERY_BPF, &q);
	if (r < 0) {
		printf("%s: %s prog_cnt %d\n", name, ename(errno), (int)q.q.prog_cnt);
		return;
	}
	printf("%s: %d prog_cnt %u, ids returned %s\n", name, r, q.q.prog_cnt,
	       ids_len == 0 ? "none" : q.ids[ids_len - 1] != 0xffffffff ? "filled" : "missing");
	if (r == 0 && ids_len > q.q.prog_cnt)
		printf("%s: slot after the last %s\n", name, q.ids[q.q.prog_cnt] == 0 ? "zeroed" : q.ids[q.q.prog_cnt] == 0xffffffff ? "untouched" : "other");
}

static int prog_id(int fd)
{
	struct bpf_prog_info info;
	memset(&info, 0, sizeof(info));
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0 ? -1 : (int)info.id;
}

static void ioctl_checks(struct bufs *b, int uprobe)
{
	/* PAUSE_OUTPUT: while paused, output fails and counts as lost; the loss is reported when
	 * records flow again. */
	consume_all(b);
	report("pause output", ioctl(b->pe, PERF_EVENT_IOC_PAUSE_OUTPUT, 1), 1);
	trigger(0x40);
	printf("output while paused: %ld\n", (long)result(b->res));
	trigger(0x41);
	print_perf_records(b, "records while paused");
	report("pause output again", ioctl(b->pe, PERF_EVENT_IOC_PAUSE_OUTPUT, 1), 1);
	report("resume output", ioctl(b->pe, PERF_EVENT_IOC_PAUSE_OUTPUT, 0), 1);
	trigger(0x42);
	printf("output after resume: %ld\n", (long)result(b->res));
	print_perf_records(b, "records after resume");
	report("resume output with 2", ioctl(b->pe, PERF_EVENT_IOC_PAUSE_OUTPUT, 2), 1);
	int unmapped = perf_output_event();
	report("pause output unmapped event", ioctl(unmapped, PERF_EVENT_IOC_PAUSE_OUTPUT, 1), 1);
	report("pause output uprobe event", ioctl(uprobe, PERF_EVENT_IOC_PAUSE_OUTPUT, 1), 1);

	/* QUERY_BPF: the programs of the event's tracepoint. */
	query("query uprobe event", uprobe, 4);
	query("query perf buffer event", b->pe, 4);
	int tp = tracepoint_id("syscalls/sys_enter_getppid");
	if (tp < 0) {
		printf("tracepoint: absent\n");
		return;
	}
	int e1 = tracepoint_event(tp), e2 = tracepoint_event(tp);
	if (report("tracepoint events", e1 < 0 || e2 < 0 ? -1 : 0, 0) < 0)
		return;
	query("query without programs", e1, 4);
	int p1 = load_tp_prog(), p2 = load_tp_prog();
	report("tracepoint programs", p1 < 0 || p2 < 0 ? -1 : 0, 0);
	report("set bpf", ioctl(e1, PERF_EVENT_IOC_SET_BPF, p1), 1);
	query("query count only", e1, 0);
	query("query one", e1, 1);
	query("query four", e1, 4);
	query("query from the other event", e2, 4);
	report("set bpf on the other event", ioctl(e2, PERF_EVENT_IOC_SET_BPF, p2), 1);
	query("query two, room for one", e1, 1);
	query("query two", e2, 2);
	struct {
		struct perf_event_query_bpf q;
		uint32_t ids[2];
	} q = { { 2, 0 }, { 0, 0 } };
	if (ioctl(e1, PERF_EVENT_IOC_QUERY_BPF, &q) == 0)
		printf("query order: %s\n", (int)q.ids[0] == prog_id(p1) && (int)q.ids[1] == prog_id(p2) ? "attach order" : "other");
	query("query 64", e1, 64);
	query("query 65", e1, 65);
	report("query bad pointer", ioctl(e1, PERF_EVENT_IOC_QUERY_BPF, (void *)8), 0);
	close(e2);
	query("query after closing the other event", e1, 4);
	close(e1);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *bpffs = argc > 1 ? argv[1] : "/sys/fs/bpf";
	cpu_set_t cpus;
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	sched_setaffinity(0, sizeof(cpus), &cpus); /* BPF_F_CURRENT_CPU is slot 0 */
	struct bufs b;
	b.rb = map_create(BPF_MAP_TYPE_RINGBUF, 0, 0, 4096, 0);
	if (report("bpf available", b.rb, 0) < 0)
		return 0;
	int pa = map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 1, 0);
	b.res = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0);
	b.pe = perf_output_event();
	report("perf buffer event", b.pe, 0);
	void *cons = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b.rb, 0);
	void *prod = mmap(NULL, PAGE + 2 * 4096, PROT_READ, MAP_SHARED, b.rb, PAGE);
	b.pg = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, b.pe, 0);
	if (cons == MAP_FAILED || prod == MAP_FAILED || b.pg == MAP_FAILED) {
		printf("mmap: %s\n", ename(errno));
		return 1;
	}
	b.rb_cons = cons;
	b.rb_prod = prod;
	uint32_t k = 0, v = (uint32_t)b.pe;
	report("perf event array slot 0", elem(BPF_MAP_UPDATE_ELEM, pa, &k, &v, 0), 0);
	int prog = load_output_prog(b.rb, pa, b.res);
	if (report("load program", prog, 0) < 0)
		return 1;
	int up = uprobe_self();
	if (up < 0 || ioctl(up, PERF_EVENT_IOC_SET_BPF, prog) < 0 || ioctl(up, PERF_EVENT_IOC_ENABLE, 0) < 0) {
		printf("uprobe on self: %s\n", ename(errno));
		return 0;
	}
	trigger(0x1);
	printf("first output: %ld\n", (long)result(b.res));
	print_perf_records(&b, "first records");
	consume_all(&b);
	select_checks(&b);
	mode_checks(bpffs);
	ioctl_checks(&b, up);
	return 0;
}
