/* Moving the instructions a probe overwrites into the stub, with Zydis as the decoder.
 *
 * Two shapes of plan:
 *  - jmp (the fast path): the whole instructions covering 5 bytes at the patch point move to the
 *    stub and a `jmp rel32` replaces them.
 *  - int3 (trap != 0, the fallback attach.c takes when the jmp plan is refused or cannot be placed):
 *    only the first instruction moves, and only its first byte becomes int3; the SIGTRAP handler
 *    (patch.c) sends the trapping thread to the stub. Every refusal below that is about the bytes
 *    after the first instruction disappears: a `ret` alone, a branch back to +2, a call followed by
 *    a short tail all relocate. The stub needs no placement within +-2 GiB of the site (the handler
 *    sets rip to any address, and the jmp back falls back to an absolute form); only RIP-relative
 *    operands of the first instruction constrain it.
 *
 * Where the patch goes: endbr64 at the probed address stays in place (indirect calls must still land
 * on it). In a jmp plan, leading 1-byte pushes (push %rbp, push %rbx, ...) and nops (USDT sites) stay
 * too: they run before the jmp, the stub reports rsp as it was before them (sp_adj) and the override
 * path drops what they pushed. This lets patch.c park threads on an instruction of >= 2 bytes. An
 * int3 plan needs no parking and skips nothing: the int3 is the first instruction after endbr64.
 *
 * What changes meaning when an instruction moves:
 *  - RIP-relative memory operands: disp32 is recomputed for the new address. The stub is placed so
 *    every such target stays within +-2 GiB (plan->lo/hi); if no placement can, attaching fails.
 *  - jmp/jcc rel8/rel32: re-emitted as rel32 from the stub when in reach, else in absolute forms
 *    (jmp *[rip]; inverted jcc over one). A call (only as the last relocated instruction) becomes
 *    a push of the original return address and a jmp: the callee returns into the function, as
 *    it would have, so unwinders and backtraces taken in the callee see the function. (It
 *    returned into the stub once: C++ exceptions and pthread_exit stopped there.)
 *  - ret: copied; it returns from the stub as it would have from the site (int3 plans only).
 *  - loop/jrcxz (rel8 only) and xbegin: refused, they do not occur in prologues.
 * What cannot be patched with a jmp (attach.c then tries an int3 plan):
 *  - bytes someone jumps into: a branch whose target lies in (addr, patch_addr + 5) would land in
 *    our jmp or skip a push the stub accounts for. Targets at instruction boundaries at offset >= 5
 *    are fine: we only write 5 bytes, the rest keeps its original instructions. Branches are found
 *    by a linear sweep of the function (its extent when the dynamic symbol table knows it, else a
 *    window after the patch); indirect jumps (switch tables) into the prologue cannot be seen.
 *    For an int3 plan the bytes are (addr, patch_addr]: only a branch past endbr64 is refused.
 *  - a function shorter than 5 bytes: a ret/jmp/ud2/int3/hlt ending before byte 5 means the
 *    jmp would spill into whatever follows.
 *  - a call ending before byte 5: a thread inside the callee would return into our jmp.
 * What cannot be patched at all:
 *  - an address inside an instruction, when the dynamic symbol table gives the function start;
 *  - an int3 already there (a debugger's breakpoint: we would take its traps), undecodable bytes. */
#include "attach_internal.h"
#include <Zydis/Zydis.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>

#define REACH (1LL << 31)
#define REACH_MARGIN 64 /* any instruction of the block is within this of the block's bounds */
#define USER_TOP (1UL << 47)
#define SCAN_WINDOW 4096 /* sweep length when the symbol size is unknown */
#define MAX_SKIP RELOC_MAX_SKIP

static ZydisDecoder decoder;
static int decoder_ready;

static void decoder_init(void)
{
	if (!decoder_ready) {
		ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		decoder_ready = 1;
	}
}

static int decode(uintptr_t at, size_t avail, ZydisDecodedInstruction *insn, ZydisDecodedOperand *ops)
{
	ZyanStatus st = ZydisDecoderDecodeFull(&decoder, (const void *)at, avail, insn, ops);
	return ZYAN_SUCCESS(st) ? 0 : -1;
}

static const char *mnem(const ZydisDecodedInstruction *insn)
{
	const char *s = ZydisMnemonicGetString(insn->mnemonic);
	return s ? s : "?";
}

