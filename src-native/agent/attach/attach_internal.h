/* Shared between the modules of the hooking engine (README.md in this directory is the overview):
 *   attach.c      public API, site table, handler vectors
 *   dispatch.c    C side of the trampolines: entry/return dispatch, shadow stack
 *   threads.c     per-thread state, thread registry and grace periods
 *   reloc.c       decoding and relocating the instructions a jmp (or an int3) overwrites (Zydis)
 *   nearmem.c     executable memory within +-2 GiB of a site (W^X double mapping)
 *   maps.c        /proc/self/maps reading without malloc
 *   patch.c       writing the 5-byte jmp (or int3) while other threads run; the SIGTRAP handler
 *   quiesce.c     waiting until no thread is inside the bytes being replaced
 *   rawsys.h      raw system calls for the patching window
 *   trampoline.S  the per-site entry stub template and the shared return trampoline
 *   unwind.c      C++ exceptions through frames with pending return probes */
#ifndef BPFTIME_ATTACH_INTERNAL_H
#define BPFTIME_ATTACH_INTERNAL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include "bpftime/attach.h"
#include "attach_asm.h"

#define HIDDEN __attribute__((visibility("hidden")))
#define JMP_LEN 5 /* e9 rel32 */
#define INT3 0xcc

/* ---- handler vectors: immutable once published, replaced whole (copy on write) ---- */
struct probe_entry {
	bpftime_probe_handler h;
	void *data;
};
struct handler_vec {
	struct handler_vec *retired_next; /* waiting for a grace period before free() */
	unsigned n;
	struct probe_entry e[];
};

/* ---- relocation (reloc.c) ---- */
enum reloc_kind { RK_COPY, RK_RIPREL, RK_JCC, RK_JMP, RK_CALL };
#define RELOC_MAX_SKIP 6 /* leading 1-byte pushes/nops a jmp plan leaves in place (reloc.c) */
#define RELOC_MAX_INSNS 8	  /* >= 5 bytes of instructions of >= 1 byte each, with slack */
#define RELOC_MAX_OUT (RELOC_MAX_INSNS * 16 + 32) /* worst case per insn (a call: 28) + the jmp back */
struct reloc_insn {
	uint8_t off, len;   /* within the relocated range */
	uint8_t kind;       /* enum reloc_kind */
	uint8_t disp_off;   /* RK_RIPREL: where disp32 sits in the instruction */
	uint8_t cc;         /* RK_JCC: condition code nibble */
	uint64_t target;    /* absolute target of the branch or of the RIP-relative operand */
};
struct attach_reloc_plan {
	uintptr_t addr;	      /* probed address */
	uintptr_t patch_addr; /* where the jmp goes: addr, or addr + 4 after endbr64 */
	int trap;	      /* int3 plan: only the first instruction is relocated, int3 replaces it */
	unsigned len;	      /* bytes of whole instructions relocated (>= 5; the first one for int3) */
	unsigned first_len;   /* length of the instruction at patch_addr */
	unsigned sp_adj;      /* bytes pushed by the 1-byte pushes skipped before patch_addr */
	uint8_t orig[32];     /* their original bytes */
	unsigned n;
	struct reloc_insn insn[RELOC_MAX_INSNS];
	uintptr_t lo, hi;     /* the relocated copy must lie within [lo, hi) to reach its targets */
};
/* The function containing an address, from the dynamic symbol table (dladdr). Looked up before the
 * engine's lock is taken: dladdr takes the dynamic loader's lock, and a thread inside dlopen holds
 * that one while it runs a probe handler of the agent's (at _dl_debug_state) that attaches. */
struct attach_sym {
	int known;
	uintptr_t start, end;
};
void attach_symbol_lookup(uintptr_t addr, struct attach_sym *out) HIDDEN;
/* Decode the instructions at addr and check they can be moved: those a jmp covers (trap = 0), or
 * the first one alone, for an int3 (trap = 1). 0 or -errno with a message. */
int attach_reloc_plan(uintptr_t addr, int trap, const struct attach_sym *sym, struct attach_reloc_plan *plan,
		      char *err, size_t errlen) HIDDEN;
/* Emit the relocated instructions for execution at dest, followed by a jmp back to
 * patch_addr + len. Returns the byte count, or -errno with a message. */
