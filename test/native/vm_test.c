/* Direct tests of the interpreter and the structural checker, for what the conformance
 * vectors cannot reach: helpers and callbacks, tail calls, call depth, budgets, run-time
 * errors and checker messages.
 *
 *   gcc -Isrc-native/include src-native/core/vm/[a-z]*.c test/native/vm_test.c -o /tmp/vm_test && /tmp/vm_test
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "bpftime/vm.h"

static int failures;

#define EXPECT(cond, ...)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			failures++;                                        \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);        \
			printf(__VA_ARGS__);                               \
			printf("\n");                                      \
		}                                                          \
	} while (0)

static struct bpf_insn I(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn in = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
	return in;
}
#define MOV64_IMM(d, v) I(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, v)
#define MOV64_REG(d, s) I(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ALU64_IMM(op, d, v) I(BPF_ALU64 | (op) | BPF_K, d, 0, 0, v)
#define ALU64_REG(op, d, s) I(BPF_ALU64 | (op) | BPF_X, d, s, 0, 0)
#define ALU32_REG(op, d, s) I(BPF_ALU | (op) | BPF_X, d, s, 0, 0)
#define JMP_IMM(op, d, v, off) I(BPF_JMP | (op) | BPF_K, d, 0, off, v)
#define CALL_HELPER(id) I(BPF_JMP | BPF_CALL, 0, 0, 0, id)
#define CALL_LOCAL(rel) I(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel)
#define EXIT() I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static int run(const struct bpf_insn *insns, uint32_t cnt, const bpftime_helper_fn *helpers, uint32_t nh,
	       uint64_t budget, uint64_t *r0)
{
	struct bpftime_vm_prog p = { insns, cnt, helpers, nh, budget };
	return bpftime_vm_exec(&p, 0, 0, r0);
}

static void test_alu_edge_cases(void)
{
	uint64_t r0 = 0;
	/* mod32 by zero keeps dst but zero-extends it: 0xffffffff_fffffff6 -> 0xfffffff6 */
	struct bpf_insn mod32[] = { MOV64_IMM(0, -10), MOV64_IMM(1, 0), ALU32_REG(BPF_MOD, 0, 1), EXIT() };
	/* sdiv64 INT64_MIN / -1 = INT64_MIN, no trap */
	struct bpf_insn sdiv[] = {
		MOV64_IMM(0, 1), ALU64_IMM(BPF_LSH, 0, 63), MOV64_IMM(1, -1),
		I(BPF_ALU64 | BPF_DIV | BPF_X, 0, 1, 1, 0), EXIT(),
	};
	/* div64 by zero = 0 */
	struct bpf_insn div0[] = { MOV64_IMM(0, 7), MOV64_IMM(1, 0), ALU64_REG(BPF_DIV, 0, 1), EXIT() };

	EXPECT(run(mod32, N(mod32), NULL, 0, 0, &r0) == 0 && r0 == 0xfffffff6ull, "mod32 by zero: %llx", (unsigned long long)r0);
	EXPECT(run(sdiv, N(sdiv), NULL, 0, 0, &r0) == 0 && r0 == 0x8000000000000000ull, "sdiv overflow: %llx", (unsigned long long)r0);
	EXPECT(run(div0, N(div0), NULL, 0, 0, &r0) == 0 && r0 == 0, "div by zero");
}

