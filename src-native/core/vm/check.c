/* Static structural check of a program, the part of the kernel verifier that needs no data
 * flow: every instruction is a known opcode with its reserved fields clear, registers exist
 * (and r10 is never written), constant shifts are in range and constant divisors non-zero,
 * ld_imm64 pairs are well formed, jumps stay inside their subprogram and never land in the
 * middle of an ld_imm64, every subprogram ends with exit or an unconditional jump, calls
 * target real instructions and the static call graph is at most 8 frames deep (which also
 * rules out recursion). Messages use the kernel verifier's wording, one line per problem,
 * preceded by the offending instruction as "IDX: (CODE)". Memory safety and types are the
 * job of the verifier proper (src-ts/verifier).
 *
 * Subprograms are delimited by bpf-to-bpf call targets only: BPF_PSEUDO_FUNC ld_imm64 pairs
 * are already relocated by the time this runs (see vm.h), so their targets are not known here.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bpftime/vm.h"
#include "insn_defs.h"

/* The kernel's BPF_COMPLEXITY_LIMIT_INSNS (include/linux/bpf.h, kernel-internal): the most
 * instructions a privileged program may have. */
#define CHECK_MAX_INSNS 1000000u

enum { SLOT_SECOND_HALF = 1, SLOT_SUBPROG_START = 2 };

struct checker {
	const struct bpf_insn *insns;
	uint32_t cnt;
	uint8_t *slot;        /* per instruction: SLOT_* flags */
	uint32_t *sub_start;  /* sorted subprogram start indexes */
	uint32_t nsub;
	uint8_t *sub_state;   /* call-graph walk: 0 new, 1 on the current path, 2 done */
	uint8_t *sub_frames;  /* frames needed by a finished subprogram, itself included */
	char *log;
	size_t log_size, log_len;
};

static void logf_(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct checker *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->log || c->log_size == 0 || c->log_len + 1 >= c->log_size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->log + c->log_len, c->log_size - c->log_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->log_len += (size_t)n < c->log_size - c->log_len ? (size_t)n : c->log_size - c->log_len - 1;
}

/* Reports a problem at insn i and returns err, so callers can `return fail(...)`. */
static int fail(struct checker *c, uint32_t i, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct checker *c, uint32_t i, int err, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (i < c->cnt)
		logf_(c, "%u: (%02x)\n", i, c->insns[i].code);
	logf_(c, "%s\n", msg);
	return err;
}

static int check_reg(struct checker *c, uint32_t i, unsigned r, bool write)
{
	if (r > BPF_REG_10)
		return fail(c, i, -EINVAL, "R%u is invalid", r);
	if (write && r == VM_REG_FP)
		return fail(c, i, -EACCES, "frame pointer is read only");
	return 0;
}

/* 64-bit-immediate load: a pair whose second slot has only imm set. */
static int check_ld(struct checker *c, uint32_t i)
{
	const struct bpf_insn *in = &c->insns[i];

	if (in->code != (BPF_LD | BPF_IMM | BPF_DW)) {
		if (BPF_MODE(in->code) == BPF_ABS || BPF_MODE(in->code) == BPF_IND)
			return fail(c, i, -EINVAL, "BPF_LD_[ABS|IND] instructions are not supported");
		return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
	}
	if (i + 1 >= c->cnt || in->off != 0 || c->insns[i + 1].code != 0 || c->insns[i + 1].dst_reg != 0 ||
	    c->insns[i + 1].src_reg != 0 || c->insns[i + 1].off != 0)
		return fail(c, i, -EINVAL, "invalid bpf_ld_imm64 insn");
	if (in->src_reg > BPF_PSEUDO_FUNC)
		return fail(c, i, -EINVAL, "unrecognized bpf_ld_imm64 insn");
	c->slot[i + 1] |= SLOT_SECOND_HALF;
	return check_reg(c, i, in->dst_reg, true);
}

