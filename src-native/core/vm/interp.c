/* The interpreter loop: direct-threaded dispatch (computed goto on the opcode byte, one
 * indirect jump per handler so the branch predictor learns per-opcode successors).
 *
 * Semantics follow the kernel (Documentation/bpf/standardization/instruction-set.rst and the
 * kernel's own interpreter after verifier fix-ups):
 *  - 32-bit ALU ops work on the low halves and zero-extend the result into 64 bits;
 *  - division by zero gives 0, modulo by zero leaves dst (zero-extended for 32-bit ops);
 *  - signed INT_MIN / -1 gives INT_MIN and INT_MIN % -1 gives 0 (the verifier rewrites these
 *    to neg / 0 so they never trap); we compute the same without trapping;
 *  - shift amounts are masked to 63 / 31 (the verifier rejects out-of-range constant shifts,
 *    bpftime_vm_check() does too; register shifts are masked);
 *  - immediates are sign-extended to 64 bits for 64-bit ops and compares.
 * Reserved fields are not validated here (bpftime_vm_check does); only fields that change
 * the meaning of an instruction (off of div/mod/mov, imm of end/atomic) are decoded.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "bpftime/vm.h"
#include "insn_defs.h"
#include "vm_internal.h"

/* Register file: 11 architectural registers padded to 16 so that any 4-bit register field
 * stays inside the array even before it is validated. */
#define VM_REGFILE 16