static void test_local_calls(void)
{
	uint64_t r0 = 0;
	/* main stores 1 on its stack, calls f which stores 2 on *its* stack and clobbers r6;
	 * main's stack slot and r6 must survive. */
	struct bpf_insn prog[] = {
		MOV64_IMM(6, 40),
		I(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 1),
		MOV64_IMM(1, 1),
		CALL_LOCAL(4),                                    /* -> insn 8 */
		I(BPF_LDX | BPF_MEM | BPF_DW, 2, 10, -8, 0),      /* r2 = 1 */
		ALU64_REG(BPF_ADD, 0, 6),                         /* r0 = ret + 40 */
		ALU64_REG(BPF_ADD, 0, 2),                         /* + 1 */
		EXIT(),
		I(BPF_ST | BPF_MEM | BPF_DW, 10, 0, -8, 2),       /* f: */
		MOV64_IMM(6, 0),
		MOV64_REG(0, 1),
		ALU64_IMM(BPF_ADD, 0, 0),
		EXIT(),
	};
	/* f calls itself forever: the ninth frame fails with E2BIG */
	struct bpf_insn rec[] = { CALL_LOCAL(1), EXIT(), CALL_LOCAL(-1), EXIT() };
	char log[256];

	EXPECT(run(prog, N(prog), NULL, 0, 0, &r0) == 0 && r0 == 42, "bpf-to-bpf call: r0=%llu", (unsigned long long)r0);
	EXPECT(run(rec, N(rec), NULL, 0, 0, &r0) == -E2BIG, "recursion must hit the depth limit");
	EXPECT(bpftime_vm_check(rec, N(rec), log, sizeof(log)) == -E2BIG && strstr(log, "too deep"), "check: %s", log);
	EXPECT(bpftime_vm_check(prog, N(prog), log, sizeof(log)) == 0, "check of valid calls: %s", log);
}