static int check_alu(struct checker *c, uint32_t i)
{
	const struct bpf_insn *in = &c->insns[i];
	uint8_t op = BPF_OP(in->code);
	bool is64 = BPF_CLASS(in->code) == BPF_ALU64, x = BPF_SRC(in->code) == BPF_X;
	int err;

	switch (op) {
	case BPF_NEG:
		if (x || in->src_reg || in->off || in->imm)
			return fail(c, i, -EINVAL, "BPF_NEG uses reserved fields");
		return check_reg(c, i, in->dst_reg, true);
	case BPF_END:
		if (in->src_reg || in->off || (in->imm != 16 && in->imm != 32 && in->imm != 64) || (is64 && x))
			return fail(c, i, -EINVAL, "BPF_END uses reserved fields");
		return check_reg(c, i, in->dst_reg, true);
	case BPF_MOV:
		if (x) {
			/* off is the movsx source width (cpu v4). */
			bool ok_off = in->off == 0 || in->off == 8 || in->off == 16 || (is64 && in->off == 32);
			if (in->imm || !ok_off)
				return fail(c, i, -EINVAL, "BPF_MOV uses reserved fields");
		} else if (in->src_reg || in->off) {
			return fail(c, i, -EINVAL, "BPF_MOV uses reserved fields");
		}
		break;
	case BPF_ADD: case BPF_SUB: case BPF_MUL: case BPF_OR: case BPF_AND: case BPF_LSH:
	case BPF_RSH: case BPF_XOR: case BPF_ARSH: case BPF_DIV: case BPF_MOD: {
		/* off 1 selects signed div/mod (cpu v4); every other op has off 0. */
		bool ok_off = in->off == 0 || ((op == BPF_DIV || op == BPF_MOD) && in->off == 1);
		if ((x && in->imm) || (!x && in->src_reg) || !ok_off)
			return fail(c, i, -EINVAL, "BPF_ALU uses reserved fields");
		break;
	}
	default:
		return fail(c, i, -EINVAL, "invalid BPF_ALU opcode %x", op);
	}
	if (x && (err = check_reg(c, i, in->src_reg, false)))
		return err;
	if ((err = check_reg(c, i, in->dst_reg, true)))
		return err;
	if (!x && (op == BPF_DIV || op == BPF_MOD) && in->imm == 0)
		return fail(c, i, -EINVAL, "div by zero");
	if (!x && (op == BPF_LSH || op == BPF_RSH || op == BPF_ARSH) && (in->imm < 0 || in->imm >= (is64 ? 64 : 32)))
		return fail(c, i, -EINVAL, "invalid shift %d", in->imm);
	return 0;
}

static int check_jmp(struct checker *c, uint32_t i)
{
	const struct bpf_insn *in = &c->insns[i];
	uint8_t op = BPF_OP(in->code);
	bool jmp32 = BPF_CLASS(in->code) == BPF_JMP32, x = BPF_SRC(in->code) == BPF_X;
	int err;

	switch (op) {
	case BPF_JA:
		/* JMP ja takes its offset from off, JMP32 ja (gotol) from imm. */
		if (x || in->dst_reg || in->src_reg || (jmp32 ? in->off != 0 : in->imm != 0))
			return fail(c, i, -EINVAL, "BPF_JA uses reserved fields");
		return 0;
	case BPF_CALL: {
		int64_t t;

		if (jmp32 || x)
			return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
		if (in->off || in->dst_reg ||
		    (in->src_reg != 0 && in->src_reg != BPF_PSEUDO_CALL && in->src_reg != BPF_PSEUDO_KFUNC_CALL))
			return fail(c, i, -EINVAL, "BPF_CALL uses reserved fields");
		if (in->src_reg == BPF_PSEUDO_KFUNC_CALL)
			return fail(c, i, -EINVAL, "kernel function calls are not supported");
		if (in->src_reg == 0)
			return 0; /* helper ids depend on the program type: checked by the loader */
		t = (int64_t)i + 1 + in->imm;
		if (t < 0 || t >= c->cnt)
			return fail(c, i, -EINVAL, "call to invalid destination");
		c->slot[t] |= SLOT_SUBPROG_START;
		return 0;
	}
	case BPF_EXIT:
		if (jmp32 || x)
			return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
		if (in->dst_reg || in->src_reg || in->off || in->imm)
			return fail(c, i, -EINVAL, "BPF_EXIT uses reserved fields");
		return 0;
	case BPF_JCOND:
		if (jmp32 || x)
			return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
		if (in->src_reg != BPFTIME_MAY_GOTO || in->dst_reg || in->imm)
			return fail(c, i, -EINVAL, "invalid may_goto imm %d", in->imm);
		return 0;
	case BPF_JEQ: case BPF_JNE: case BPF_JSET: case BPF_JGT: case BPF_JGE: case BPF_JLT:
	case BPF_JLE: case BPF_JSGT: case BPF_JSGE: case BPF_JSLT: case BPF_JSLE:
		if ((x && in->imm) || (!x && in->src_reg))
			return fail(c, i, -EINVAL, "BPF_JMP/JMP32 uses reserved fields");
		if (x && (err = check_reg(c, i, in->src_reg, false)))
			return err;
		return check_reg(c, i, in->dst_reg, false);
	default:
		return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
	}
}

