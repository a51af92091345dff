/* Writing a site's 5 bytes (or its int3) while other threads may be executing them, and the SIGTRAP
 * handler that int3 sites and int3 parking rely on.
 *
 * Two hazards:
 *  (a) a thread fetching the bytes while they change must see all old or all new bytes;
 *  (b) a thread that already executed the first of several overwritten instructions (a hot
 *      function on another core, or one descheduled there) would resume in the middle of the jmp.
 *      malloc's `push %r12; push %rbp; push %rbx; mov %rdi,%rbx` is such a site.
 *
 * Strategy:
 *  1. The bytes to replace are one instruction (the jmp itself when restoring, or a first
 *     instruction of >= 5 bytes) and lie in one cache line: one locked 8-byte cmpxchg over a window
 *     within that line. x86 makes locked (and even plain) accesses within a cache line atomic, so
 *     every fetch sees old or new bytes. No other thread is disturbed at all.
 *  2. Otherwise, park the entry first: write `jmp .` (eb fe, 2 bytes in one line, atomic) over the
 *     first instruction. Threads arriving now spin there. Then, for multi-instruction ranges, wait
 *     until no thread can still be inside the range (quiesce.c: /proc tells whether each thread has
 *     run since, or where it is blocked). Then write bytes 2..4 (nobody executes them), and finally
 *     the first two bytes: the spinners fall into the new jmp.
 *  3. If the first instruction is a single byte (reloc.c already moves the patch point past
 *     1-byte pushes and nops, so this is rare), or the first byte is the last of a cache line,
 *     `jmp .` cannot replace it atomically: then int3 takes its place, and a SIGTRAP handler (installed once, chaining to the
 *     application's handler for every trap that is not ours, kept installed because a trap can be
 *     pending in another thread when we finish) sends trapping threads to the stub or, while
 *     restoring, to the relocated original instructions. The kernel kills a thread that traps with
 *     SIGTRAP blocked, so this path refuses when any thread keeps SIGTRAP blocked.
 *  4. An int3 site (attach.c: no jmp fits there) writes one byte, its int3, over the first byte of
 *     the first instruction, and restores that byte on detach: one atomic store each way, so no
 *     thread can be mid-way and nothing needs parking. The int3 stays while the site is armed and
 *     every hit takes the trap path of 3., to the stub (or, after a detach, to the relocated
 *     instruction). Same SIGTRAP-blocked refusal, for the same reason; the check sees the other
 *     threads at attach time only (see README.md for what can still go wrong).
 * After each write, membarrier(PRIVATE_EXPEDITED_SYNC_CORE) makes every thread execute a
 * serializing instruction, as the SDM asks for cross-modifying code.
 *
 * The page stays executable while it is writable (r-x -> rwx -> r-x): other threads may be running
 * on that very page. The window lasts microseconds (milliseconds when waiting for a busy thread);
 * the original protection is restored afterwards.
 *
 * Between the first and the last write, the patching thread blocks its signals and uses raw system
 * calls only: calling anything that is being patched would spin on its own patch.
 *
 * Limits: a thread stopped (SIGSTOP, ptrace) inside the range, or interrupted there by a signal
 * whose handler is still running, cannot be seen and would resume mid-jmp; a thread spinning at
 * the entry waits for the patch (milliseconds at worst; a SCHED_FIFO spinner on the patching
 * thread's only CPU would starve it); a thread that never runs within the timeout makes attaching
 * fail with -EAGAIN and the site is left untouched. */
#include "attach_internal.h"
#include "rawsys.h"
#include "../text_lock.h"
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define PAGE 4096UL
#define LINE 64UL
#define QUIESCE_TIMEOUT_NS 2000000000L

/* ---- membarrier ---- */
int attach_membarrier(int sync_core)
{
	int cmd = sync_core ? MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE : MEMBARRIER_CMD_PRIVATE_EXPEDITED;
	int reg = sync_core ? MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
			    : MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
	long rc = raw_membarrier(cmd);
	/* -EPERM: not registered yet (first use, or after exec). Registration is idempotent. */
	if (rc == -EPERM && raw_membarrier(reg) == 0)
		rc = raw_membarrier(cmd);
	return (int)rc;
}

void attach_sync_cores(void)
{
	/* Without membarrier (very old kernels) x86 still snoops stores into code being fetched;
	 * the serialization is what the manual asks for on top of it. */
	if (attach_membarrier(1) < 0)
		__sync_synchronize();
}

/* ---- SIGTRAP redirection for the int3 variant ---- */
static struct sigaction old_trap;

