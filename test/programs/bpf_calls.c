// A fixed sequence of bpf() and perf_event_open() calls, each printed as one line with its
// result (value or errno name). test/e2e/differential.test.ts runs it on the kernel and under
// the shim and requires the same lines. Only what must agree is printed: ids and fd numbers are
// compared as relations (">0", "same as before"), never as raw numbers.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_calls_util.h"

/* Prints "name: ok" (or the value when show is set) or "name: ERRNO". */

static int map_create(int type, int ksz, int vsz, int max, int flags)
{
	union bpf_attr a = { 0 };
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	a.map_flags = flags;
	return (int)sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

static long update(int fd, const void *k, const void *v, uint64_t flags)
{
	union bpf_attr a = { 0 };
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = flags;
	return sys_bpf(BPF_MAP_UPDATE_ELEM, &a, sizeof(a));
}

static long lookup(int fd, const void *k, void *v)
{
	union bpf_attr a = { 0 };
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	return sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
}

static long del(int fd, const void *k)
{
	union bpf_attr a = { 0 };
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	return sys_bpf(BPF_MAP_DELETE_ELEM, &a, sizeof(a));
}

static long next_key(int fd, const void *k, void *nk)
{
	union bpf_attr a = { 0 };
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.next_key = (uintptr_t)nk;
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof(a));
}

static int prog_load(int type, const struct bpf_insn *insns, int n, char *log, int log_size, int level)
{
	union bpf_attr a = { 0 };
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = n;
	a.license = (uintptr_t) "GPL";
	a.log_buf = (uintptr_t)log;
	a.log_size = log_size;
	a.log_level = level;
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

static void hash_semantics(void)
{
	int fd = (int)report("hash create", map_create(BPF_MAP_TYPE_HASH, 4, 8, 4, 0), 0);
	uint32_t k;
	uint64_t v = 7, out = 0;
	k = 1;
	report("update new NOEXIST", update(fd, &k, &v, BPF_NOEXIST), 1);
	report("update again NOEXIST", update(fd, &k, &v, BPF_NOEXIST), 1);
	k = 2;
	report("update missing EXIST", update(fd, &k, &v, BPF_EXIST), 1);
	report("update bad flags", update(fd, &k, &v, 77), 1);
	for (k = 2; k <= 4; k++)
		update(fd, &k, &v, BPF_ANY);
	k = 5;
	report("update when full", update(fd, &k, &v, BPF_ANY), 1);
	k = 4;
	report("replace when full", update(fd, &k, &v, BPF_ANY), 1);
	k = 1;
	v = 42;
	update(fd, &k, &v, BPF_EXIST);
	report("lookup present", lookup(fd, &k, &out), 1);
	printf("lookup value: %llu\n", (unsigned long long)out);
	k = 9;
	report("lookup missing", lookup(fd, &k, &out), 1);
	report("delete missing", del(fd, &k), 1);
	k = 3;
	report("delete present", del(fd, &k), 1);
	report("delete again", del(fd, &k), 1);
	/* Iteration visits every key once, from NULL and from a missing key. */
	uint32_t cur, nk, seen = 0, sum = 0;
	long r = next_key(fd, NULL, &nk);
	while (r == 0) {
		seen++;
		sum += nk;
		cur = nk;
		r = next_key(fd, &cur, &nk);
	}
	printf("iterate: %u keys, sum %u, end %s\n", seen, sum, ename(errno));
	k = 1000;
	report("next_key from missing", next_key(fd, &k, &nk), 1);
	report("lookup bad key pointer", lookup(fd, (void *)8, &out), 1);
	report("lookup bad value pointer", lookup(fd, &k, (void *)8) , 1);
	k = 1;
	report("lookup present, bad value pointer", lookup(fd, &k, (void *)8), 1);
	close(fd);
}

static void array_semantics(void)
{
	int fd = (int)report("array create", map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 3, 0), 0);
	uint32_t k = 3, nk;
	uint64_t v = 5, out = 1;
	report("array update out of range", update(fd, &k, &v, BPF_ANY), 1);
	k = 1;
	report("array update NOEXIST", update(fd, &k, &v, BPF_NOEXIST), 1);
	report("array update EXIST", update(fd, &k, &v, BPF_EXIST), 1);
	report("array delete", del(fd, &k), 1);
	k = 2;
	report("array lookup zeroed", lookup(fd, &k, &out), 1);
	printf("array zero value: %llu\n", (unsigned long long)out);
	k = 7;
	report("array lookup out of range", lookup(fd, &k, &out), 1);
	report("array next_key NULL", next_key(fd, NULL, &nk), 1);
	printf("array first key: %u\n", nk);
	k = 2;
	report("array next_key last", next_key(fd, &k, &nk), 1);
	k = 9;
	report("array next_key out of range", next_key(fd, &k, &nk), 1);
	report("array key_size 8", map_create(BPF_MAP_TYPE_ARRAY, 8, 8, 3, 0), 1);
	close(fd);
}