static int check_mem(struct checker *c, uint32_t i)
{
	const struct bpf_insn *in = &c->insns[i];
	uint8_t cls = BPF_CLASS(in->code), mode = BPF_MODE(in->code), size = BPF_SIZE(in->code);
	int err;

	if (cls == BPF_LDX) {
		if (mode != BPF_MEM && !(mode == BPF_MEMSX && size != BPF_DW))
			return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
		if (in->imm)
			return fail(c, i, -EINVAL, "BPF_LDX uses reserved fields");
		if ((err = check_reg(c, i, in->src_reg, false)))
			return err;
		return check_reg(c, i, in->dst_reg, true);
	}
	if (cls == BPF_ST) {
		if (mode != BPF_MEM)
			return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
		if (in->src_reg)
			return fail(c, i, -EINVAL, "BPF_ST uses reserved fields");
		return check_reg(c, i, in->dst_reg, false);
	}
	/* BPF_STX */
	if (mode == BPF_MEM) {
		if (in->imm)
			return fail(c, i, -EINVAL, "BPF_STX uses reserved fields");
		if ((err = check_reg(c, i, in->src_reg, false)))
			return err;
		return check_reg(c, i, in->dst_reg, false);
	}
	if (mode != BPF_ATOMIC)
		return fail(c, i, -EINVAL, "unknown opcode %02x", in->code);
	switch (in->imm) {
	case BPF_LOAD_ACQ:
		if ((err = check_reg(c, i, in->src_reg, false)))
			return err;
		return check_reg(c, i, in->dst_reg, true);
	case BPF_STORE_REL:
		if ((err = check_reg(c, i, in->src_reg, false)))
			return err;
		return check_reg(c, i, in->dst_reg, false);
	case BPF_ADD: case BPF_OR: case BPF_AND: case BPF_XOR:
	case BPF_ADD | BPF_FETCH: case BPF_OR | BPF_FETCH: case BPF_AND | BPF_FETCH: case BPF_XOR | BPF_FETCH:
	case BPF_XCHG: case BPF_CMPXCHG:
		if (size != BPF_W && size != BPF_DW)
			return fail(c, i, -EINVAL, "invalid atomic operand size");
		/* fetch variants write the old value back into src */
		if ((err = check_reg(c, i, in->src_reg, (in->imm & BPF_FETCH) && in->imm != BPF_CMPXCHG)))
			return err;
		return check_reg(c, i, in->dst_reg, false);
	default:
		return fail(c, i, -EINVAL, "BPF_ATOMIC uses invalid atomic opcode %02x", (unsigned)in->imm);
	}
	return 0;
}

static int check_insn(struct checker *c, uint32_t i)
{
	switch (BPF_CLASS(c->insns[i].code)) {
	case BPF_LD: return check_ld(c, i);
	case BPF_LDX: case BPF_ST: case BPF_STX: return check_mem(c, i);
	case BPF_ALU: case BPF_ALU64: return check_alu(c, i);
	default: return check_jmp(c, i); /* BPF_JMP, BPF_JMP32 */
	}
}