static uint64_t helper_add(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

/* bpf_loop-like: calls the callback at insn index r1 for i = 0..r2-1, sums its results. */
static uint64_t helper_loop(uint64_t pc, uint64_t n, uint64_t c, uint64_t d, uint64_t e)
{
	uint64_t sum = 0, r;

	for (uint64_t i = 0; i < n; i++) {
		if (bpftime_vm_call_subprog((uint32_t)pc, i, 0, 0, 0, 0, &r) != 0)
			return (uint64_t)-1;
		sum += r;
	}
	return sum;
}

static const struct bpftime_vm_prog *tail_target;
static uint64_t helper_tail(uint64_t ctx, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return (uint64_t)(int64_t)bpftime_vm_tail_call(tail_target);
}

/* Runs another program from inside a helper: the outer program must be unaffected. */
static uint64_t helper_nested(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	struct bpf_insn inner[] = { MOV64_IMM(0, 5), EXIT() };
	struct bpftime_vm_prog p = { inner, N(inner), NULL, 0, 0 };
	uint64_t r0 = 0;

	return bpftime_vm_exec(&p, 0, 0, &r0) == 0 ? r0 : 999;
}

static void test_helpers(void)
{
	bpftime_helper_fn helpers[8] = { 0 };
	uint64_t r0 = 0;
	struct bpf_insn add[] = { MOV64_IMM(1, 1), MOV64_IMM(2, 2), MOV64_IMM(3, 3), MOV64_IMM(4, 4), MOV64_IMM(5, 5),
				  CALL_HELPER(1), EXIT() };
	struct bpf_insn missing[] = { CALL_HELPER(7), EXIT() };
	/* callback at insn 5 returns i*2; sum over i < 5 = 20 */
	struct bpf_insn loop[] = {
		MOV64_IMM(1, 5), MOV64_IMM(2, 5), CALL_HELPER(2), EXIT(), EXIT(),
		MOV64_REG(0, 1), ALU64_IMM(BPF_MUL, 0, 2), EXIT(),
	};
	struct bpf_insn target[] = { MOV64_REG(0, 1), ALU64_IMM(BPF_ADD, 0, 100), EXIT() };
	struct bpftime_vm_prog target_prog = { target, N(target), NULL, 0, 0 };
	/* r1 (context) = 7 reaches the tail-called program: 107. A failed tail call falls through. */
	struct bpf_insn tail[] = { MOV64_IMM(1, 7), CALL_HELPER(3), MOV64_IMM(0, -1), EXIT() };
	struct bpf_insn nested[] = { MOV64_IMM(6, 1), CALL_HELPER(4), ALU64_REG(BPF_ADD, 0, 6), EXIT() };
	struct bpftime_vm_prog tp = { tail, N(tail), helpers, 8, 0 };

	helpers[1] = helper_add;
	helpers[2] = helper_loop;
	helpers[3] = helper_tail;
	helpers[4] = helper_nested;
	EXPECT(run(add, N(add), helpers, 8, 0, &r0) == 0 && r0 == 15, "helper args");
	EXPECT(run(missing, N(missing), helpers, 8, 0, &r0) == -ENOENT, "absent helper");
	EXPECT(run(loop, N(loop), helpers, 8, 0, &r0) == 0 && r0 == 20, "callback: r0=%llu", (unsigned long long)r0);
	tail_target = &target_prog;
	EXPECT(bpftime_vm_exec(&tp, 0, 0, &r0) == 0 && r0 == 107, "tail call: r0=%lld", (long long)r0);
	tail_target = NULL;
	EXPECT(bpftime_vm_exec(&tp, 0, 0, &r0) == 0 && r0 == (uint64_t)-1, "failed tail call falls through");
	EXPECT(run(nested, N(nested), helpers, 8, 0, &r0) == 0 && r0 == 6, "nested exec: r0=%llu", (unsigned long long)r0);
	EXPECT(bpftime_vm_call_subprog(0, 0, 0, 0, 0, 0, &r0) == -EINVAL, "call_subprog outside a program");
}

static void test_limits_and_errors(void)
{
	uint64_t r0 = 0;
	struct bpf_insn forever[] = { MOV64_IMM(0, 0), ALU64_IMM(BPF_ADD, 0, 1), I(BPF_JMP | BPF_JA, 0, 0, -2, 0), EXIT() };
	/* 3 + 100 * 3 instructions */
	struct bpf_insn counted[] = {
		MOV64_IMM(0, 0), MOV64_IMM(1, 100),
		ALU64_IMM(BPF_ADD, 0, 1), ALU64_IMM(BPF_SUB, 1, 1), JMP_IMM(BPF_JNE, 1, 0, -3),
		EXIT(),
	};
	struct bpf_insn bad_op[] = { MOV64_IMM(0, 0), I(0xff, 0, 0, 0, 0), EXIT() };
	struct bpf_insn bad_jump[] = { I(BPF_JMP | BPF_JA, 0, 0, 5, 0), EXIT() };
	struct bpf_insn bad_reg[] = { MOV64_IMM(11, 0), EXIT() };
	struct bpf_insn fp_write[] = { MOV64_IMM(10, 0), EXIT() };
	struct bpf_insn no_exit[] = { MOV64_IMM(0, 0) };
	/* may_goto lets a "forever" loop end: falls through 8M times, then branches out */
	struct bpf_insn may_goto[] = {
		MOV64_IMM(0, 0), I(BPF_JMP | 0xe0, 0, 0, 2, 0), ALU64_IMM(BPF_ADD, 0, 1),
		I(BPF_JMP | BPF_JA, 0, 0, -3, 0), EXIT(),
	};

	EXPECT(run(forever, N(forever), NULL, 0, 1000, &r0) == -E2BIG, "budget stops an endless loop");
	EXPECT(run(counted, N(counted), NULL, 0, 303, &r0) == 0 && r0 == 100, "budget exactly enough");
	EXPECT(run(counted, N(counted), NULL, 0, 302, &r0) == -E2BIG, "budget one short");
	EXPECT(run(bad_op, N(bad_op), NULL, 0, 0, &r0) == -EINVAL, "unknown opcode at run time");
	EXPECT(run(bad_jump, N(bad_jump), NULL, 0, 0, &r0) == -EINVAL, "jump out of range at run time");
	EXPECT(run(bad_reg, N(bad_reg), NULL, 0, 0, &r0) == -EINVAL, "r11 at run time");
	EXPECT(run(fp_write, N(fp_write), NULL, 0, 0, &r0) == -EINVAL, "r10 write at run time");
	EXPECT(run(no_exit, N(no_exit), NULL, 0, 0, &r0) == -EINVAL, "program without exit");
	EXPECT(run(may_goto, N(may_goto), NULL, 0, 0, &r0) == 0 && r0 == 8u * 1024 * 1024, "may_goto: %llu",
	       (unsigned long long)r0);
}

static void expect_check(const struct bpf_insn *insns, uint32_t cnt, const char *msg, int line)
{
	char log[256];
	int err = bpftime_vm_check(insns, cnt, log, sizeof(log));

	if (err == 0 || !strstr(log, msg)) {
		failures++;
		printf("FAIL line %d: check returned %d, log \"%s\", wanted \"%s\"\n", line, err, log, msg);
	}
}
#define EXPECT_CHECK(prog, msg) expect_check(prog, N(prog), msg, __LINE__)

static void test_check(void)
{
	struct bpf_insn fp_write[] = { MOV64_IMM(10, 0), EXIT() };
	struct bpf_insn r11[] = { MOV64_REG(0, 11), EXIT() };
	struct bpf_insn out_of_range[] = { I(BPF_JMP | BPF_JA, 0, 0, 1, 0), EXIT() };
	struct bpf_insn mid_ldimm[] = {
		I(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, 1, 0), I(BPF_LD | BPF_IMM | BPF_DW, 0, 0, 0, 1), I(0, 0, 0, 0, 0), EXIT(),
	};
	struct bpf_insn bad_pair[] = { I(BPF_LD | BPF_IMM | BPF_DW, 0, 0, 0, 1), MOV64_IMM(0, 0), EXIT() };
	struct bpf_insn no_exit[] = { MOV64_IMM(0, 0) };
	struct bpf_insn shift[] = { ALU64_IMM(BPF_LSH, 0, 64), EXIT() };
	struct bpf_insn div0[] = { ALU64_IMM(BPF_DIV, 0, 0), EXIT() };
	struct bpf_insn unknown[] = { I(0x8d, 2, 0, 0, 0), EXIT() };
	struct bpf_insn call_oob[] = { CALL_LOCAL(5), EXIT() };
	struct bpf_insn subprog_jump[] = { CALL_LOCAL(1), I(BPF_JMP | BPF_JA, 0, 0, 1, 0), MOV64_IMM(0, 0), EXIT() };
	struct bpf_insn reserved[] = { I(BPF_JMP | BPF_EXIT, 0, 0, 1, 0) };
	struct bpf_insn atomic_size[] = { I(BPF_STX | BPF_ATOMIC | BPF_B, 10, 1, -8, BPF_ADD), EXIT() };
	struct bpf_insn good[] = {
		I(BPF_LD | BPF_IMM | BPF_DW, 1, 0, 0, 1), I(0, 0, 0, 0, 2),
		I(BPF_STX | BPF_ATOMIC | BPF_DW, 10, 1, -8, BPF_ADD | BPF_FETCH),
		I(BPF_JMP32 | BPF_JA, 0, 0, 0, 1), EXIT(), MOV64_IMM(0, 0), I(BPF_JMP | BPF_JA, 0, 0, -3, 0),
	};
	char log[256];

	EXPECT_CHECK(fp_write, "frame pointer is read only");
	EXPECT_CHECK(r11, "R11 is invalid");
	EXPECT_CHECK(out_of_range, "jump out of range from insn 0 to 2");
	EXPECT_CHECK(mid_ldimm, "jump into the middle of ldimm64 insn 1");
	EXPECT_CHECK(bad_pair, "invalid bpf_ld_imm64 insn");
	EXPECT_CHECK(no_exit, "last insn is not an exit or jmp");
	EXPECT_CHECK(shift, "invalid shift 64");
	EXPECT_CHECK(div0, "div by zero");
	EXPECT_CHECK(unknown, "unknown opcode 8d");
	EXPECT_CHECK(call_oob, "call to invalid destination");
	EXPECT_CHECK(subprog_jump, "jump out of range from insn 1 to 3");
	EXPECT_CHECK(reserved, "BPF_EXIT uses reserved fields");
	EXPECT_CHECK(atomic_size, "invalid atomic operand size");
	EXPECT(bpftime_vm_check(good, N(good), log, sizeof(log)) == 0, "valid program rejected: %s", log);
}

int main(void)
{
	test_alu_edge_cases();
	test_local_calls();
	test_helpers();
	test_limits_and_errors();
	test_check();
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("vm_test: all passed\n");
	return 0;
}