/* Execution cannot fall through past these. */
static int is_terminator(const ZydisDecodedInstruction *insn)
{
	switch (insn->mnemonic) {
	case ZYDIS_MNEMONIC_RET:
	case ZYDIS_MNEMONIC_JMP:
	case ZYDIS_MNEMONIC_UD0:
	case ZYDIS_MNEMONIC_UD1:
	case ZYDIS_MNEMONIC_UD2:
	case ZYDIS_MNEMONIC_INT3:
	case ZYDIS_MNEMONIC_HLT:
		return 1;
	default:
		return 0;
	}
}

/* Target of a relative branch (imm operand), or 0 when insn is not one. */
static uint64_t branch_target(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			      uintptr_t at)
{
	if (!(insn->attributes & ZYDIS_ATTRIB_IS_RELATIVE))
		return 0;
	for (unsigned i = 0; i < insn->operand_count_visible; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_IMMEDIATE && ops[i].imm.is_relative) {
			ZyanU64 t;
			if (ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, &ops[i], at, &t)))
				return t;
		}
	}
	return 0;
}

static int rip_mem_operand(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
			   uintptr_t at, uint64_t *target)
{
	for (unsigned i = 0; i < insn->operand_count; i++) {
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_EIP)
			return -1; /* addr32 RIP-relative: would need a 32-bit result, never emitted by compilers */
		if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY && ops[i].mem.base == ZYDIS_REGISTER_RIP) {
			ZyanU64 t;
			if (!ZYAN_SUCCESS(ZydisCalcAbsoluteAddress(insn, &ops[i], at, &t)))
				return -1;
			*target = t;
			return 1;
		}
	}
	return 0;
}

/* Narrow [lo, hi) so that code anywhere in it reaches x with a rel32. */
static void constrain(struct attach_reloc_plan *p, uint64_t x)
{
	uint64_t reach = (uint64_t)REACH - REACH_MARGIN;
	uint64_t lo = x > reach ? x - reach : 0;
	uint64_t hi = x + reach;
	if (lo > p->lo)
		p->lo = lo;
	if (hi < p->hi)
		p->hi = hi;
}

/* Linear sweep from `from` to `to` for relative branches into (start, end). */
static int find_branch_into(uintptr_t from, uintptr_t to, uintptr_t start, uintptr_t end, uintptr_t *src)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	for (uintptr_t at = from; at < to;) {
		if (decode(at, to - at, &insn, ops) < 0)
			return 0; /* data or the end of the code: stop rather than guess */
		uint64_t t = branch_target(&insn, ops, at);
		if (t > start && t < end) {
			*src = at;
			return 1;
		}
		at += insn.length;
	}
	return 0;
}

/* The function containing addr, from the dynamic symbol table if it knows. */
void attach_symbol_lookup(uintptr_t addr, struct attach_sym *out)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;
	out->known = 0;
	if (dladdr1((void *)addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && info.dli_saddr &&
	    (uintptr_t)info.dli_saddr <= addr && sym->st_size > 0 &&
	    addr < (uintptr_t)info.dli_saddr + sym->st_size) {
		out->start = (uintptr_t)info.dli_saddr;
		out->end = out->start + sym->st_size;
		out->known = 1;
	}
}

/* Dead bytes after a terminator ending at `from`: nop or int3 instructions all the way to the next
 * 16-byte boundary (the padding compilers and assemblers put between functions; a function starts
 * at that boundary at the earliest), covering at least up to need_end. Execution never falls into
 * them, so a jmp may overwrite them: `ret` alone (ld.so's _dl_debug_state, bpftrace's
 * BEGIN_trigger) gets a jmp site instead of a trap per hit. */
static uintptr_t dead_padding(uintptr_t from, uintptr_t need_end, uintptr_t limit)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uintptr_t boundary = (from + 15) & ~(uintptr_t)15;
	if (need_end > boundary || boundary > limit)
		return 0;
	for (uintptr_t at = from; at < boundary; at += insn.length)
		if (decode(at, boundary - at, &insn, ops) < 0 ||
		    (insn.mnemonic != ZYDIS_MNEMONIC_NOP && insn.mnemonic != ZYDIS_MNEMONIC_INT3))
			return 0;
	return boundary;
}

/* Decoding from the function start must land on addr, else addr is inside an instruction. */
static int is_boundary(uintptr_t start, uintptr_t addr, uintptr_t limit)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uintptr_t at = start;
	while (at < addr) {
		if (decode(at, limit - at, &insn, ops) < 0)
			return 1; /* cannot tell: do not refuse on a guess */
		at += insn.length;
	}
	return at == addr;
}

