/* Shared between the modules of the syscall interception engine (README.md here is the overview):
 *   syscall_hook.c  public API: start/stop, arming threads, the SIGSYS handler, chaining
 *   dispatch.c      C side of the trampoline: callbacks, modes, child threads, signal-mask care
 *   threads.c       per-thread state and the grace period stop() waits for
 *   rewrite.c       turning a trapping syscall site into a jump to a stub
 *   funcs.c         function bounds from .eh_frame_hdr (where decoding may start)
 *   maps.c          /proc/self/maps without malloc
 *   stubmem.c       executable memory within +-2 GiB of a site
 *   arm_restart.c   a blocked call the arming signal interrupted runs again
 *   entry.S         the only code that executes `syscall`: the range dispatch allows */
#ifndef BPFTIME_SYSHOOK_INTERNAL_H
#define BPFTIME_SYSHOOK_INTERNAL_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <asm/ptrace.h>
#include "bpftime/syscall_hook.h"
#include "layout.h"

#define HIDDEN __attribute__((visibility("hidden")))

/* ---- entry.S ---- */
extern const uint8_t syshook_text_start[] HIDDEN, syshook_text_end[] HIDDEN;
extern const uint8_t syshook_common[] HIDDEN, syshook_sud_entry[] HIDDEN, syshook_restorer[] HIDDEN;
long syshook_raw6(long nr, long a, long b, long c, long d, long e, long f) HIDDEN;
/* The 32-bit ABI (int $0x80): eax = nr, ebx, ecx, edx, esi, edi, ebp. */
long syshook_raw_int80(long nr, long b, long c, long d, long si, long di, long bp) HIDDEN;
#define raw0(n) syshook_raw6((n), 0, 0, 0, 0, 0, 0)
#define raw1(n, a) syshook_raw6((n), (long)(a), 0, 0, 0, 0, 0)
#define raw2(n, a, b) syshook_raw6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define raw3(n, a, b, c) syshook_raw6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define raw4(n, a, b, c, d) syshook_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define raw5(n, a, b, c, d, e) syshook_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define raw6(n, a, b, c, d, e, f) \
	syshook_raw6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* ---- the frame syshook_common builds (layout.h) ---- */
struct syshook_frame {
	struct bpftime_syscall_ctx ctx; /* ctx.regs points at the pt_regs above the frame */
	long called;			/* enter callbacks ran: exit callbacks are due */
	uint8_t scratch[F_SCRATCH_SIZE]; /* copies of arguments we pass instead of the caller's */
	uint8_t xmm[256] __attribute__((aligned(16)));
};
_Static_assert(offsetof(struct syshook_frame, ctx.nr) == F_NR, "layout");
_Static_assert(offsetof(struct syshook_frame, ctx.args) == F_ARG0, "layout");
_Static_assert(offsetof(struct syshook_frame, ctx.ret) == F_RET, "layout");
_Static_assert(offsetof(struct syshook_frame, ctx.regs) == F_REGS, "layout");
_Static_assert(offsetof(struct syshook_frame, called) == F_CALLED, "layout");
_Static_assert(offsetof(struct syshook_frame, scratch) == F_SCRATCH, "layout");
_Static_assert(offsetof(struct syshook_frame, xmm) == F_XMM, "layout");
_Static_assert(sizeof(struct syshook_frame) == F_SIZE, "layout");
_Static_assert(offsetof(struct pt_regs, orig_rax) == PT_ORIG_RAX && offsetof(struct pt_regs, rsp) == PT_RSP &&
		       sizeof(struct pt_regs) == PT_SIZE,
	       "layout");

/* ---- arm_restart.c: a blocked call the arming signal interrupted runs again ---- */
struct syshook_blocked {
	volatile int valid;
	long nr;
	uint64_t args[6], sp, pc;
};
/* Notes what thread tid is blocked in: 1 (in a syscall), 0 (not), -1 (cannot tell). */
int syshook_blocked_read(int tid, struct syshook_blocked *b) HIDDEN;
/* In the arming handler: that call came back with EINTR? Make it run again on return (through
 * the engine when the thread is armed). */
void syshook_restart_if_interrupted(void *ucv, const struct syshook_blocked *b, int armed) HIDDEN;

int syshook_dispatch_c(struct syshook_frame *f) HIDDEN;
void syshook_exit_c(struct syshook_frame *f) HIDDEN;
void syshook_exit_only_c(struct syshook_frame *f) HIDDEN;