int attach_reloc_emit(const struct attach_reloc_plan *plan, uintptr_t dest, uint8_t *out, size_t cap, char *err,
	       size_t errlen) HIDDEN;

/* ---- /proc/self/maps (maps.c) ---- */
struct map_region {
	uintptr_t start, end;
	int prot;   /* PROT_* */
	int shared; /* 's' flag: writing would reach the file */
};
/* Find the mapping containing addr. 0, or -ENOENT. */
int attach_maps_find(uintptr_t addr, struct map_region *out) HIDDEN;
/* Call fn for every mapping in address order; fn returns nonzero to stop. */
int attach_maps_foreach(int (*fn)(const struct map_region *r, void *arg), void *arg) HIDDEN;

/* ---- executable memory near a site (nearmem.c) ---- */
struct near_block {
	uintptr_t rx;  /* where the code will run */
	uint8_t *rw;   /* where to write it (an alias of rx, or rx itself before sealing) */
	size_t size;
	int needs_seal; /* fallback path: rw == rx, mprotect to r-x after writing */
};
/* Find size bytes of executable memory lying within [lo, hi). 0 or -ERANGE/-ENOMEM. */
int attach_nearmem_alloc(uintptr_t lo, uintptr_t hi, uintptr_t prefer, size_t size, struct near_block *b) HIDDEN;
/* Make the written block executable (no-op for the double-mapped path). */
int attach_nearmem_seal(struct near_block *b) HIDDEN;
/* In a fork child: stop adding stubs to chunks shared with the parent. */
void attach_nearmem_after_fork_child(void) HIDDEN;

/* ---- sites (attach.c) ---- */
struct site {
	/* Read by the dispatchers on the hot path (published with release stores). */
	struct handler_vec *entry_vec;
	struct handler_vec *ret_vec;
	/* Nonzero while the site has return probes only: the stub then takes its short path (the
	 * shadow push in assembly, no pt_regs, no call; trampoline.S), which checks the vectors
	 * again, so a stale value only costs time. */
	uintptr_t ret_only;
	uintptr_t addr;
	/* Patching state. */
	uintptr_t patch_addr;
	unsigned len;	       /* bytes relocated into the stub */
	unsigned patch_len;    /* bytes we write at patch_addr: JMP_LEN, or 1 for an int3 site */
	int trap;	       /* int3 site: a permanent int3 sends each hit through the SIGTRAP handler */
	unsigned first_len;    /* length of the original instruction at patch_addr */
	unsigned sp_adj;       /* pushes skipped before patch_addr (see reloc.c) */
	uint8_t orig[32];      /* original bytes of [patch_addr, patch_addr + len) */
	uint8_t prefix[16];    /* original bytes of [addr, patch_addr): endbr64, skipped pushes */
	uint8_t patch[JMP_LEN]; /* what we write: e9 rel32, or cc */
	uintptr_t stub;	       /* entry of the stub */
	uintptr_t reloc;       /* relocated original instructions inside the stub (+ jmp back) */
	uintptr_t call_ret;    /* the stub's return address in a frame its return-only path called */
	volatile int armed;    /* our patch is (being) written: an int3 trap here goes to stub */
	volatile int trap_redirect; /* an int3 of ours was written here: the trap handler knows it */
	int dead;	       /* code at addr changed since: never re-armed */
	struct bpftime_probe *probes; /* attach order; under the attach lock */
	struct site *next;	      /* append-only list, walked by the SIGTRAP handler */
};
struct bpftime_probe {
	struct site *site;
	int is_return;
	bpftime_probe_handler h;
	void *data;
	struct bpftime_probe *next;
};
/* Head of the append-only list of every site ever created. */
extern struct site *volatile attach_sites HIDDEN;

/* ---- patching (patch.c) ---- */
/* Replace n bytes (JMP_LEN, or 1 for an int3 site) at s->patch_addr, which must currently equal
 * `expect`, by `bytes`, atomically as seen by threads executing there. first_len: length of the
 * first instruction in `expect`; below n, several instructions are replaced and we first wait until
 * no thread is between them. Writing an int3 installs the SIGTRAP handler first. Then serialize
 * every core. 0 or -errno. */
int attach_patch_write(struct site *s, const uint8_t *bytes, const uint8_t *expect, unsigned n, unsigned first_len,
		       char *err, size_t errlen) HIDDEN;