/* No branch may target (addr, patch_addr + span): the jmp's 5 bytes, or for int3 the int3 itself
 * when it is past endbr64 (an empty range when the int3 is at addr). */
static unsigned patch_span(const struct attach_reloc_plan *p) { return p->trap ? 1 : JMP_LEN; }

/* Fill ri for a relative jmp/jcc/call. -EINVAL with ri->target set: it jumps into the bytes the
 * jmp replaces; -EOPNOTSUPP: a form we do not relocate. */
static int classify_branch(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops, uintptr_t at,
			   const struct attach_reloc_plan *p, struct reloc_insn *ri)
{
	uint64_t t = branch_target(insn, ops, at);
	switch (insn->mnemonic) {
	case ZYDIS_MNEMONIC_JMP:
		ri->kind = RK_JMP;
		break;
	case ZYDIS_MNEMONIC_CALL:
		ri->kind = RK_CALL;
		break;
	case ZYDIS_MNEMONIC_JCXZ:
	case ZYDIS_MNEMONIC_JECXZ:
	case ZYDIS_MNEMONIC_JRCXZ:
	case ZYDIS_MNEMONIC_LOOP:
	case ZYDIS_MNEMONIC_LOOPE:
	case ZYDIS_MNEMONIC_LOOPNE:
		return -EOPNOTSUPP; /* rel8 only: would need a detour, never seen in prologues */
	default:
		if (insn->meta.category != ZYDIS_CATEGORY_COND_BR)
			return -EOPNOTSUPP; /* xbegin and the like */
		ri->kind = RK_JCC;
		ri->cc = insn->opcode & 0x0f; /* 7x rel8 and 0f 8x rel32 share the nibble */
	}
	if (!t)
		return -EOPNOTSUPP;
	ri->target = t;
	if (t > p->addr && t < p->patch_addr + patch_span(p))
		return -EINVAL;
	return 0;
}

