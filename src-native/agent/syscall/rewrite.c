/* Lazy rewriting: a syscall site that trapped becomes a jump to a per-site stub, so its next
 * execution costs a jump and a call instead of a signal.
 *
 * The only rewrite done is one that no thread can observe half-done and that no jump can land in
 * the middle of: the instruction just before the `syscall` (when it is >= 5 bytes: in glibc that is
 * the `mov $nr, %eax` of nearly every wrapper) is replaced as a whole by `jmp stub`, and the
 * `syscall` itself stays. So:
 *   - instruction boundaries do not move: a branch to that instruction lands on our jmp, a branch
 *     straight to the `syscall` still finds it (and traps: correct, just slow);
 *   - a thread that already executed the old instruction, or sits between the two (preempted, in a
 *     signal handler), goes on to the original `syscall` and traps;
 *   - the 5 bytes lie in one cache line and are written by one locked cmpxchg, so a fetching core
 *     sees the old or the new instruction, each of which is correct. No quiescence is needed.
 * Knowing where the previous instruction starts needs a known boundary to decode forward from: the
 * function start from the unwind tables (funcs.c), decoded with Zydis up to the site. Sites without
 * one (JIT code, the vDSO), whose previous instruction is shorter than 5 bytes, is a branch, or
 * straddles a cache line, keep trapping: correct, ~2 us each.
 *
 * The stub:   <the replaced instruction, RIP-relative displacement adjusted>
 *             lea -128(%rsp),%rsp          skip the caller's red zone
 *             push resume(%rip)            [rsp] = address after the syscall
 *             call *common(%rip)           syshook_common (entry.S)
 *             lea 136(%rsp),%rsp
 *             jmp *resume(%rip)
 *   resume:   .quad site + 2
 *   common:   .quad syshook_common
 *
 * Pages are made rwx (never non-executable: other threads run there) for the write and restored.
 * One thread rewrites at a time (a try-lock: a trapping thread never waits), with signals blocked
 * (SIGSYS excepted, which must never be blocked) so a handler cannot longjmp out holding the lock.
 * A table of sites already handled (with the code bytes seen, so a library unloaded and another
 * mapped there is looked at again) keeps repeated traps cheap. */
#include "syshook_internal.h"
#include <Zydis/Zydis.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096UL
#define LINE 64UL
#define JMP_LEN 5

/* ---- table of handled sites ---- */
enum { SITE_REWRITTEN = 1, SITE_UNREWRITABLE = 2 };
struct site_rec {
	uintptr_t site;
	uint64_t code; /* the aligned 8 bytes holding the syscall, as last seen */
	long state;
};
#define SITE_TAB 16384 /* power of two */
static struct site_rec *tab;
static unsigned tab_used;

static uint64_t code_at(uintptr_t site)
{
	return *(const volatile uint64_t *)(site & ~7UL);
}

static struct site_rec *lookup(uintptr_t site, int insert)
{
	if (!tab) {
		long p = raw6(SYS_mmap, 0, SITE_TAB * sizeof(struct site_rec), PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p < 0 && p > -4096)
			return NULL;
		tab = (struct site_rec *)p;
	}
	unsigned h = (unsigned)((site * 0x9E3779B97F4A7C15ULL) >> 40) & (SITE_TAB - 1);
	for (unsigned i = 0; i < SITE_TAB; i++, h = (h + 1) & (SITE_TAB - 1)) {
		if (tab[h].site == site)
			return &tab[h];
		if (tab[h].site == 0) {
			/* Unrewritable sites of generated code could fill it: stay at 3/4. */
			if (!insert || tab_used >= SITE_TAB / 4 * 3)
				return NULL;
			tab_used++;
			tab[h].site = site;
			return &tab[h];
		}
	}
	return NULL;
}

/* ---- decoding ---- */
static ZydisDecoder decoder;
static int decoder_ready;

struct plan {
	uintptr_t insn;	  /* the instruction before the syscall */
	unsigned len;
	int riprel;	  /* it has a RIP-relative memory operand */
	unsigned disp_off; /* where its disp32 sits */
	uintptr_t target; /* and the absolute address it refers to */
	int prot;	  /* protection of its page */
};

