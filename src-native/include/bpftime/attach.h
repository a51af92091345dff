/* The agent's uprobe/uretprobe engine: inline trampolines, no trap on the hot path.
 *
 * A probed address gets a 5-byte `jmp rel32` to a per-site stub within +-2 GiB. The stub saves
 * the registers into a kernel-layout pt_regs, calls the handlers, restores, runs the relocated
 * original instructions and jumps back. Return probes replace the return address with a
 * trampoline and remember the real one in a per-thread shadow stack.
 * Where no jmp fits (a function shorter than 5 bytes, such as bpftrace's BEGIN_trigger, a branch
 * back into the first 5 bytes, ...) but the first instruction can be moved, an int3 replaces that
 * instruction and a SIGTRAP handler sends each hit to the same stub: the same semantics, at the
 * cost of a signal per hit (microseconds: fine for BEGIN/END-style probes, not for hot code).
 * See src-native/agent/attach/README.md for the design, the patching strategy and its limits. */
#ifndef BPFTIME_ATTACH_H
#define BPFTIME_ATTACH_H
#include <stddef.h>
#include <stdint.h>
#include <asm/ptrace.h> /* struct pt_regs, the kernel's x86-64 layout (r15 ... ss): programs read it as their ctx */

#ifdef __cplusplus
extern "C" {
#endif

/* Called on each hit, on the hitting thread. regs is a kernel-layout pt_regs of the probed thread at
 * that point: for an entry probe rip = the probed address, rsp = the stack pointer at entry, all GPRs
 * as at entry (changes to GPRs are written back); for a return probe rax = return value,
 * rip = the return address, rsp = rsp after return.
 * An entry handler returning BPFTIME_PROBE_OVERRIDE makes the probed function return immediately to
 * its caller with regs->rax as the return value (only meaningful at a function entry, where [rsp] is
 * the return address). Return probes on the same function still see that return. */
enum { BPFTIME_PROBE_CONTINUE = 0, BPFTIME_PROBE_OVERRIDE = 1 };
typedef int (*bpftime_probe_handler)(void *data, struct pt_regs *regs);
struct bpftime_probe;

/* Hook the instruction boundary at addr (normally a function entry). is_return: run the handler when
 * the function returns (return-address trampoline). Several probes may share one address: the site is
 * patched once, handlers run in attach order. Returns 0 or -errno (-EINVAL cannot relocate the
 * instructions there, -EFAULT addr is not in executable memory, -ERANGE no memory within reach,
 * -EBUSY another thread blocks SIGTRAP and the site needs an int3, -ENOMEM, ...), with a human
 * message in errbuf (may be NULL). */
int bpftime_probe_attach(void *addr, int is_return, bpftime_probe_handler h, void *data,
			 struct bpftime_probe **out, char *errbuf, size_t errlen);

/* Remove one probe; when a site has none left, restore the original bytes. Safe while other threads
 * run. Returns 0 once no thread can still be running this probe's handler: its data may be freed.
 * Returns 1 when the probe is gone but a thread may still be inside its handler (detach called
 * from a handler, or a handler running for more than 2 s): keep data alive. -errno on misuse. */
int bpftime_probe_detach(struct bpftime_probe *p);

/* Sets the engine up (its fork handlers) now rather than at the first attach: a caller that
 * registers fork handlers of its own after this has its prepare handler run before the engine's
 * (which takes the engine's lock) and its child handler after the engine's. */
void bpftime_probe_engine_init(void);

/* Threads that must never trigger probes (the agent's own threads) call this once (excluded = 1);
 * excluded = 0 undoes it. */
void bpftime_probe_thread_exclude(int excluded);

/* In a user stack collected on the calling thread (innermost frame first), replaces each return
 * trampoline address by the real return address it stands for, as the kernel does for pending
 * uretprobes. */
void bpftime_probe_fixup_user_stack(uint64_t *ips, uint32_t nr);

/* Per-process counters, for tests and diagnostics. */
struct bpftime_probe_stats {
	unsigned long sites_patched;   /* sites currently holding our jmp or int3 */
	unsigned long ret_missed;      /* return probes skipped: shadow stack full or thread exiting */
	unsigned long direct_patches;  /* writes done with one atomic store */
	unsigned long staged_patches;  /* writes that parked the entry first (see patch.c) */
	unsigned long int3_patches;    /* staged writes that had to park with int3 */
	unsigned long int3_sites;      /* sites_patched that are int3 sites (a trap per hit) */
	unsigned long int3_hits;       /* hits that went through an int3 site's trap */
};
void bpftime_probe_get_stats(struct bpftime_probe_stats *st);

#ifdef __cplusplus
}
#endif
#endif