int attach_reloc_plan(uintptr_t addr, int trap, const struct attach_sym *sym, struct attach_reloc_plan *p, char *err,
		      size_t errlen)
{
	ZydisDecodedInstruction insn;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	struct map_region r;
	decoder_init();
	memset(p, 0, sizeof(*p));
	if (attach_maps_find(addr, &r) < 0 || !(r.prot & PROT_EXEC) || !(r.prot & PROT_READ))
		return attach_err(err, errlen, -EFAULT, "%#lx is not in readable executable memory",
				  (unsigned long)addr);
	if (r.shared)
		return attach_err(err, errlen, -EPERM,
				  "%#lx is in a shared mapping: patching it would write the file",
				  (unsigned long)addr);
	uintptr_t sym_start = sym->start, sym_end = sym->end;
	int have_sym = sym->known;
	if (have_sym && sym_end > r.end)
		sym_end = r.end;
	if (have_sym && !is_boundary(sym_start, addr, r.end))
		return attach_err(err, errlen, -EINVAL, "%#lx is not an instruction boundary of the function at %#lx",
				  (unsigned long)addr, (unsigned long)sym_start);
	p->addr = addr;
	p->patch_addr = addr;
	p->trap = !!trap;
	p->lo = 0;
	p->hi = USER_TOP;
	if (decode(addr, r.end - addr, &insn, ops) == 0 && insn.mnemonic == ZYDIS_MNEMONIC_ENDBR64)
		p->patch_addr = addr + insn.length;
	/* Leading 1-byte pushes and nops stay in place and run before the jmp: the instruction
	 * at the patch point must be >= 2 bytes for the patch to park threads on it (patch.c).
	 * They change no register, only rsp and the stack, which the stub accounts for. */
	for (int i = 0; i < MAX_SKIP && !p->trap; i++) {
		if (decode(p->patch_addr, r.end - p->patch_addr, &insn, ops) < 0 || insn.length != 1)
			break;
		if (insn.mnemonic == ZYDIS_MNEMONIC_PUSH)
			p->sp_adj += 8;
		else if (insn.mnemonic != ZYDIS_MNEMONIC_NOP)
			break;
		p->patch_addr++;
	}

	/* The jmp plan relocates whole instructions covering 5 bytes, the int3 plan the first one. */
	unsigned need = p->trap ? 1 : JMP_LEN;
	uintptr_t at = p->patch_addr, pad_end = 0;
	while (at - p->patch_addr < need) {
		unsigned off = (unsigned)(at - p->patch_addr);
		if (at >= r.end)
			return attach_err(err, errlen, -EINVAL, "code at %#lx ends %u bytes in: need %d",
					  (unsigned long)addr, off, need);
		if (p->n == RELOC_MAX_INSNS)
			return attach_err(err, errlen, -EINVAL, "too many instructions at %#lx", (unsigned long)addr);
		if (decode(at, r.end - at, &insn, ops) < 0)
			return attach_err(err, errlen, -EINVAL, "cannot decode the instruction at %#lx+%u",
					  (unsigned long)addr, (unsigned)(at - addr));
		struct reloc_insn *ri = &p->insn[p->n++];
		ri->off = (uint8_t)off;
		ri->len = insn.length;
		ri->kind = RK_COPY;
		if (p->trap && insn.mnemonic == ZYDIS_MNEMONIC_INT3)
			return attach_err(err, errlen, -EINVAL,
					  "%#lx already holds an int3 (a debugger's breakpoint?): not probing it",
					  (unsigned long)at);
		if (is_terminator(&insn) && off + insn.length < need && off == 0 &&
		    insn.mnemonic == ZYDIS_MNEMONIC_RET && !p->trap &&
		    (pad_end = dead_padding(at + insn.length, p->patch_addr + need, r.end)) != 0) {
			/* The jmp covers the ret and padding: one instruction ever runs there. */
			at = p->patch_addr + need;
			break;
		}
		if (is_terminator(&insn) && off + insn.length < need)
			return attach_err(err, errlen, -EINVAL,
					  "function at %#lx is shorter than %d bytes (%s at +%u): a jmp would "
					  "overwrite what follows it",
					  (unsigned long)addr, JMP_LEN, mnem(&insn), (unsigned)(at - addr));
		uint64_t t;
		int rm = rip_mem_operand(&insn, ops, at, &t);
		if (rm < 0)
			return attach_err(err, errlen, -EINVAL, "bad RIP-relative operand at %#lx+%u",
					  (unsigned long)addr, (unsigned)(at - addr));
		if (rm) {
			if (insn.raw.disp.size != 32)
				return attach_err(err, errlen, -EINVAL, "odd displacement size at %#lx+%u",
						  (unsigned long)addr, (unsigned)(at - addr));
			ri->kind = RK_RIPREL;
			ri->disp_off = insn.raw.disp.offset;
			ri->target = t;
			constrain(p, t);
		} else if (insn.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
			int rc = classify_branch(&insn, ops, at, p, ri);
			if (rc)
				return attach_err(err, errlen, -EINVAL,
						  rc == -EINVAL ? "%s at %#lx+%u jumps into the bytes the probe replaces"
								: "cannot relocate %s at %#lx+%u",
						  mnem(&insn), (unsigned long)addr, (unsigned)(at - addr));
		}
		/* A thread inside the callee would return into the middle of our jmp. */
		if (insn.meta.category == ZYDIS_CATEGORY_CALL && off + insn.length < need)
			return attach_err(err, errlen, -EINVAL,
					  "call at %#lx+%u returns into the bytes the probe replaces",
					  (unsigned long)addr, (unsigned)(at - addr));
		at += insn.length;
	}
	p->len = (unsigned)(at - p->patch_addr);
	p->first_len = pad_end ? p->len : p->insn[0].len; /* padding: nothing runs after the ret */
	memcpy(p->orig, (const void *)p->patch_addr, p->len);

	/* The stub's jmp back and the site's jmp to the stub must reach. An int3 site's stub can be
	 * anywhere: the SIGTRAP handler sets rip, the jmp back takes an absolute form if needed. */
	if (!p->trap) {
		constrain(p, p->patch_addr);
		constrain(p, p->patch_addr + p->len);
	}
	if (p->lo >= p->hi)
		return attach_err(err, errlen, -ERANGE,
				  "RIP-relative targets at %#lx are too far apart for any stub placement",
				  (unsigned long)addr);

	uintptr_t src;
	uintptr_t span_end = p->patch_addr + patch_span(p);
	if (span_end <= p->addr + 1)
		return 0; /* int3 at addr itself: no branch target can be refused */
	/* Sweep the whole function when its bounds are known, else a window after the patch. */
	uintptr_t from = have_sym ? sym_start : pad_end ? pad_end : at;
	uintptr_t to = have_sym ? sym_end : (at + SCAN_WINDOW < r.end ? at + SCAN_WINDOW : r.end);
	if (find_branch_into(from, to, p->addr, span_end, &src))
		return attach_err(err, errlen, -EINVAL,
				  "the instruction at %#lx jumps into the bytes the probe at %#lx replaces or skips",
				  (unsigned long)src, (unsigned long)p->addr);
	return 0;
}