static int is_control_flow(const ZydisDecodedInstruction *in)
{
	if (in->meta.branch_type != ZYDIS_BRANCH_TYPE_NONE)
		return 1;
	switch (in->meta.category) {
	case ZYDIS_CATEGORY_COND_BR:
	case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_CALL:
	case ZYDIS_CATEGORY_RET:
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_SYSRET:
	case ZYDIS_CATEGORY_INTERRUPT:
	case ZYDIS_CATEGORY_SYSTEM:
		return 1;
	default:
		return 0;
	}
}

static int analyze(uintptr_t site, struct plan *pl)
{
	struct syshook_func fn;
	if (syshook_find_function(site, &fn) < 0)
		return -ENOENT;
	if (!(fn.text.prot & PROT_READ) || fn.text.shared || site + 2 > fn.end)
		return -EINVAL;
	/* Unwinders and debuggers recognise a signal trampoline (__restore_rt) by its bytes: leave
	 * it alone; it costs a trap per signal handler return. */
	if (fn.signal_frame)
		return -EINVAL;
	if (!decoder_ready) {
		ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		decoder_ready = 1;
	}
	static ZydisDecodedInstruction in, prev_in;
	uintptr_t at = fn.start, prev = 0;
	while (at < site) {
		size_t avail = fn.end - at < ZYDIS_MAX_INSTRUCTION_LENGTH ? fn.end - at : ZYDIS_MAX_INSTRUCTION_LENGTH;
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, NULL, (const void *)at, avail, &in)))
			return -EINVAL;
		prev = at;
		prev_in = in;
		at += in.length;
	}
	const uint8_t *s = (const uint8_t *)site;
	if (at != site || s[0] != 0x0f || s[1] != 0x05 || !prev)
		return -EINVAL;
	if (prev_in.length < JMP_LEN || is_control_flow(&prev_in))
		return -EINVAL;
	if ((prev & (LINE - 1)) + JMP_LEN > LINE)
		return -EINVAL; /* one locked store could not replace it atomically */
	memset(pl, 0, sizeof(*pl));
	pl->insn = prev;
	pl->len = prev_in.length;
	pl->prot = fn.text.prot;
	if (prev_in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
		/* Not a branch, so a RIP-relative memory operand: disp32 relative to its end. */
		if (!(prev_in.attributes & ZYDIS_ATTRIB_HAS_MODRM) || prev_in.raw.modrm.mod != 0 ||
		    prev_in.raw.modrm.rm != 5 || prev_in.raw.disp.size != 32)
			return -EINVAL;
		pl->riprel = 1;
		pl->disp_off = prev_in.raw.disp.offset;
		pl->target = prev + prev_in.length + (uintptr_t)(int64_t)prev_in.raw.disp.value;
	}
	return 0;
}

/* ---- writing ---- */
static void sync_cores(void)
{
	/* Other cores may run stale bytes for a while: both forms are correct, so this only speeds
	 * up the switch. Registration is per mm, hence again after fork. */
	long rc = raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
	if (rc == -EPERM && raw2(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0) == 0)
		raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
}