/* A trap on one of our int3s: rip is just past it. Send the thread to the stub when the site is
 * armed (it continues exactly as if it had taken the jmp: same registers, same stack), or else to
 * the relocated original instructions (the site was disarmed after the thread trapped). */
static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	struct site *idle = NULL;
	/* si_code <= 0: sent by kill/tgkill/sigqueue, not an int3 (which the kernel reports as
	 * SI_KERNEL); a thread that merely stopped right after a 1-byte instruction is not ours. */
	for (struct site *s = si->si_code > 0 ? attach_sites : NULL; s; s = s->next) {
		if (!s->trap_redirect || s->dead || s->patch_addr != rip - 1)
			continue;
		if (s->armed) {
			if (s->trap)
				__atomic_fetch_add(&attach_stats.int3_hits, 1, __ATOMIC_RELAXED);
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)s->stub;
			return;
		}
		if (!idle)
			idle = s; /* an older, disarmed site at the same place: only if none is armed */
	}
	if (idle) {
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)idle->reloc;
		return;
	}
	/* Not ours: behave as if we were never installed. */
	if (old_trap.sa_flags & SA_SIGINFO) {
		if (old_trap.sa_sigaction)
			old_trap.sa_sigaction(sig, si, ucv);
	} else if (old_trap.sa_handler == SIG_IGN) {
		return;
	} else if (old_trap.sa_handler == SIG_DFL) {
		/* Pending until we return, then the default action (core dump) as without us. */
		signal(SIGTRAP, SIG_DFL);
		raise(SIGTRAP);
	} else {
		old_trap.sa_handler(sig);
	}
}