int bpftime_vm_run_frame(struct vm_exec *ex, const struct bpftime_vm_prog *prog, uint32_t pc,
			 const uint64_t args[5], uint64_t *ret)
{
/* Table entries for the four forms of a binary ALU op and of a conditional jump. */
#define ALU_ENTRIES(OP, name)                                       \
	[BPF_ALU64 | (OP) | BPF_K] = &&alu64_##name##_k,            \
	[BPF_ALU64 | (OP) | BPF_X] = &&alu64_##name##_x,            \
	[BPF_ALU | (OP) | BPF_K] = &&alu32_##name##_k,              \
	[BPF_ALU | (OP) | BPF_X] = &&alu32_##name##_x
#define JMP_ENTRIES(OP, name)                                       \
	[BPF_JMP | (OP) | BPF_K] = &&jmp64_##name##_k,              \
	[BPF_JMP | (OP) | BPF_X] = &&jmp64_##name##_x,              \
	[BPF_JMP32 | (OP) | BPF_K] = &&jmp32_##name##_k,            \
	[BPF_JMP32 | (OP) | BPF_X] = &&jmp32_##name##_x

	/* Every opcode defaults to bad_insn and valid ones override that entry: silence the
	 * -Wextra warning about exactly this intended overriding. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
	static const void *const dispatch[256] = {
		[0 ... 255] = &&bad_insn,
		ALU_ENTRIES(BPF_ADD, add), ALU_ENTRIES(BPF_SUB, sub), ALU_ENTRIES(BPF_MUL, mul),
		ALU_ENTRIES(BPF_DIV, div), ALU_ENTRIES(BPF_OR, or), ALU_ENTRIES(BPF_AND, and),
		ALU_ENTRIES(BPF_LSH, lsh), ALU_ENTRIES(BPF_RSH, rsh), ALU_ENTRIES(BPF_MOD, mod),
		ALU_ENTRIES(BPF_XOR, xor), ALU_ENTRIES(BPF_MOV, mov), ALU_ENTRIES(BPF_ARSH, arsh),
		[BPF_ALU64 | BPF_NEG | BPF_K] = &&alu64_neg,
		[BPF_ALU | BPF_NEG | BPF_K] = &&alu32_neg,
		[BPF_ALU | BPF_END | BPF_TO_LE] = &&alu32_to_le,
		[BPF_ALU | BPF_END | BPF_TO_BE] = &&alu32_to_be,
		[BPF_ALU64 | BPF_END | BPF_TO_LE] = &&alu64_bswap,

		JMP_ENTRIES(BPF_JEQ, jeq), JMP_ENTRIES(BPF_JNE, jne), JMP_ENTRIES(BPF_JSET, jset),
		JMP_ENTRIES(BPF_JGT, jgt), JMP_ENTRIES(BPF_JGE, jge), JMP_ENTRIES(BPF_JLT, jlt),
		JMP_ENTRIES(BPF_JLE, jle), JMP_ENTRIES(BPF_JSGT, jsgt), JMP_ENTRIES(BPF_JSGE, jsge),
		JMP_ENTRIES(BPF_JSLT, jslt), JMP_ENTRIES(BPF_JSLE, jsle),
		[BPF_JMP | BPF_JA | BPF_K] = &&jmp_ja,
		[BPF_JMP32 | BPF_JA | BPF_K] = &&jmp_gotol,
		[BPF_JMP | BPF_JCOND | BPF_K] = &&jmp_may_goto,
		[BPF_JMP | BPF_CALL | BPF_K] = &&jmp_call,
		[BPF_JMP | BPF_EXIT | BPF_K] = &&jmp_exit,

		[BPF_LD | BPF_IMM | BPF_DW] = &&ld_imm64,
		[BPF_LDX | BPF_MEM | BPF_B] = &&ldx_b,
		[BPF_LDX | BPF_MEM | BPF_H] = &&ldx_h,
		[BPF_LDX | BPF_MEM | BPF_W] = &&ldx_w,
		[BPF_LDX | BPF_MEM | BPF_DW] = &&ldx_dw,
		[BPF_LDX | BPF_MEMSX | BPF_B] = &&ldxs_b,
		[BPF_LDX | BPF_MEMSX | BPF_H] = &&ldxs_h,
		[BPF_LDX | BPF_MEMSX | BPF_W] = &&ldxs_w,
		[BPF_ST | BPF_MEM | BPF_B] = &&st_b,
		[BPF_ST | BPF_MEM | BPF_H] = &&st_h,
		[BPF_ST | BPF_MEM | BPF_W] = &&st_w,
		[BPF_ST | BPF_MEM | BPF_DW] = &&st_dw,
		[BPF_STX | BPF_MEM | BPF_B] = &&stx_b,
		[BPF_STX | BPF_MEM | BPF_H] = &&stx_h,
		[BPF_STX | BPF_MEM | BPF_W] = &&stx_w,
		[BPF_STX | BPF_MEM | BPF_DW] = &&stx_dw,
		[BPF_STX | BPF_ATOMIC | BPF_B] = &&atomic_b,
		[BPF_STX | BPF_ATOMIC | BPF_H] = &&atomic_h,
		[BPF_STX | BPF_ATOMIC | BPF_W] = &&atomic_w,
		[BPF_STX | BPF_ATOMIC | BPF_DW] = &&atomic_dw,
	};
#pragma GCC diagnostic pop
#undef ALU_ENTRIES
#undef JMP_ENTRIES

	uint64_t reg[VM_REGFILE];
	uint64_t stack[BPFTIME_VM_STACK_SIZE / sizeof(uint64_t)] __attribute__((aligned(16)));
	const struct bpftime_vm_prog *const caller_prog = ex->prog;
	const struct bpf_insn *base, *insn, *seg; /* seg: first insn of the current straight-line run */
	uint32_t cnt;
	int64_t budget, tgt;
	uint32_t may_goto_left = BPFTIME_MAX_LOOPS;
	int err;

	if (ex->depth >= BPFTIME_VM_MAX_CALL_DEPTH)
		return -E2BIG;
	ex->depth++;
	ex->prog = prog;

	memset(reg, 0, sizeof(reg));
	memcpy(&reg[BPF_REG_1], args, 5 * sizeof(uint64_t));
	reg[BPF_REG_10] = (uint64_t)(uintptr_t)(stack + sizeof(stack) / sizeof(stack[0]));
	base = prog->insns;
	cnt = prog->insn_cnt;
	insn = seg = base + pc;
	budget = ex->budget;

#define DST reg[insn->dst_reg]
#define SRC reg[insn->src_reg]
#define IMM64 ((uint64_t)(int64_t)insn->imm)
#define IMM32 ((uint32_t)insn->imm)
#define ADDR(r) ((uintptr_t)((r) + (uint64_t)(int64_t)insn->off))
#define DISPATCH() goto *dispatch[insn->code]
#define NEXT()                 \
	do {                   \
		insn++;        \
		DISPATCH();    \
	} while (0)
/* Register validity: reads may use r0..r10, writes only r0..r9 (r10 is the read-only frame pointer). */
#define RD_DST() if (VM_UNLIKELY(insn->dst_reg > BPF_REG_10)) goto bad_insn
#define WR_DST() if (VM_UNLIKELY(insn->dst_reg >= BPF_REG_10)) goto bad_insn
#define RD_SRC() if (VM_UNLIKELY(insn->src_reg > BPF_REG_10)) goto bad_insn
#define WR_SRC() if (VM_UNLIKELY(insn->src_reg >= BPF_REG_10)) goto bad_insn
/* Charge the straight-line run that ends at the current insn against the budget. */
#define CHARGE()                                                  \
	do {                                                      \
		budget -= (insn - seg) + 1;                       \
		if (VM_UNLIKELY(budget < 0))                      \
			goto over_budget;                         \
	} while (0)

	DISPATCH();

/* Binary ALU op in four forms. EXPR sees d and s of unsigned type U (and signed type S)
 * of the operation's width; W is that width in bits. */
#define ALU_BINOP(name, EXPR)                                                     \
	alu64_##name##_k: {                                                       \
		typedef uint64_t U; typedef int64_t S; enum { W = 64 };           \
		WR_DST();                                                         \
		U d = DST, s = IMM64;                                             \
		DST = (U)(EXPR);                                                  \
		(void)sizeof(S);                                                  \
		NEXT();                                                           \
	}                                                                         \
	alu64_##name##_x: {                                                       \
		typedef uint64_t U; typedef int64_t S; enum { W = 64 };           \
		WR_DST(); RD_SRC();                                               \
		U d = DST, s = SRC;                                               \
		DST = (U)(EXPR);                                                  \
		(void)sizeof(S);                                                  \
		NEXT();                                                           \
	}                                                                         \
	alu32_##name##_k: {                                                       \
		typedef uint32_t U; typedef int32_t S; enum { W = 32 };           \
		WR_DST();                                                         \
		U d = (U)DST, s = IMM32;                                          \
		DST = (U)(EXPR);                                                  \
		(void)sizeof(S);                                                  \
		NEXT();                                                           \
	}                                                                         \
	alu32_##name##_x: {                                                       \
		typedef uint32_t U; typedef int32_t S; enum { W = 32 };           \
		WR_DST(); RD_SRC();                                               \
		U d = (U)DST, s = (U)SRC;                                         \
		DST = (U)(EXPR);                                                  \
		(void)sizeof(S);                                                  \
		NEXT();                                                           \
	}

	ALU_BINOP(add, d + s)
	ALU_BINOP(sub, d - s)
	ALU_BINOP(mul, d * s)
	ALU_BINOP(or, d | s)
	ALU_BINOP(and, d & s)
	ALU_BINOP(xor, d ^ s)
	ALU_BINOP(lsh, d << (s & (W - 1)))
	ALU_BINOP(rsh, d >> (s & (W - 1)))
	/* GCC defines >> of a negative signed value as an arithmetic shift. */
	ALU_BINOP(arsh, (U)((S)d >> (s & (W - 1))))
	/* off selects the flavour: 0 unsigned, 1 signed (cpu v4 sdiv/smod); others are invalid.
	 * Signed division by -1 is done as a negation so INT_MIN / -1 wraps instead of trapping. */
	ALU_BINOP(div, insn->off == 0 ? (s ? d / s : 0)
		       : insn->off == 1 ? (s == 0 ? 0 : (S)s == -1 ? (U)0 - d : (U)((S)d / (S)s))
		       : ({ goto bad_insn; (U)0; }))
	ALU_BINOP(mod, insn->off == 0 ? (s ? d % s : d)
		       : insn->off == 1 ? (s == 0 ? d : (S)s == -1 ? (U)0 : (U)((S)d % (S)s))
		       : ({ goto bad_insn; (U)0; }))
