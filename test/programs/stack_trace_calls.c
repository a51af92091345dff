// BPF_MAP_TYPE_STACK_TRACE, bpf_get_stackid and bpf_get_stack, driven by raw bpf() and
// perf_event_open() calls: test/e2e/stack-differential.test.ts runs it on the kernel and under the
// shim (both with ASLR off, so this binary sits at the same address and stack ids, which hash
// the frames, agree) and requires the same lines.
//
// A hand-assembled program at a uprobe on leaf() calls bpf_get_stackid and bpf_get_stack with
// flags and sizes this process puts in a control map before each call, and writes the results
// back there. Frames are printed as function+offset for this binary's functions and as the
// library's name elsewhere (libc sits at another address when the shim is preloaded).
// Build-id stacks (BPF_F_STACK_BUILD_ID maps, BPF_F_USER_BUILD_ID) print the status, the build id
// and the file offset of each frame: the same files give the same values wherever they are mapped.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
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

static int map_create(int type, int ksz, int vsz, int max, int flags) { return create_map(type, ksz, vsz, max, flags, 0); }

static long next_key(int fd, const void *k, void *nk)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.next_key = (uintptr_t)nk;
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof(union bpf_attr));
}

/* ---- the traced call chains ---- */

__attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }
__attribute__((noinline)) int middle(int x) { return leaf(x) + 1; }
__attribute__((noinline)) int outer(int x) { return middle(x) + 2; }
__attribute__((noinline)) int other(int x) { return leaf(x) + 5; } /* a second stack */
__attribute__((noinline)) int top(int x) { return outer(x) + 3; }
__attribute__((noinline)) int top2(int x) { return other(x) + 3; }

static const struct { const char *name; void *fn; } funcs[] = {
	{"leaf", (void *)leaf}, {"middle", (void *)middle}, {"outer", (void *)outer},
	{"other", (void *)other}, {"top", (void *)top},     {"top2", (void *)top2},
	{"main", NULL}, /* filled in main */
};
#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))
static void *fn_addr[NFUNCS];

/* function+offset for this binary's functions (the nearest one at or below), else the file. */
static void print_frame(uint64_t ip)
{
	int best = -1;
	for (unsigned i = 0; i < NFUNCS; i++)
		if ((uint64_t)(uintptr_t)fn_addr[i] <= ip && ip - (uintptr_t)fn_addr[i] < 0x200 &&
		    (best < 0 || (uintptr_t)fn_addr[i] > (uintptr_t)fn_addr[best]))
			best = (int)i;
	if (best >= 0) {
		printf(" %s+%lu", funcs[best].name, (unsigned long)(ip - (uintptr_t)fn_addr[best]));
		return;
	}
	Dl_info di;
	if (ip && dladdr((void *)(uintptr_t)ip, &di) && di.dli_fname) {
		const char *b = strrchr(di.dli_fname, '/');
		printf(" [%s]", b ? b + 1 : di.dli_fname);
	} else {
		printf(" ?");
	}
}

/* ---- the program ---- */

struct ctl {
	uint64_t sid_flags;
	int64_t sid_ret;
	uint64_t st_flags;
	uint64_t st_size;
	int64_t st_ret;
	uint64_t frames[8];
};

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

static int load_prog(int ctl_fd, int stack_fd)
{
	struct bpf_insn p[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),               /* r6 = ctx */
		INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),                /* key 0 */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
		INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, ctl_fd), INSN(0, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 15, 0),                /* NULL: exit */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 0, 0),               /* r7 = ctl */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
		INSN(BPF_LD | BPF_DW | BPF_IMM, 2, BPF_PSEUDO_MAP_FD, 0, stack_fd), INSN(0, 0, 0, 0, 0),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 3, 7, 0, 0),                /* sid_flags */
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_stackid),
		INSN(BPF_STX | BPF_MEM | BPF_DW, 7, 0, 8, 0),                /* sid_ret */
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 7, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, 40),              /* frames */
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 3, 7, 24, 0),               /* st_size */
		INSN(BPF_JMP | BPF_JGT | BPF_K, 3, 0, 3, 64),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 4, 7, 16, 0),               /* st_flags */
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_get_stack),
		INSN(BPF_STX | BPF_MEM | BPF_DW, 7, 0, 32, 0),               /* st_ret */
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	return load_kprobe_insns(p, sizeof(p) / sizeof(p[0]));
}