/* ---- per-thread state (threads.c) ---- */
struct syshook_slot {
	volatile unsigned long seq; /* odd while the thread runs a callback */
	volatile int tid;	    /* owner; 0 = free */
	int pad;
};
struct syshook_tls {
	volatile uint8_t busy;	   /* TLS_BUSY */
	volatile uint8_t excluded; /* TLS_EXCLUDED */
	volatile uint8_t armed;	   /* TLS_ARMED */
	uint8_t pad[5];
	uintptr_t vfork_resume;	   /* TLS_VFORK_RESUME */
	long vfork_nr;		   /* TLS_VFORK_NR */
	struct syshook_slot *slot;
};
extern __thread struct syshook_tls syshook_tls HIDDEN __attribute__((tls_model("initial-exec")));
_Static_assert(offsetof(struct syshook_tls, busy) == TLS_BUSY && offsetof(struct syshook_tls, excluded) == TLS_EXCLUDED &&
		       offsetof(struct syshook_tls, armed) == TLS_ARMED &&
		       offsetof(struct syshook_tls, vfork_resume) == TLS_VFORK_RESUME &&
		       offsetof(struct syshook_tls, vfork_nr) == TLS_VFORK_NR &&
		       offsetof(struct syshook_tls, slot) == TLS_SLOT,
	       "layout");

/* The calling thread's slot (allocated on first use; NULL when none is left). */
struct syshook_slot *syshook_slot_get(struct syshook_tls *t) HIDDEN;
/* Reserve the slot table (start(), normal context). 0 or -errno. */
int syshook_slots_init(void) HIDDEN;
/* Wait until no other thread is inside a callback it entered before this call. 0 or -ETIMEDOUT. */
int syshook_grace_period(long timeout_ns) HIDDEN;

/* ---- global state (syscall_hook.c) ---- */
extern volatile uint8_t syshook_active HIDDEN; /* callbacks on */
extern uint8_t syshook_special[SPECIAL_NR_MAX] HIDDEN;
extern uint8_t syshook_want[WANT_NR_MAX] HIDDEN; /* BPFTIME_SYSCALL_WANT_* per number */
extern uint8_t syshook_want_other HIDDEN;	/* for numbers outside syshook_want */
extern uint8_t syshook_hot[SPECIAL_NR_MAX] HIDDEN; /* [nr & 255]: special or wanted: not plain */
extern bpftime_syscall_enter_fn volatile syshook_enter_cb HIDDEN;
extern bpftime_syscall_exit_fn volatile syshook_exit_cb HIDDEN;
extern struct bpftime_syscall_hook_stats syshook_stats HIDDEN;
extern int syshook_handler_installed HIDDEN;
/* Turn Syscall User Dispatch on (and SIGSYS unblocked) / off for the calling thread. */
int syshook_arm_self(struct syshook_tls *t) HIDDEN;
void syshook_disarm_self(struct syshook_tls *t) HIDDEN;
/* rt_sigaction on SIGSYS is virtual once our handler is in place: the application's action. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};
int syshook_sigsys_action(const struct ksigaction *act, struct ksigaction *old) HIDDEN;
/* In a new process (fork-like child): release locks held by threads that do not exist there. */
void syshook_after_fork_child(void) HIDDEN;

/* ---- rewriting (rewrite.c) ---- */
/* A syscall instruction at site trapped: make it jump to a stub if that is provably safe. Never
 * blocks (gives up when another thread is rewriting). */
void syshook_rewrite_site(uintptr_t site) HIDDEN;
void syshook_rewrite_after_fork_child(void) HIDDEN;
void syshook_rewrite_init(void) HIDDEN;

/* ---- /proc/self/maps (maps.c) ---- */
struct syshook_map {
	uintptr_t start, end, offset;
	unsigned long dev, inode;
	int prot;   /* PROT_* */
	int shared; /* 's' */
};
/* fn returns nonzero to stop. 0, or -errno when the file cannot be read. */
int syshook_maps_foreach(int (*fn)(const struct syshook_map *m, void *arg), void *arg) HIDDEN;

/* ---- function bounds (funcs.c) ---- */
struct syshook_func {
	uintptr_t start, end;	  /* the FDE's range around the address */
	uintptr_t next_start;	  /* the next FDE's start (>= end), or end */
	int signal_frame;	  /* a signal trampoline ('S' in its CIE) */
	struct syshook_map text;  /* the executable mappings holding the address */
};
/* Bounds of the function containing addr, from its ELF file's .eh_frame_hdr. 0 or -ENOENT. */
int syshook_find_function(uintptr_t addr, struct syshook_func *fn) HIDDEN;

/* ---- stub memory (stubmem.c) ---- */
/* Reserve size bytes of executable memory lying within [lo, hi) (preferably near `near`). Returns
 * the address or 0. */
uintptr_t syshook_stub_alloc(uintptr_t lo, uintptr_t hi, uintptr_t near, size_t size) HIDDEN;
/* Copy code into reserved stub memory (writable only during the copy, never without exec). 0/-1. */
int syshook_stub_write(uintptr_t at, const uint8_t *code, size_t size) HIDDEN;

/* ---- helpers ---- */
#define SYSHOOK_SIGSYS_BIT (1ULL << (31 - 1))
static inline long syshook_gettid(void) { return raw0(186 /* SYS_gettid */); }
static inline long syshook_getpid(void) { return raw0(39 /* SYS_getpid */); }
void syshook_sleep_ns(long ns) HIDDEN;
long syshook_now_ns(void) HIDDEN;
#endif