#undef ALU_BINOP

	/* mov: the K forms ignore off; the X forms use it for movsx (cpu v4): sign-extend the
	 * low 8/16/32 bits of src (8/16 only for the 32-bit form, whose result is zero-extended). */
	alu64_mov_k:
		WR_DST();
		DST = IMM64;
		NEXT();
	alu32_mov_k:
		WR_DST();
		DST = IMM32;
		NEXT();
	alu64_mov_x:
		WR_DST(); RD_SRC();
		switch (insn->off) {
		case 0: DST = SRC; break;
		case 8: DST = (uint64_t)(int64_t)(int8_t)SRC; break;
		case 16: DST = (uint64_t)(int64_t)(int16_t)SRC; break;
		case 32: DST = (uint64_t)(int64_t)(int32_t)SRC; break;
		default: goto bad_insn;
		}
		NEXT();
	alu32_mov_x:
		WR_DST(); RD_SRC();
		switch (insn->off) {
		case 0: DST = (uint32_t)SRC; break;
		case 8: DST = (uint32_t)(int32_t)(int8_t)SRC; break;
		case 16: DST = (uint32_t)(int32_t)(int16_t)SRC; break;
		default: goto bad_insn;
		}
		NEXT();

	alu64_neg:
		WR_DST();
		DST = (uint64_t)0 - DST;
		NEXT();
	alu32_neg:
		WR_DST();
		DST = (uint32_t)((uint32_t)0 - (uint32_t)DST);
		NEXT();

	/* Byte order: imm is the width. to_le/to_be convert from host order and truncate to the
	 * width; the ALU64 form (cpu v4 bswap) swaps unconditionally. */
	alu32_to_le:
		WR_DST();
		switch (insn->imm) {
		case 16: DST = htole16((uint16_t)DST); break;
		case 32: DST = htole32((uint32_t)DST); break;
		case 64: DST = htole64(DST); break;
		default: goto bad_insn;
		}
		NEXT();
	alu32_to_be:
		WR_DST();
		switch (insn->imm) {
		case 16: DST = htobe16((uint16_t)DST); break;
		case 32: DST = htobe32((uint32_t)DST); break;
		case 64: DST = htobe64(DST); break;
		default: goto bad_insn;
		}
		NEXT();
	alu64_bswap:
		WR_DST();
		switch (insn->imm) {
		case 16: DST = __builtin_bswap16((uint16_t)DST); break;
		case 32: DST = __builtin_bswap32((uint32_t)DST); break;
		case 64: DST = __builtin_bswap64(DST); break;
		default: goto bad_insn;
		}
		NEXT();