static void create_errors(void)
{
	report("hash key_size 0", map_create(BPF_MAP_TYPE_HASH, 0, 8, 4, 0), 1);
	report("hash value_size 0", map_create(BPF_MAP_TYPE_HASH, 4, 0, 4, 0), 1);
	report("hash max_entries 0", map_create(BPF_MAP_TYPE_HASH, 4, 8, 0, 0), 1);
	report("unknown map type", map_create(9999, 4, 8, 4, 0), 1);
	report("hash unknown flag", map_create(BPF_MAP_TYPE_HASH, 4, 8, 4, 1u << 30), 1);
	union bpf_attr a = { 0 };
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = 1;
	strcpy(a.map_name, "bad-name");
	report("map name with dash", sys_bpf(BPF_MAP_CREATE, &a, sizeof(a)), 1);
	report("unknown command", sys_bpf(9999, &a, sizeof(a)), 1);
	char big[4200];
	memset(big, 0, sizeof(big));
	report("attr above a page", sys_bpf(BPF_MAP_CREATE, (union bpf_attr *)big, sizeof(big)), 1);
	memset(big, 0, sizeof(big));
	memcpy(big, &a, sizeof(a));
	big[sizeof(a) + 8] = 1;
	report("non-zero tail beyond attr", sys_bpf(BPF_MAP_CREATE, (union bpf_attr *)big, sizeof(a) + 16), 1);
	report("attr pointer bad", sys_bpf(BPF_MAP_CREATE, (union bpf_attr *)8, sizeof(a)), 1);
	int nul = open("/dev/null", O_RDONLY);
	uint32_t k = 0;
	uint64_t v;
	report("lookup on a non-bpf fd", lookup(nul, &k, &v), 1);
	close(nul);
	report("lookup on a closed fd", lookup(900, &k, &v), 1);
}

static void prog_semantics(void)
{
	struct bpf_insn ok[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_insn bad[] = {
		{ .code = 0xff },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	char log[4096];
	int pfd = (int)report("load trivial", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, ok, 2, NULL, 0, 0), 0);
	report("load no insns", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, ok, 0, NULL, 0, 0), 1);
	report("load bad opcode", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, bad, 2, log, sizeof(log), 1), 1);
	report("load log_size too small", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, ok, 2, log, 64, 1), 1);
	report("load log_level without buffer", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, ok, 2, NULL, 0, 1), 1);
	report("load unknown type", prog_load(9999, ok, 2, NULL, 0, 0), 1);
	report("load bad insns pointer", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, (void *)8, 2, NULL, 0, 0), 1);

	struct bpf_prog_info pi = { 0 };
	union bpf_attr a = { 0 };
	a.info.bpf_fd = pfd;
	a.info.info_len = sizeof(pi);
	a.info.info = (uintptr_t)&pi;
	report("prog info", sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), 1);
	printf("prog info: type %u, id>0 %d, xlated_prog_len %u, info_len %u\n", pi.type, pi.id > 0, pi.xlated_prog_len,
	       a.info.info_len);

	int mfd = map_create(BPF_MAP_TYPE_HASH, 4, 8, 16, 0);
	struct bpf_map_info mi = { 0 };
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = mfd;
	a.info.info_len = 16; /* a short struct: only its first 16 bytes are filled */
	a.info.info = (uintptr_t)&mi;
	report("map info short", sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), 1);
	printf("map info: type %u, key %u, value %u, max %u, info_len %u\n", mi.type, mi.key_size, mi.value_size,
	       mi.max_entries, a.info.info_len);

	/* A program that uses the map: its id appears in the program's map_ids. */
	struct bpf_insn uses[] = {
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = mfd },
		{ .code = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int p2 = (int)report("load with map", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, uses, 4, NULL, 0, 0), 0);
	uint32_t ids[4] = { 0 };
	memset(&pi, 0, sizeof(pi));
	pi.nr_map_ids = 4;
	pi.map_ids = (uintptr_t)ids;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = p2;
	a.info.info_len = sizeof(pi);
	a.info.info = (uintptr_t)&pi;
	sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
	memset(&mi, 0, sizeof(mi));
	union bpf_attr b = { 0 };
	b.info.bpf_fd = mfd;
	b.info.info_len = sizeof(mi);
	b.info.info = (uintptr_t)&mi;
	sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &b, sizeof(b));
	printf("prog map_ids: %u, matches map id %d\n", pi.nr_map_ids, ids[0] == mi.id && mi.id > 0);
	uses[0].imm = 900;
	report("load with closed map fd", prog_load(BPF_PROG_TYPE_SOCKET_FILTER, uses, 4, NULL, 0, 0), 1);

	/* libbpf's probe for perf links: a link to fd -1 must fail with EBADF. */
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = pfd;
	a.link_create.target_fd = -1;
	a.link_create.attach_type = BPF_PERF_EVENT;
	report("link_create target -1", sys_bpf(BPF_LINK_CREATE, &a, sizeof(a)), 1);
	close(p2);
	close(mfd);
	close(pfd);
}

