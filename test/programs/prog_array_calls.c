// BPF_MAP_TYPE_PROG_ARRAY through raw bpf() calls, each printed as one line with its result
// (value or errno name). test/e2e/prog-array-differential.test.ts runs it on the kernel and under
// the shim and requires the same lines. Program ids are printed as relations ("id of A"), never
// as numbers.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_calls_util.h"

static int map_create(int ksz, int vsz, int max, int flags) { return create_map(BPF_MAP_TYPE_PROG_ARRAY, ksz, vsz, max, flags, 0); }

static long update(int fd, uint32_t k, int v, uint64_t flags) { return elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, flags); }
static long del(int fd, uint32_t k) { return elem(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0); }

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

/* r0 = ret; exit. With map_fd >= 0, first bpf_tail_call(ctx, map, 0) (so the program uses the
 * array). */
static int load(int type, int ret, int map_fd)
{
	struct bpf_insn insn[8];
	int n = 0;
	if (map_fd >= 0) {
		insn[n++] = INSN(BPF_LD | BPF_IMM | BPF_DW, 2, BPF_PSEUDO_MAP_FD, 0, map_fd);
		insn[n++] = INSN(0, 0, 0, 0, 0);
		insn[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 0);
		insn[n++] = INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_tail_call);
	}
	insn[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, ret);
	insn[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insn;
	a.insn_cnt = n;
	a.license = (uintptr_t)"GPL";
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

static int load_insns(int type, const struct bpf_insn *insn, int n)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insn;
	a.insn_cnt = n;
	a.license = (uintptr_t)"GPL";
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

#define LDMAP(r, fd) INSN(BPF_LD | BPF_IMM | BPF_DW, r, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)

/* BPF_PROG_TEST_RUN of an XDP program on a 64-byte packet: its retval, or -1. */
static long xdp_run(int prog)
{
	unsigned char pkt[64] = { 0 };
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = prog;
	a.test.data_in = (uintptr_t)pkt;
	a.test.data_size_in = sizeof(pkt);
	a.test.repeat = 1;
	if (sys_bpf(BPF_PROG_TEST_RUN, &a, sizeof(a)) < 0)
		return -1;
	return a.test.retval;
}

/* Tail calls in test runs: an XDP entry that tail-calls slot 0 of `xa` (1 if it falls through),
 * a leaf answering 2, and a chain that counts its runs in array `cnt` and tail-calls itself
 * (slot 1) until the limit, then answers the count. */
static void test_run_tail_calls(void)
{
	int xa = map_create(4, 4, 4, 0);
	union bpf_attr ca;
	memset(&ca, 0, sizeof(ca));
	ca.map_type = BPF_MAP_TYPE_ARRAY;
	ca.key_size = 4;
	ca.value_size = 8;
	ca.max_entries = 1;
	int cnt = (int)sys_bpf(BPF_MAP_CREATE, &ca, sizeof(ca));
	struct bpf_insn entry[] = {
		LDMAP(2, xa),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_tail_call),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	struct bpf_insn leaf[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 2),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
#define LOOKUP0(miss)                                                  \
	INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),                  \
	INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),                \
	INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),                \
	LDMAP(1, cnt),                                                 \
	INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),  \
	INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, miss, 0)
	struct bpf_insn chain[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
		LOOKUP0(13),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 1, 0, 0, 1),
		INSN(BPF_STX | BPF_MEM | BPF_DW, 0, 1, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
		LDMAP(2, xa),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 1),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_tail_call),
		LOOKUP0(2),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	int pe = load_insns(BPF_PROG_TYPE_XDP, entry, sizeof(entry) / sizeof(entry[0]));
	int pl = load_insns(BPF_PROG_TYPE_XDP, leaf, sizeof(leaf) / sizeof(leaf[0]));
	int pc = load_insns(BPF_PROG_TYPE_XDP, chain, sizeof(chain) / sizeof(chain[0]));
	report("xdp entry", pe, 0);
	report("xdp leaf", pl, 0);
	report("xdp chain", pc, 0);
	printf("test_run empty slot: %ld\n", xdp_run(pe));
	report("leaf at 0", update(xa, 0, pl, BPF_ANY), 0);
	report("chain at 1", update(xa, 1, pc, BPF_ANY), 0);
	printf("test_run into leaf: %ld\n", xdp_run(pe));
	printf("test_run chain: %ld\n", xdp_run(pc));
	report("chain at 0", update(xa, 0, pc, BPF_ANY), 0);
	printf("test_run entry into chain: %ld\n", xdp_run(pe));
	report("delete 0", del(xa, 0), 0);
	printf("test_run after delete: %ld\n", xdp_run(pe));
}