/* Conditional jump in four forms; T64/T32 give signedness. JMP compares 64-bit values with
 * a sign-extended imm, JMP32 the low halves. */
#define JMP_COND(name, T64, T32, OP)                                                   \
	jmp64_##name##_k:                                                              \
		RD_DST();                                                              \
		if ((T64)DST OP (T64)IMM64)                                            \
			goto take_off;                                                 \
		NEXT();                                                                \
	jmp64_##name##_x:                                                              \
		RD_DST(); RD_SRC();                                                    \
		if ((T64)DST OP (T64)SRC)                                              \
			goto take_off;                                                 \
		NEXT();                                                                \
	jmp32_##name##_k:                                                              \
		RD_DST();                                                              \
		if ((T32)(uint32_t)DST OP (T32)IMM32)                                  \
			goto take_off;                                                 \
		NEXT();                                                                \
	jmp32_##name##_x:                                                              \
		RD_DST(); RD_SRC();                                                    \
		if ((T32)(uint32_t)DST OP (T32)(uint32_t)SRC)                          \
			goto take_off;                                                 \
		NEXT();

	JMP_COND(jeq, uint64_t, uint32_t, ==)
	JMP_COND(jne, uint64_t, uint32_t, !=)
	JMP_COND(jset, uint64_t, uint32_t, &)
	JMP_COND(jgt, uint64_t, uint32_t, >)
	JMP_COND(jge, uint64_t, uint32_t, >=)
	JMP_COND(jlt, uint64_t, uint32_t, <)
	JMP_COND(jle, uint64_t, uint32_t, <=)
	JMP_COND(jsgt, int64_t, int32_t, >)
	JMP_COND(jsge, int64_t, int32_t, >=)
	JMP_COND(jslt, int64_t, int32_t, <)
	JMP_COND(jsle, int64_t, int32_t, <=)