/* Replace n <= 8 bytes at `at` (inside one cache line) that must still equal `expect`. */
static int store_in_line(uintptr_t at, const uint8_t *bytes, const uint8_t *expect, size_t n, int prot)
{
	uintptr_t line_end = (at & ~(LINE - 1)) + LINE;
	uintptr_t w = at + 8 <= line_end ? at : line_end - 8;
	uintptr_t page = w & ~(PAGE - 1);
	if (raw3(SYS_mprotect, page, PAGE, prot | PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
		return -EPERM;
	uint64_t old, new;
	memcpy(&old, (const void *)w, 8);
	int rc = 0;
	if (memcmp((const uint8_t *)&old + (at - w), expect, n) != 0) {
		rc = -EBUSY; /* someone else (the uprobe engine?) changed it meanwhile */
	} else {
		new = old;
		memcpy((uint8_t *)&new + (at - w), bytes, n);
		if (!__atomic_compare_exchange_n((uint64_t *)w, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			rc = -EBUSY;
	}
	raw3(SYS_mprotect, page, PAGE, prot);
	return rc;
}

static void put32(uint8_t *p, int64_t v)
{
	int32_t x = (int32_t)v;
	memcpy(p, &x, 4);
}

static int fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

static int rewrite(uintptr_t site, const struct plan *pl)
{
	uint8_t code[64], orig[JMP_LEN];
	unsigned k = pl->len;
	memcpy(code, (const void *)pl->insn, k);
	memcpy(orig, code, JMP_LEN);
	static const uint8_t body[] = {
		0x48, 0x8d, 0x64, 0x24, 0x80,			/* lea -0x80(%rsp),%rsp */
		0xff, 0x35, 0, 0, 0, 0,				/* push resume(%rip) */
		0xff, 0x15, 0, 0, 0, 0,				/* call *common(%rip) */
		0x48, 0x8d, 0xa4, 0x24, 0x88, 0x00, 0x00, 0x00, /* lea 0x88(%rsp),%rsp */
		0xff, 0x25, 0, 0, 0, 0,				/* jmp *resume(%rip) */
	};
	memcpy(code + k, body, sizeof(body));
	unsigned data = (k + sizeof(body) + 7) & ~7U;
	for (unsigned i = k + sizeof(body); i < data; i++)
		code[i] = 0xcc;
	put32(code + k + 7, (int64_t)data - (int64_t)(k + 11));
	put32(code + k + 13, (int64_t)(data + 8) - (int64_t)(k + 17));
	put32(code + k + 27, (int64_t)data - (int64_t)(k + 31));
	uint64_t resume = site + 2, common = (uintptr_t)syshook_common;
	memcpy(code + data, &resume, 8);
	memcpy(code + data + 8, &common, 8);
	size_t size = data + 16;

	/* The site's jmp must reach the stub, and so must the moved instruction its operand. */
	const int64_t reach = INT32_MAX - 2 * 4096;
	uintptr_t from = pl->insn + JMP_LEN;
	uintptr_t lo = from > (uintptr_t)reach ? from - (uintptr_t)reach : 0, hi = from + (uintptr_t)reach;
	if (pl->riprel) {
		uintptr_t tlo = pl->target > (uintptr_t)reach ? pl->target - (uintptr_t)reach : 0;
		uintptr_t thi = pl->target + (uintptr_t)reach;
		if (tlo > lo)
			lo = tlo;
		if (thi < hi)
			hi = thi;
		if (lo >= hi)
			return -ERANGE;
	}
	uintptr_t stub = syshook_stub_alloc(lo, hi, pl->insn, size);
	if (!stub)
		return -ENOMEM;
	if (pl->riprel) {
		int64_t disp = (int64_t)pl->target - (int64_t)(stub + k);
		if (!fits32(disp))
			return -ERANGE;
		put32(code + pl->disp_off, disp);
	}
	if (syshook_stub_write(stub, code, size) < 0)
		return -EPERM;
	uint8_t jmp[JMP_LEN] = {0xe9};
	int64_t rel = (int64_t)stub - (int64_t)(pl->insn + JMP_LEN);
	if (!fits32(rel))
		return -ERANGE;
	put32(jmp + 1, rel);
	int rc = store_in_line(pl->insn, jmp, orig, JMP_LEN, pl->prot);
	if (rc == 0)
		sync_cores();
	return rc;
}

/* ---- entry point ---- */
static volatile int lock;

void syshook_rewrite_site(uintptr_t site)
{
	if (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		return;
	uint64_t all_but_sigsys = ~SYSHOOK_SIGSYS_BIT, old_mask;
	raw4(SYS_rt_sigprocmask, SIG_BLOCK, &all_but_sigsys, &old_mask, 8);
	uint64_t code = code_at(site);
	struct site_rec *r = lookup(site, 0);
	if (!r || r->code != code) {
		struct plan pl;
		int rc = analyze(site, &pl);
		if (rc == 0)
			rc = rewrite(site, &pl);
		/* -EBUSY: the bytes moved under us; leave no record so the next trap looks again. */
		if (rc != -EBUSY) {
			if (!r)
				r = lookup(site, 1);
			if (r) {
				r->state = rc == 0 ? SITE_REWRITTEN : SITE_UNREWRITABLE;
				r->code = code_at(site);
			}
			__atomic_fetch_add(rc == 0 ? &syshook_stats.sites_rewritten : &syshook_stats.sites_unrewritable, 1,
					   __ATOMIC_RELAXED);
		}
	}
	raw4(SYS_rt_sigprocmask, SIG_SETMASK, &old_mask, NULL, 8);
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
}