static int ctl_fd, stack_fd;

/* Sets the flags, calls `chain`, prints what both helpers answered. */
static struct ctl run(const char *name, int (*chain)(int), uint64_t sid_flags, uint64_t st_flags, uint64_t st_size)
{
	uint32_t k = 0;
	struct ctl c = {.sid_flags = sid_flags, .st_flags = st_flags, .st_size = st_size, .sid_ret = 999, .st_ret = 999};
	elem(BPF_MAP_UPDATE_ELEM, ctl_fd, &k, &c, 0);
	chain(1);
	elem(BPF_MAP_LOOKUP_ELEM, ctl_fd, &k, &c, 0);
	printf("%s: stackid ", name);
	if (c.sid_ret < 0)
		printf("%s", ename((int)-c.sid_ret));
	else
		printf("%lld", (long long)c.sid_ret);
	printf(", get_stack ");
	if (c.st_ret < 0) {
		printf("%s", ename((int)-c.st_ret));
	} else {
		printf("%lld:", (long long)c.st_ret);
		for (int i = 0; i < (int)(c.st_ret / 8) && i < 8; i++)
			print_frame(c.frames[i]);
	}
	printf("\n");
	return c;
}

static void print_build_ids(const char *name, const struct bpf_stack_build_id *b, int n)
{
	printf("%s:", name);
	for (int i = 0; i < n; i++) {
		printf(" [%d ", b[i].status);
		if (b[i].status == BPF_STACK_BUILD_ID_VALID) {
			for (int j = 0; j < BPF_BUILD_ID_SIZE; j++)
				printf("%02x", b[i].build_id[j]);
			printf(" +0x%llx]", (unsigned long long)b[i].offset);
		} else {
			printf("ip]");
		}
	}
	printf("\n");
}

static void build_id_stacks(void)
{
	report("create build id value_size 40", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 40, 4, BPF_F_STACK_BUILD_ID), 0);
	stack_fd = (int)report("build id map create", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 4 * sizeof(struct bpf_stack_build_id), 4, BPF_F_STACK_BUILD_ID), 0);
	int prog = load_prog(ctl_fd, stack_fd), ev;
	if (prog < 0 || (ev = (int)report("attach uprobe on leaf", attach_self_uprobe(prog, (void *)leaf), 0)) < 0)
		return;
	uint32_t k = 0;
	struct ctl c = {.sid_flags = BPF_F_USER_STACK, .st_flags = BPF_F_USER_STACK | BPF_F_USER_BUILD_ID, .st_size = 64};
	elem(BPF_MAP_UPDATE_ELEM, ctl_fd, &k, &c, 0);
	top(1);
	elem(BPF_MAP_LOOKUP_ELEM, ctl_fd, &k, &c, 0);
	printf("build id stack: stackid %s, get_stack %lld\n", c.sid_ret < 0 ? ename((int)-c.sid_ret) : "ok",
	       (long long)c.st_ret);
	if (c.st_ret == 64)
		print_build_ids("get_stack build ids", (const struct bpf_stack_build_id *)c.frames, 2);
	if (c.sid_ret >= 0) {
		uint32_t id = (uint32_t)c.sid_ret;
		struct bpf_stack_build_id v[4];
		if (report("build id lookup", elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &id, v, 0), 0) == 0)
			print_build_ids("stack map build ids", v, 4);
	}
	/* size not a multiple of the build id frame */
	c = (struct ctl){.sid_flags = BPF_F_USER_STACK, .st_flags = BPF_F_USER_STACK | BPF_F_USER_BUILD_ID, .st_size = 40};
	elem(BPF_MAP_UPDATE_ELEM, ctl_fd, &k, &c, 0);
	top(1);
	elem(BPF_MAP_LOOKUP_ELEM, ctl_fd, &k, &c, 0);
	printf("get_stack build id size 40: %s\n", c.st_ret < 0 ? ename((int)-c.st_ret) : "ok");
	/* build ids without USER_STACK */
	c = (struct ctl){.sid_flags = BPF_F_USER_STACK, .st_flags = BPF_F_USER_BUILD_ID, .st_size = 64};
	elem(BPF_MAP_UPDATE_ELEM, ctl_fd, &k, &c, 0);
	top(1);
	elem(BPF_MAP_LOOKUP_ELEM, ctl_fd, &k, &c, 0);
	printf("get_stack kernel build id: %s\n", c.st_ret < 0 ? ename((int)-c.st_ret) : "ok");
	close(ev);
	close(prog);
}