#undef JMP_COND

	jmp_ja:
		goto take_off;
	jmp_gotol:
		tgt = (insn - base) + 1 + (int64_t)insn->imm;
		goto take;
	/* may_goto (cpu v4 open-coded iterators): falls through while this frame's loop allowance
	 * lasts, then branches, like the kernel's rewrite of it. */
	jmp_may_goto:
		if (VM_UNLIKELY(insn->src_reg != BPFTIME_MAY_GOTO))
			goto bad_insn;
		if (may_goto_left == 0)
			goto take_off;
		may_goto_left--;
		NEXT();
	take_off:
		tgt = (insn - base) + 1 + (int64_t)insn->off;
	take:
		if (VM_UNLIKELY((uint64_t)tgt >= cnt))
			goto bad_insn;
		CHARGE();
		insn = seg = base + tgt;
		DISPATCH();

	jmp_call:
		if (insn->src_reg == 0) {
			/* Helper call. Helpers may re-enter the VM (callbacks, nested programs), so
			 * the budget lives in ex across the call. */
			uint32_t id = (uint32_t)insn->imm;
			bpftime_helper_fn fn;

			if (VM_UNLIKELY(id >= prog->nhelpers || !prog->helpers || !(fn = prog->helpers[id]))) {
				err = -ENOENT;
				goto out;
			}
			CHARGE();
			seg = insn + 1;
			ex->budget = budget;
			/* The sixth argument is the hidden tail-call count of helpers that call back
			 * (helpers_internal.h): NULL, this execution counts its own. */
			reg[BPF_REG_0] = ((bpftime_helper_fn6)(void (*)(void))fn)(
				reg[BPF_REG_1], reg[BPF_REG_2], reg[BPF_REG_3], reg[BPF_REG_4], reg[BPF_REG_5], 0);
			budget = ex->budget;
			if (VM_UNLIKELY(ex->tail_next != NULL)) {
				/* bpf_tail_call succeeded: this frame becomes the new program, r1
				 * (the context) kept, the stack reused as a fresh one. */
				prog = ex->tail_next;
				ex->tail_next = NULL;
				ex->prog = prog;
				base = prog->insns;
				cnt = prog->insn_cnt;
				insn = seg = base;
				may_goto_left = BPFTIME_MAX_LOOPS;
				DISPATCH();
			}
			NEXT();
		}
		if (insn->src_reg == BPF_PSEUDO_CALL) {
			/* bpf-to-bpf call: the callee gets its own frame and stack; r6..r9 and r10
			 * of this frame are untouched because they live in this C frame. The
			 * arguments are copied so reg[] never escapes (keeps it in registers). */
			uint64_t a[5] = { reg[1], reg[2], reg[3], reg[4], reg[5] }, r0;

			tgt = (insn - base) + 1 + (int64_t)insn->imm;
			if (VM_UNLIKELY((uint64_t)tgt >= cnt))
				goto bad_insn;
			CHARGE();
			seg = insn + 1;
			ex->budget = budget;
			err = bpftime_vm_run_frame(ex, prog, (uint32_t)tgt, a, &r0);
			if (err)
				goto out;
			budget = ex->budget;
			reg[BPF_REG_0] = r0;
			NEXT();
		}
		/* kfunc calls (BPF_PSEUDO_KFUNC_CALL) and unknown kinds are not supported. */
		goto bad_insn;

	jmp_exit:
		budget -= (insn - seg) + 1;
		ex->budget = budget;
		if (VM_UNLIKELY(budget < 0))
			goto over_budget;
		*ret = reg[BPF_REG_0];
		err = 0;
		goto out;

	/* The pair's second slot must be followed by at least one instruction, otherwise
	 * execution would fall off the end of the program. */
	ld_imm64:
		WR_DST();
		if (VM_UNLIKELY(cnt - (uint32_t)(insn - base) < 3))
			goto bad_insn;
		DST = (uint64_t)(uint32_t)insn[0].imm | ((uint64_t)(uint32_t)insn[1].imm << 32);
		insn += 2;
		DISPATCH();