static int trap_install(void)
{
	struct sigaction cur;
	if (sigaction(SIGTRAP, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == trap_handler)
		return 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	/* SA_NODEFER: a thread inside this handler must not look like one that blocks SIGTRAP. */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	old_trap = cur;
	if (sigaction(SIGTRAP, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* ---- stores ---- */
static int same_line(uintptr_t a, size_t n) { return (a & ~(LINE - 1)) == ((a + n - 1) & ~(LINE - 1)); }

/* Atomically replace n <= 8 bytes at at, which lie in one cache line: lock cmpxchg on an 8-byte
 * window inside that line (never a split lock). */
static void store_in_line(uintptr_t at, const uint8_t *bytes, size_t n)
{
	uintptr_t line_end = (at & ~(LINE - 1)) + LINE;
	uintptr_t w = at + 8 <= line_end ? at : line_end - 8;
	uint64_t old, new;
	__builtin_memcpy(&old, (const void *)w, 8);
	do {
		new = old;
		for (size_t i = 0; i < n; i++)
			((uint8_t *)&new)[at - w + i] = bytes[i];
	} while (!__atomic_compare_exchange_n((uint64_t *)w, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

static void store_bytes(uintptr_t at, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		__atomic_store_n((uint8_t *)at + i, bytes[i], __ATOMIC_RELAXED);
}

/* Change the protection of the pages holding [at, at + n). */
static int set_prot(uintptr_t at, unsigned n, const int *prot, int add_write)
{
	uintptr_t p0 = at & ~(PAGE - 1), p1 = (at + n - 1) & ~(PAGE - 1);
	for (int i = 0; i < (p1 != p0 ? 2 : 1); i++) {
		long rc = raw_mprotect((void *)(i ? p1 : p0), PAGE, prot[i] | (add_write ? PROT_WRITE : 0));
		if (rc < 0)
			return (int)rc;
	}
	return 0;
}

/* The staged write: park the entry, optionally wait for threads inside, then finish.
 * Runs with the pages writable and the caller's signals blocked. */
static int staged_write(struct site *s, const uint8_t *bytes, const uint8_t *expect, int use_int3,
			int quiesce, long *stuck_tid)
{
	uintptr_t at = s->patch_addr;
	static const uint8_t spin[2] = {0xeb, 0xfe}; /* jmp . */
	if (use_int3) {
		s->trap_redirect = 1;
		__atomic_store_n((uint8_t *)at, 0xcc, __ATOMIC_SEQ_CST);
		attach_stats.int3_patches++;
	} else {
		store_in_line(at, spin, 2);
	}
	attach_sync_cores();
	if (quiesce) {
		int rc = attach_quiesce_range(at, at + JMP_LEN, QUIESCE_TIMEOUT_NS, stuck_tid);
		if (rc) {
			/* Nobody got past the parked entry: put the original first bytes back. */
			if (use_int3)
				__atomic_store_n((uint8_t *)at, expect[0], __ATOMIC_SEQ_CST);
			else
				store_in_line(at, expect, 2);
			attach_sync_cores();
			return rc;
		}
	}
	unsigned head = use_int3 ? 1 : 2;
	store_bytes(at + head, bytes + head, JMP_LEN - head);
	attach_sync_cores();
	if (use_int3)
		__atomic_store_n((uint8_t *)at, bytes[0], __ATOMIC_SEQ_CST);
	else
		store_in_line(at, bytes, 2);
	attach_sync_cores();
	attach_stats.staged_patches++;
	return 0;
}

static int patch_write_locked(struct site *s, const uint8_t *bytes, const uint8_t *expect, unsigned n,
			      unsigned first_len, char *err, size_t errlen)
{
	int multi_insn = first_len < n;
	uintptr_t at = s->patch_addr;
	uintptr_t p0 = at & ~(PAGE - 1), p1 = (at + n - 1) & ~(PAGE - 1);
	struct map_region r[2];
	int prot[2];
	if (memcmp((const void *)at, expect, n) != 0)
		return attach_err(err, errlen, -EBUSY, "the code at %#lx changed under the probe",
				  (unsigned long)at);
	for (int i = 0; i < (p1 != p0 ? 2 : 1); i++) {
		if (attach_maps_find(i ? p1 : p0, &r[i]) < 0 || !(r[i].prot & PROT_EXEC))
			return attach_err(err, errlen, -EFAULT, "%#lx is not in executable memory",
					  (unsigned long)(i ? p1 : p0));
		if (r[i].shared)
			return attach_err(err, errlen, -EPERM, "%#lx is in a shared mapping", (unsigned long)at);
		prot[i] = r[i].prot;
	}
	int direct = !multi_insn && same_line(at, n);
	/* `jmp .` replaces the first two bytes: they must be one instruction, in one cache line. */
	int use_int3 = !direct && (first_len < 2 || !same_line(at, 2));
	int int3_site = n == 1 && bytes[0] == INT3; /* arming an int3 site */
	if (use_int3 || int3_site) {
		/* A thread starting up runs with every signal blocked for a moment (glibc's
		 * pthread_create): only a thread that keeps SIGTRAP blocked makes us refuse. */
		long tid = 0;
		for (int tries = 0; tries < 50 && (tid = attach_thread_blocking_sigtrap()) != 0; tries++)
			raw_sleep_ns(1000000);
		if (tid && int3_site)
			return attach_err(err, errlen, -EBUSY,
					  "probing %#lx needs an int3 (no jmp fits there), but thread %ld blocks "
					  "SIGTRAP and would be killed by a hit",
					  (unsigned long)at, tid);
		if (tid)
			return attach_err(err, errlen, -EBUSY,
					  "patching %#lx needs int3 (1-byte instruction or end of a cache line), "
					  "but thread %ld blocks SIGTRAP and would be killed",
					  (unsigned long)at, tid);
		int rc = trap_install();
		if (rc)
			return attach_err(err, errlen, rc, "cannot install the SIGTRAP handler");
	}

	uint64_t all = ~0ULL, saved_mask;
	raw_sigprocmask(SIG_BLOCK, &all, &saved_mask);
	int rc = set_prot(at, n, prot, 1);
	long stuck = 0;
	if (rc == 0) {
		if (direct) {
			if (int3_site)
				s->trap_redirect = 1; /* before the int3 can be fetched */
			store_in_line(at, bytes, n);
			attach_sync_cores();
			attach_stats.direct_patches++;
		} else {
			rc = staged_write(s, bytes, expect, use_int3, multi_insn, &stuck);
		}
	}
	int prc = set_prot(at, n, prot, 0);
	raw_sigprocmask(SIG_SETMASK, &saved_mask, NULL);
	if (rc == -EAGAIN)
		return attach_err(err, errlen, -EAGAIN,
				  "thread %ld did not run for %ld ms and may be inside the instructions at %#lx: "
				  "not patched, try again",
				  stuck, QUIESCE_TIMEOUT_NS / 1000000, (unsigned long)at);
	if (rc)
		return attach_err(err, errlen, rc, "cannot patch %#lx: %s", (unsigned long)at, strerror(-rc));
	if (prc)
		return attach_err(err, errlen, 0, "warning: could not restore the protection at %#lx",
				  (unsigned long)p0);
	return 0;
}

/* Under the text lock shared with the syscall engine (../text_lock.h): from the check of the bytes
 * to the restored protection, nobody else writes code. */
int attach_patch_write(struct site *s, const uint8_t *bytes, const uint8_t *expect, unsigned n, unsigned first_len,
		       char *err, size_t errlen)
{
	text_lock_acquire();
	int rc = patch_write_locked(s, bytes, expect, n, first_len, err, errlen);
	text_lock_release();
	return rc;
}