static void print_stack(const char *name, uint32_t id, uint32_t vsz)
{
	uint64_t v[128];
	memset(v, 0xab, sizeof(v));
	if (elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &id, v, 0) < 0) {
		printf("%s: lookup %u %s\n", name, id, ename(errno));
		return;
	}
	printf("%s: lookup %u:", name, id);
	for (uint32_t i = 0; i < vsz / 8; i++)
		if (v[i])
			print_frame(v[i]);
		else
			printf(" 0");
	printf("\n");
}

static void print_keys(const char *name)
{
	uint32_t cur, nk;
	printf("%s keys:", name);
	long r = next_key(stack_fd, NULL, &nk);
	while (r == 0) {
		printf(" %u", nk);
		cur = nk;
		r = next_key(stack_fd, &cur, &nk);
	}
	printf(" (end %s)\n", ename(errno));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (unsigned i = 0; i < NFUNCS; i++)
		fn_addr[i] = funcs[i].fn ? funcs[i].fn : (void *)main;

	/* MAP_CREATE checks (stack_map_alloc) */
	report("create key_size 8", map_create(BPF_MAP_TYPE_STACK_TRACE, 8, 32, 4, 0), 0);
	report("create value_size 12", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 12, 4, 0), 0);
	report("create value_size 4", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 4, 4, 0), 0);
	report("create max_entries 0", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 32, 0, 0), 0);
	report("create value_size 128 frames", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 8 * 128, 4, 0), 0);
	report("create value_size 127 frames", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 8 * 127, 4, 0), 0);
	report("create flag NO_PREALLOC", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 32, 4, BPF_F_NO_PREALLOC), 0);
	report("create flag RDONLY", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 32, 4, BPF_F_RDONLY), 0);

	/* 4 frames per stack (all in this binary), 5 entries -> 8 buckets */
	ctl_fd = (int)report("ctl create", map_create(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct ctl), 1, 0), 0);
	stack_fd = (int)report("stack map create", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 32, 5, 0), 0);
	int prog = load_prog(ctl_fd, stack_fd);
	report("prog load", prog, 0);
	int ev;
	if (prog < 0 || (ev = (int)report("attach uprobe on leaf", attach_self_uprobe(prog, (void *)leaf), 0)) < 0)
		return 1;

	print_keys("empty");
	struct ctl a = run("top user", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 64);
	if (a.sid_ret >= 0)
		print_stack("top user", (uint32_t)a.sid_ret, 32);
	run("top user again", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 32);
	run("top user fast cmp", top, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP, BPF_F_USER_STACK, 24);
	struct ctl b = run("top2 user", top2, BPF_F_USER_STACK, BPF_F_USER_STACK | 1, 16);
	if (b.sid_ret >= 0)
		print_stack("top2 user", (uint32_t)b.sid_ret, 32);
	struct ctl s = run("top user skip 2", top, BPF_F_USER_STACK | 2, BPF_F_USER_STACK | 2, 64);
	if (s.sid_ret >= 0)
		print_stack("top user skip 2", (uint32_t)s.sid_ret, 32);
	run("skip 200", top, BPF_F_USER_STACK | 200, BPF_F_USER_STACK | 200, 64);
	run("kernel stack", top, 0, 0, 64);
	run("kernel stack skip 1", top, 1, 1, 64);
	run("bad flags", top, BPF_F_USER_STACK | (1ull << 12), BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP, 64);
	run("get_stack size 12", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 12);
	run("get_stack size 0", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 0);
	print_keys("after calls");

	/* syscall side */
	uint32_t id = a.sid_ret >= 0 ? (uint32_t)a.sid_ret : 0, big = 8, missing = 0;
	while (missing < 8 && elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &missing, (uint64_t[4]){0}, 0) == 0)
		missing++;
	uint64_t val[4] = {1, 2, 3, 4};
	report("update", elem(BPF_MAP_UPDATE_ELEM, stack_fd, &id, val, 0), 0);
	report("lookup_and_delete BPF_F_LOCK", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, stack_fd, &id, val, BPF_F_LOCK), 0);
	report("lookup_and_delete past buckets", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, stack_fd, &big, val, 0), 0);
	if (s.sid_ret >= 0) {
		uint32_t sid = (uint32_t)s.sid_ret;
		report("lookup_and_delete", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, stack_fd, &sid, val, 0), 0);
		printf("lookup_and_delete value:");
		for (int i = 0; i < 4; i++)
			val[i] ? print_frame(val[i]) : (void)printf(" 0");
		printf("\n");
		report("lookup_and_delete again", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, stack_fd, &sid, val, 0), 0);
	}
	report("lookup past buckets", elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &big, val, 0), 0);
	report("lookup missing", elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &missing, val, 0), 0);
	report("lookup BPF_F_LOCK", elem(BPF_MAP_LOOKUP_ELEM, stack_fd, &id, val, BPF_F_LOCK), 0);
	uint32_t nk = 77;
	long r = next_key(stack_fd, &missing, &nk);
	printf("next_key from missing %u: %s %u\n", missing, r < 0 ? ename(errno) : "ok", nk);
	r = next_key(stack_fd, &big, &nk);
	printf("next_key from past buckets: %s %u\n", r < 0 ? ename(errno) : "ok", nk);
	report("delete past buckets", elem(BPF_MAP_DELETE_ELEM, stack_fd, &big, NULL, 0), 0);
	report("delete", elem(BPF_MAP_DELETE_ELEM, stack_fd, &id, NULL, 0), 0);
	report("delete again", elem(BPF_MAP_DELETE_ELEM, stack_fd, &id, NULL, 0), 0);
	print_keys("after delete");
	run("top user after delete", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 8);

	/* one bucket: another stack collides (-EEXIST) unless BPF_F_REUSE_STACKID */
	close(ev); /* detaches the first program */
	close(prog);
	close(stack_fd);
	stack_fd = (int)report("one-bucket map create", map_create(BPF_MAP_TYPE_STACK_TRACE, 4, 32, 1, 0), 0);
	prog = load_prog(ctl_fd, stack_fd);
	if (prog < 0 || (ev = (int)report("attach uprobe on leaf", attach_self_uprobe(prog, (void *)leaf), 0)) < 0)
		return 1;
	run("one bucket top", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 8);
	run("one bucket top2", top2, BPF_F_USER_STACK, BPF_F_USER_STACK, 8);
	run("one bucket top2 fast cmp", top2, BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP, BPF_F_USER_STACK, 8);
	run("one bucket top2 reuse", top2, BPF_F_USER_STACK | BPF_F_REUSE_STACKID, BPF_F_USER_STACK, 8);
	print_stack("one bucket", 0, 32);
	run("one bucket top again", top, BPF_F_USER_STACK, BPF_F_USER_STACK, 8);
	close(ev);
	close(prog);
	close(stack_fd);
	build_id_stacks();
	return 0;
}