static void show_slot(const char *name, int fd, uint32_t k, int a, int b)
{
	uint32_t v = 0;
	if (elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0) < 0)
		printf("%s: %s\n", name, ename(errno));
	else
		printf("%s: %s\n", name, v == id_of_obj(a) ? "id of A" : v == id_of_obj(b) ? "id of B" : "another id");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int fd = map_create(4, 4, 4, 0);
	if (report("prog_array create", fd, 0) < 0)
		return 0;
	report("value_size 8", map_create(4, 8, 4, 0), 0);
	report("key_size 8", map_create(8, 4, 4, 0), 0);
	report("max_entries 0", map_create(4, 4, 0, 0), 0);
	report("mmapable", map_create(4, 4, 4, BPF_F_MMAPABLE), 0);
	report("rdonly_prog", map_create(4, 4, 4, BPF_F_RDONLY_PROG), 0);
	report("preserve_elems", map_create(4, 4, 4, BPF_F_PRESERVE_ELEMS), 0);
	int c = map_create(4, 4, 4, BPF_F_RDONLY);
	report("rdonly", c, 0);
	if (c >= 0)
		close(c);

	int a = load(BPF_PROG_TYPE_KPROBE, 1, -1);
	int b = load(BPF_PROG_TYPE_KPROBE, 2, -1);
	int tp = load(BPF_PROG_TYPE_TRACEPOINT, 3, -1);
	report("load A", a, 0);
	report("load B", b, 0);
	report("load tracepoint", tp, 0);

	show_slot("lookup empty", fd, 0, a, b);
	show_slot("lookup out of range", fd, 4, a, b);
	report("update A at 0", update(fd, 0, a, BPF_ANY), 0);
	show_slot("lookup 0", fd, 0, a, b);
	report("update B at 0", update(fd, 0, b, BPF_ANY), 0);
	show_slot("lookup 0 again", fd, 0, a, b);
	report("update at 4", update(fd, 4, a, BPF_ANY), 0);
	report("update NOEXIST", update(fd, 1, a, BPF_NOEXIST), 0);
	report("update EXIST", update(fd, 0, a, BPF_EXIST), 0);
	report("update F_LOCK", update(fd, 1, a, BPF_F_LOCK), 0);
	report("update flags 8", update(fd, 1, a, 8), 0);
	report("update map fd", update(fd, 1, fd, BPF_ANY), 0);
	report("update closed fd", update(fd, 1, 900, BPF_ANY), 0);
	report("update other type", update(fd, 1, tp, BPF_ANY), 0);
	report("update A at 3", update(fd, 3, a, BPF_ANY), 0);
	uint32_t k = 0, nk = 99, v;
	report("lookup F_LOCK", elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &v, BPF_F_LOCK), 0);
	report("lookup_and_delete", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, &k, &v, 0), 0);
	report("next_key NULL", elem(BPF_MAP_GET_NEXT_KEY, fd, NULL, &nk, 0), 0);
	printf("next_key NULL -> %u\n", nk);
	k = 2;
	report("next_key 2", elem(BPF_MAP_GET_NEXT_KEY, fd, &k, &nk, 0), 0);
	printf("next_key 2 -> %u\n", nk);
	k = 3;
	report("next_key 3", elem(BPF_MAP_GET_NEXT_KEY, fd, &k, &nk, 0), 0);
	report("delete empty", del(fd, 1), 0);
	report("delete out of range", del(fd, 4), 0);
	report("delete 3", del(fd, 3), 0);
	report("delete 3 again", del(fd, 3), 0);
	show_slot("lookup 3", fd, 3, a, b);

	/* A program in a slot stays alive while the slot holds it, even with its fd closed. */
	uint32_t bid = id_of_obj(b);
	close(b);
	k = 0;
	v = 0;
	elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0);
	printf("closed B still in slot: %s\n", v == bid ? "yes" : "no");
	union bpf_attr ga;
	memset(&ga, 0, sizeof(ga));
	ga.prog_id = bid;
	int b2 = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &ga, sizeof(ga));
	report("B by id", b2, 0);

	/* A program using the array holds the map, not its slots: when the last fd goes, the array
	 * empties (the kernel does it from a work item: give it a moment). */
	int user = load(BPF_PROG_TYPE_KPROBE, 0, fd);
	report("load tail caller", user, 0);
	uint32_t mid = id_of_obj(fd);
	report("update A at 1", update(fd, 1, a, BPF_ANY), 0);
	close(fd);
	usleep(200 * 1000);
	memset(&ga, 0, sizeof(ga));
	ga.map_id = mid;
	int fd2 = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &ga, sizeof(ga));
	report("map by id after close", fd2, 0);
	show_slot("slot 0 after last fd closed", fd2, 0, a, b2);
	show_slot("slot 1 after last fd closed", fd2, 1, a, b2);
	report("update A at 1 again", update(fd2, 1, a, BPF_ANY), 0);
	show_slot("slot 1 refilled", fd2, 1, a, b2);

	/* The owner type binds programs that use the array too: loading a tracepoint program that
	 * tail-calls through this kprobe-owned array fails; a fresh array takes its first user's type. */
	report("load other type using it", load(BPF_PROG_TYPE_TRACEPOINT, 0, fd2), 0);
	int fresh = map_create(4, 4, 2, 0);
	int tpuser = load(BPF_PROG_TYPE_TRACEPOINT, 0, fresh);
	report("tracepoint user of fresh array", tpuser, 0);
	report("kprobe into tracepoint-owned", update(fresh, 0, a, BPF_ANY), 0);
	report("tracepoint into tracepoint-owned", update(fresh, 0, tp, BPF_ANY), 0);

	test_run_tail_calls();

	/* Freezing makes the syscall side read-only. */
	union bpf_attr fa;
	memset(&fa, 0, sizeof(fa));
	fa.map_fd = fd2;
	report("freeze", sys_bpf(BPF_MAP_FREEZE, &fa, sizeof(fa)), 0);
	report("update frozen", update(fd2, 2, a, BPF_ANY), 0);
	report("delete frozen", del(fd2, 1), 0);
	show_slot("slot 1 frozen", fd2, 1, a, b2);
	return 0;
}