static bool is_jump(uint8_t code)
{
	uint8_t cls = BPF_CLASS(code), op = BPF_OP(code);

	return (cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL && op != BPF_EXIT;
}

/* Jump targets: inside the subprogram (the kernel's rule, so no subprogram falls or jumps
 * into another) and never onto the second slot of an ld_imm64. Also the "last insn" rule. */
static int check_flow(struct checker *c)
{
	uint32_t s = 0, start = 0, end, i;

	end = c->nsub > 1 ? c->sub_start[1] : c->cnt;
	for (i = 0; i < c->cnt; i++) {
		const struct bpf_insn *in = &c->insns[i];

		if (c->slot[i] & SLOT_SECOND_HALF) {
			if (c->slot[i] & SLOT_SUBPROG_START)
				return fail(c, i - 1, -EINVAL, "jump into the middle of ldimm64 insn %u", i - 1);
		} else if (is_jump(in->code)) {
			int64_t t = (int64_t)i + 1 +
				    (in->code == (BPF_JMP32 | BPF_JA) ? (int64_t)in->imm : (int64_t)in->off);
			if (t < start || t >= end)
				return fail(c, i, -EINVAL, "jump out of range from insn %u to %lld", i, (long long)t);
			if (c->slot[t] & SLOT_SECOND_HALF)
				return fail(c, i, -EINVAL, "jump into the middle of ldimm64 insn %lld", (long long)t - 1);
		}
		if (i == end - 1) {
			uint8_t code = in->code;

			if ((c->slot[i] & SLOT_SECOND_HALF) ||
			    (code != (BPF_JMP | BPF_EXIT) && code != (BPF_JMP | BPF_JA) && code != (BPF_JMP32 | BPF_JA)))
				return fail(c, i, -EINVAL, "last insn is not an exit or jmp");
			s++;
			start = end;
			end = s + 1 < c->nsub ? c->sub_start[s + 1] : c->cnt;
		}
	}
	return 0;
}

static uint32_t subprog_of(const struct checker *c, uint32_t insn)
{
	uint32_t lo = 0, hi = c->nsub;

	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (c->sub_start[mid] <= insn)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Frames needed when entering subprogram s at call depth `frame` (1 = main). Memoised, so
 * linear in the size of the call graph; a cycle can only be reported as too deep. */
static int call_depth(struct checker *c, uint32_t s, uint32_t frame)
{
	uint32_t i, end = s + 1 < c->nsub ? c->sub_start[s + 1] : c->cnt;
	uint8_t deepest = 1;

	if (frame > BPFTIME_VM_MAX_CALL_DEPTH || c->sub_state[s] == 1 ||
	    (c->sub_state[s] == 2 && frame - 1 + c->sub_frames[s] > BPFTIME_VM_MAX_CALL_DEPTH))
		return fail(c, c->sub_start[s], -E2BIG, "the call stack of %u frames is too deep !",
			    frame > BPFTIME_VM_MAX_CALL_DEPTH ? frame : BPFTIME_VM_MAX_CALL_DEPTH + 1);
	if (c->sub_state[s] == 2)
		return 0;
	c->sub_state[s] = 1;
	for (i = c->sub_start[s]; i < end; i++) {
		const struct bpf_insn *in = &c->insns[i];
		uint32_t callee;
		int err;

		if (in->code != (BPF_JMP | BPF_CALL) || in->src_reg != BPF_PSEUDO_CALL)
			continue;
		callee = subprog_of(c, (uint32_t)((int64_t)i + 1 + in->imm));
		if ((err = call_depth(c, callee, frame + 1)))
			return err;
		if (c->sub_frames[callee] + 1 > deepest)
			deepest = c->sub_frames[callee] + 1;
	}
	c->sub_state[s] = 2;
	c->sub_frames[s] = deepest;
	return 0;
}

int bpftime_vm_check(const struct bpf_insn *insns, uint32_t insn_cnt, char *log, size_t log_size)
{
	struct checker c = { .insns = insns, .cnt = insn_cnt, .log = log, .log_size = log_size };
	uint32_t i;
	int err = 0;

	if (log && log_size)
		log[0] = '\0';
	if (!insns || insn_cnt == 0)
		return fail(&c, 0, -EINVAL, "program has no instructions");
	if (insn_cnt > CHECK_MAX_INSNS)
		return fail(&c, 0, -E2BIG, "program of %u instructions is too large", insn_cnt);
	c.slot = calloc(insn_cnt, 1);
	c.sub_start = calloc(insn_cnt, sizeof(uint32_t));
	if (!c.slot || !c.sub_start) {
		err = -ENOMEM;
		goto out;
	}
	c.slot[0] |= SLOT_SUBPROG_START;
	for (i = 0; i < insn_cnt; i++) {
		if ((err = check_insn(&c, i)))
			goto out;
		if (insns[i].code == (BPF_LD | BPF_IMM | BPF_DW))
			i++; /* the second slot was checked with its first */
	}
	for (i = 0; i < insn_cnt; i++)
		if (c.slot[i] & SLOT_SUBPROG_START)
			c.sub_start[c.nsub++] = i;
	if ((err = check_flow(&c)))
		goto out;
	c.sub_state = calloc(c.nsub, 1);
	c.sub_frames = calloc(c.nsub, 1);
	if (!c.sub_state || !c.sub_frames) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c.nsub && !err; i++)
		err = call_depth(&c, i, 1);
out:
	free(c.slot);
	free(c.sub_start);
	free(c.sub_state);
	free(c.sub_frames);
	return err;
}