/* ---- emission ---- */
struct out {
	uint8_t *p;
	size_t n, cap;
	uintptr_t base; /* runtime address of p[0] */
};

static int put(struct out *o, const void *b, size_t n)
{
	if (o->n + n > o->cap)
		return -1;
	memcpy(o->p + o->n, b, n);
	o->n += n;
	return 0;
}
static int put8(struct out *o, uint8_t b) { return put(o, &b, 1); }
static int put32(struct out *o, int32_t v) { return put(o, &v, 4); }
static int put64(struct out *o, uint64_t v) { return put(o, &v, 8); }
static uintptr_t here(const struct out *o) { return o->base + o->n; }

/* rel32 from the end of an instruction of length len starting here to target, if it fits. */
static int rel32(const struct out *o, unsigned len, uint64_t target, int32_t *rel)
{
	int64_t d = (int64_t)(target - (here(o) + len));
	if (d < INT32_MIN || d > INT32_MAX)
		return 0;
	*rel = (int32_t)d;
	return 1;
}

static int emit_jmp(struct out *o, uint64_t target)
{
	int32_t rel;
	if (rel32(o, 5, target, &rel))
		return put8(o, 0xe9) || put32(o, rel);
	/* jmp *0(%rip); .quad target */
	return put8(o, 0xff) || put8(o, 0x25) || put32(o, 0) || put64(o, target);
}

static int emit_one(struct out *o, const struct attach_reloc_plan *p, const struct reloc_insn *ri)
{
	const uint8_t *src = p->orig + ri->off;
	int32_t rel;
	switch (ri->kind) {
	case RK_COPY:
		return put(o, src, ri->len);
	case RK_RIPREL: {
		int64_t d = (int64_t)(ri->target - (here(o) + ri->len));
		if (d < INT32_MIN || d > INT32_MAX)
			return -ERANGE;
		size_t at = o->n;
		if (put(o, src, ri->len))
			return -1;
		int32_t disp = (int32_t)d;
		memcpy(o->p + at + ri->disp_off, &disp, 4);
		return 0;
	}
	case RK_JMP:
		return emit_jmp(o, ri->target);
	case RK_JCC:
		if (rel32(o, 6, ri->target, &rel))
			return put8(o, 0x0f) || put8(o, (uint8_t)(0x80 | ri->cc)) || put32(o, rel);
		/* j<!cc> over an absolute jmp (14 bytes) */
		return put8(o, (uint8_t)(0x70 | (ri->cc ^ 1))) || put8(o, 14) || put8(o, 0xff) || put8(o, 0x25) ||
		       put32(o, 0) || put64(o, ri->target);
	case RK_CALL: {
		/* The callee returns straight to the instruction after the original call (the call is the
		 * last instruction relocated, and the bytes after it were not overwritten), so return
		 * addresses, unwinders (C++ exceptions, pthread_exit's cleanups) and backtraces see the
		 * function, not the stub: push ret(%rip), a literal after the jmp (no flags changed),
		 * then jmp to the callee. */
		uint64_t ret = p->patch_addr + ri->off + ri->len;
		int64_t d = (int64_t)(ri->target - (here(o) + 6 + 5));
		int32_t jmp_len = d >= INT32_MIN && d <= INT32_MAX ? 5 : 14; /* what emit_jmp will pick */
		return put8(o, 0xff) || put8(o, 0x35) || put32(o, jmp_len) || emit_jmp(o, ri->target) ||
		       put64(o, ret);
	}
	}
	return -1;
}

int attach_reloc_emit(const struct attach_reloc_plan *p, uintptr_t dest, uint8_t *buf, size_t cap, char *err,
	       size_t errlen)
{
	struct out o = {buf, 0, cap, dest};
	for (unsigned i = 0; i < p->n; i++) {
		int rc = emit_one(&o, p, &p->insn[i]);
		if (rc == -ERANGE)
			return attach_err(err, errlen, -ERANGE, "RIP-relative target of +%u out of reach from %#lx",
					  p->insn[i].off, (unsigned long)dest);
		if (rc)
			return attach_err(err, errlen, -ENOSPC, "relocated code too large");
	}
	if (emit_jmp(&o, p->patch_addr + p->len))
		return attach_err(err, errlen, -ENOSPC, "relocated code too large");
	return (int)o.n;
}