/* quiesce.c: wait until no other thread can be stopped inside (lo, hi); -EAGAIN with the tid of a
 * thread that did not run within timeout_ns. */
int attach_quiesce_range(uintptr_t lo, uintptr_t hi, long timeout_ns, long *stuck_tid) HIDDEN;
/* quiesce.c: the tid of another thread that blocks SIGTRAP, or 0. */
long attach_thread_blocking_sigtrap(void) HIDDEN;
/* Make every thread of the process execute a core-serializing instruction (membarrier). */
void attach_sync_cores(void) HIDDEN;
/* membarrier(PRIVATE_EXPEDITED[_SYNC_CORE]), registering on first use. 0 or -errno. */
int attach_membarrier(int sync_core) HIDDEN;

/* ---- per-thread state and grace periods (threads.c) ---- */
struct shadow_frame {
	uintptr_t ret_addr; /* the real return address */
	uintptr_t entry_sp; /* rsp at function entry, where the return address sits */
	struct site *site;
};
struct thread_state {
	/* Odd while the thread is inside a dispatcher: the recursion guard, and the generation
	 * grace periods wait on. Written only by the owning thread. */
	volatile unsigned long seq;
	volatile unsigned char excluded;
	unsigned top;		      /* shadow stack depth */
	struct shadow_frame *frames;  /* SHADOW_CAP entries, mmap'ed on first return probe */
	volatile int in_use;	      /* owned by a live thread */
	struct thread_state *next;    /* registry: append-only, entries recycled */
	/* Per shadow frame: the value a C++ unwind took out of its slot (unwind.c), or 0. Mapped
	 * on the first exception that passes pending frames. */
	uintptr_t *restored;
};
extern __thread struct thread_state *attach_tls HIDDEN __attribute__((tls_model("initial-exec")));
/* The calling thread's state, created on first use; NULL while the thread exits. */
struct thread_state *attach_thread_state(void) HIDDEN;
/* Wait until every other thread that was inside a dispatcher has left it. 0, or -ETIMEDOUT. */
int attach_grace_period(void) HIDDEN;
/* In a fork child: the other threads' states are free again. */
void attach_threads_after_fork_child(void) HIDDEN;

/* ---- trampolines (trampoline.S) ---- */
extern const uint8_t bpftime_attach_entry_tpl[] HIDDEN;	     /* start of the template: data slots */
extern const uint8_t bpftime_attach_entry_tpl_entry[] HIDDEN; /* where the site's jmp lands */
extern const uint8_t bpftime_attach_entry_tpl_end[] HIDDEN;   /* relocated code is appended here */
extern const uint8_t bpftime_attach_ret_tramp[] HIDDEN;
/* In the template: the return address of the return-only path's call (a function it called
 * returns there, then to bpftime_attach_ret_tramp_call). */
extern const uint8_t bpftime_attach_entry_tpl_call_ret[] HIDDEN;
extern const uint8_t bpftime_attach_ret_tramp_call[] HIDDEN;
/* Slots at the start of the template, filled per site. */
struct entry_tpl_slots {
	struct site *site;
	void *dispatch;
	uintptr_t ip;
	uintptr_t sp_adj;
	uintptr_t tls_off;   /* attach_tls's offset from the thread pointer (initial-exec TLS) */
	void *ret_tramp;     /* bpftime_attach_ret_tramp */
	uintptr_t body;      /* what the return-only path calls: the relocated code, after the skipped pushes */
	void *ret_call;      /* bpftime_attach_ret_tramp_call */
};
/* Offsets trampoline.S uses: attach_asm.h (checked in attach.c). */
int bpftime_attach_entry_dispatch(struct site *s, struct pt_regs *regs) HIDDEN;
void bpftime_attach_ret_dispatch(struct pt_regs *regs) HIDDEN;

/* Counters (attach.c). */
extern struct bpftime_probe_stats attach_stats HIDDEN;
/* unwind.c: entry probes on the unwinder where our wrappers do not interpose (the agent was
 * dlopen'ed), installed while return probes exist. Called without attach_lock. */
void attach_unwind_hooks_install(void) HIDDEN;
void attach_unwind_hooks_remove(void) HIDDEN;

/* Message helper: snprintf into err when err is non-NULL; returns rc. */
int attach_err(char *err, size_t errlen, int rc, const char *fmt, ...) HIDDEN
	__attribute__((format(printf, 4, 5)));
#endif