/* Memory access through memcpy: unaligned-safe and free of aliasing assumptions; compiles to
 * a single move. */
#define LDX(name, T)                                                         \
	name:                                                                \
		WR_DST(); RD_SRC();                                          \
		{                                                            \
			T v;                                                 \
			memcpy(&v, (const void *)ADDR(SRC), sizeof(v));      \
			DST = (uint64_t)v;                                   \
		}                                                            \
		NEXT();
#define STORE(name, T, VALUE_REG_CHECK, VALUE)                               \
	name:                                                                \
		RD_DST(); VALUE_REG_CHECK;                                   \
		{                                                            \
			T v = (T)(VALUE);                                    \
			memcpy((void *)ADDR(DST), &v, sizeof(v));            \
		}                                                            \
		NEXT();

	LDX(ldx_b, uint8_t)
	LDX(ldx_h, uint16_t)
	LDX(ldx_w, uint32_t)
	LDX(ldx_dw, uint64_t)
	/* Signed types: the conversion to uint64_t sign-extends. */
	LDX(ldxs_b, int8_t)
	LDX(ldxs_h, int16_t)
	LDX(ldxs_w, int32_t)
	STORE(st_b, uint8_t, (void)0, insn->imm)
	STORE(st_h, uint16_t, (void)0, insn->imm)
	STORE(st_w, uint32_t, (void)0, insn->imm)
	STORE(st_dw, uint64_t, (void)0, IMM64)
	STORE(stx_b, uint8_t, RD_SRC(), SRC)
	STORE(stx_h, uint16_t, RD_SRC(), SRC)
	STORE(stx_w, uint32_t, RD_SRC(), SRC)
	STORE(stx_dw, uint64_t, RD_SRC(), SRC)
#undef LDX
#undef STORE

/* Atomics. Load-acquire/store-release exist for every size (uapi 6.15); the read-modify-write
 * ops for 32 and 64 bits only. Plain RMW ops need no ordering (the kernel uses relaxed
 * atomic_add & co.); fetch/xchg/cmpxchg are fully ordered like the kernel's. 32-bit results
 * written back to registers are zero-extended. */
#define ACQ_REL_CASES(T)                                                                    \
	case BPF_LOAD_ACQ:                                                                  \
		WR_DST();                                                                   \
		DST = __atomic_load_n((T *)ADDR(SRC), __ATOMIC_ACQUIRE);                    \
		break;                                                                      \
	case BPF_STORE_REL:                                                                 \
		__atomic_store_n((T *)ADDR(DST), (T)SRC, __ATOMIC_RELEASE);                 \
		break;