static void uprobe_semantics(const char *self)
{
	int type = read_int("/sys/bus/event_source/devices/uprobe/type");
	if (type < 0) {
		printf("uprobe pmu: absent\n");
		return;
	}
	struct perf_event_attr pa = { 0 };
	pa.size = sizeof(pa);
	pa.type = type;
	pa.config1 = (uintptr_t)self;
	pa.config2 = 0x1000; /* inside the file */
	int efd = (int)report("uprobe open", syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC), 0);
	pa.config1 = (uintptr_t) "/nonexistent/binary";
	report("uprobe open missing binary", syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC), 1);
	pa.config1 = (uintptr_t)self;
	report("uprobe open pid -1 cpu -1", syscall(SYS_perf_event_open, &pa, -1, -1, -1, PERF_FLAG_FD_CLOEXEC), 1);
	struct bpf_insn ok[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int kp = (int)report("load kprobe prog", prog_load(BPF_PROG_TYPE_KPROBE, ok, 2, NULL, 0, 0), 0);
	int sf = prog_load(BPF_PROG_TYPE_SOCKET_FILTER, ok, 2, NULL, 0, 0);
	report("SET_BPF wrong prog type", ioctl(efd, PERF_EVENT_IOC_SET_BPF, sf), 1);
	report("SET_BPF", ioctl(efd, PERF_EVENT_IOC_SET_BPF, kp), 1);
	report("SET_BPF again", ioctl(efd, PERF_EVENT_IOC_SET_BPF, kp), 1);
	report("ENABLE", ioctl(efd, PERF_EVENT_IOC_ENABLE, 0), 1);
	report("DISABLE", ioctl(efd, PERF_EVENT_IOC_DISABLE, 0), 1);
	uint64_t id = 0;
	report("IOC_ID", ioctl(efd, PERF_EVENT_IOC_ID, &id), 1);
	printf("event id>0: %d\n", id > 0);
	close(efd);
	close(kp);
	close(sf);
}

static void tracepoint_semantics(void)
{
	int id = read_int("/sys/kernel/tracing/events/syscalls/sys_enter_getppid/id");
	if (id < 0) {
		printf("tracefs: absent\n");
		return;
	}
	printf("tracepoint id>0: %d\n", id > 0);
	struct perf_event_attr pa = { 0 };
	pa.size = sizeof(pa);
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.config = id;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	int efd = (int)report("tracepoint open", syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC), 0);
	pa.config = 0x7fffffff;
	report("tracepoint open unknown id", syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC), 1);
	struct bpf_insn ok[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int tp = (int)report("load tracepoint prog", prog_load(BPF_PROG_TYPE_TRACEPOINT, ok, 2, NULL, 0, 0), 0);
	int kp = prog_load(BPF_PROG_TYPE_KPROBE, ok, 2, NULL, 0, 0);
	report("tracepoint SET_BPF kprobe prog", ioctl(efd, PERF_EVENT_IOC_SET_BPF, kp), 1);
	union bpf_attr a = { 0 };
	a.link_create.prog_fd = tp;
	a.link_create.target_fd = efd;
	a.link_create.attach_type = BPF_PERF_EVENT;
	int lfd = (int)report("tracepoint perf link", sys_bpf(BPF_LINK_CREATE, &a, sizeof(a)), 0);
	report("second link on the same event", sys_bpf(BPF_LINK_CREATE, &a, sizeof(a)), 1);
	close(lfd);
	close(efd);
	close(tp);
	close(kp);
}

int main(int argc, char **argv)
{
	(void)argc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	hash_semantics();
	array_semantics();
	create_errors();
	prog_semantics();
	uprobe_semantics(self);
	tracepoint_semantics();
	(void)argv;
	return 0;
}