#define RMW_CASES(T)                                                                        \
	case BPF_ADD: __atomic_fetch_add((T *)ADDR(DST), (T)SRC, __ATOMIC_RELAXED); break;  \
	case BPF_OR: __atomic_fetch_or((T *)ADDR(DST), (T)SRC, __ATOMIC_RELAXED); break;    \
	case BPF_AND: __atomic_fetch_and((T *)ADDR(DST), (T)SRC, __ATOMIC_RELAXED); break;  \
	case BPF_XOR: __atomic_fetch_xor((T *)ADDR(DST), (T)SRC, __ATOMIC_RELAXED); break;  \
	case BPF_ADD | BPF_FETCH:                                                           \
		WR_SRC();                                                                   \
		SRC = __atomic_fetch_add((T *)ADDR(DST), (T)SRC, __ATOMIC_SEQ_CST);         \
		break;                                                                      \
	case BPF_OR | BPF_FETCH:                                                            \
		WR_SRC();                                                                   \
		SRC = __atomic_fetch_or((T *)ADDR(DST), (T)SRC, __ATOMIC_SEQ_CST);          \
		break;                                                                      \
	case BPF_AND | BPF_FETCH:                                                           \
		WR_SRC();                                                                   \
		SRC = __atomic_fetch_and((T *)ADDR(DST), (T)SRC, __ATOMIC_SEQ_CST);         \
		break;                                                                      \
	case BPF_XOR | BPF_FETCH:                                                           \
		WR_SRC();                                                                   \
		SRC = __atomic_fetch_xor((T *)ADDR(DST), (T)SRC, __ATOMIC_SEQ_CST);         \
		break;                                                                      \
	case BPF_XCHG:                                                                      \
		WR_SRC();                                                                   \
		SRC = __atomic_exchange_n((T *)ADDR(DST), (T)SRC, __ATOMIC_SEQ_CST);        \
		break;                                                                      \
	case BPF_CMPXCHG: {                                                                 \
		/* r0 holds the expected value and receives the old one in every case. */   \
		T expected = (T)reg[BPF_REG_0];                                             \
		__atomic_compare_exchange_n((T *)ADDR(DST), &expected, (T)SRC, 0,           \
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);            \
		reg[BPF_REG_0] = expected;                                                  \
		break;                                                                      \
	}

	atomic_b:
		RD_DST(); RD_SRC();
		switch (insn->imm) {
		ACQ_REL_CASES(uint8_t)
		default: goto bad_insn;
		}
		NEXT();
	atomic_h:
		RD_DST(); RD_SRC();
		switch (insn->imm) {
		ACQ_REL_CASES(uint16_t)
		default: goto bad_insn;
		}
		NEXT();
	atomic_w:
		RD_DST(); RD_SRC();
		switch (insn->imm) {
		ACQ_REL_CASES(uint32_t)
		RMW_CASES(uint32_t)
		default: goto bad_insn;
		}
		NEXT();
	atomic_dw:
		RD_DST(); RD_SRC();
		switch (insn->imm) {
		ACQ_REL_CASES(uint64_t)
		RMW_CASES(uint64_t)
		default: goto bad_insn;
		}
		NEXT();
#undef ACQ_REL_CASES
#undef RMW_CASES

	bad_insn:
		err = -EINVAL;
		goto out;
	over_budget:
		ex->budget = budget;
		err = -E2BIG;
	out:
		ex->depth--;
		ex->prog = caller_prog;
		return err;

#undef DST
#undef SRC
#undef IMM64
#undef IMM32
#undef ADDR
#undef DISPATCH
#undef NEXT
#undef RD_DST
#undef WR_DST
#undef RD_SRC
#undef WR_SRC
#undef CHARGE
}
