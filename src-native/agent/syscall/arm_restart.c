/* Arming a thread that sleeps in a syscall must not wake it early. The arming signal (SIGSYS with
 * the marker) interrupts whatever the thread is blocked in: syscalls the kernel restarts under
 * SA_RESTART come back by themselves, but nanosleep, clock_nanosleep, poll, select, epoll_wait,
 * pause, sigsuspend and their kind return EINTR once a handler ran. A kernel's tracing never does
 * that to a program (`sleep 3` under a tool attached mid-sleep still sleeps 3 s). So before the
 * signal goes, the arming thread notes what the target is blocked in (/proc/self/task/TID/syscall:
 * number, arguments, stack pointer, resume address), and the handler, when it finds that very call
 * came back with EINTR, makes it run again on return: rax = the number, into the engine's entry
 * with the resume address, as a trapped call goes (so it is seen like any other). A relative
 * sleep goes on for what was left of it (the kernel wrote that to its rem argument); other timeouts
 * start again, which the kernel's own restarts of poll or select do not (they go on with what is
 * left): a loop of short timeouts is not changed by it. */
#include "syshook_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

int syshook_blocked_read(int tid, struct syshook_blocked *b)
{
	b->valid = 0;
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	long fd = raw3(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long n = raw3(SYS_read, fd, buf, sizeof(buf) - 1);
	raw1(SYS_close, fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* "nr a1 .. a6 sp pc" in a syscall; "-1 sp pc" or "running" otherwise */
	char *p = buf, *end;
	long nr = strtol(p, &end, 10);
	if (end == p || nr < 0)
		return 0;
	p = end;
	uint64_t v[8];
	for (int i = 0; i < 8; i++) {
		v[i] = strtoull(p, &end, 16);
		if (end == p)
			return 0;
		p = end;
	}
	b->nr = nr;
	for (int i = 0; i < 6; i++)
		b->args[i] = v[i];
	b->sp = v[6];
	b->pc = v[7];
	__atomic_store_n(&b->valid, 1, __ATOMIC_RELEASE);
	return 1;
}

void syshook_restart_if_interrupted(void *ucv, const struct syshook_blocked *b, int armed)
{
	greg_t *g = ((ucontext_t *)ucv)->uc_mcontext.gregs;
	if (!__atomic_load_n(&b->valid, __ATOMIC_ACQUIRE) || g[REG_RAX] != -EINTR)
		return;
	/* The very call noted: same resume address, stack and arguments (the thread may have left it
	 * and made another since). */
	const greg_t args[6] = { g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9] };
	if ((uint64_t)g[REG_RIP] != b->pc || (uint64_t)g[REG_RSP] != b->sp)
		return;
	for (int i = 0; i < 6; i++)
		if ((uint64_t)args[i] != b->args[i])
			return;
	const uint8_t *insn = (const uint8_t *)(uintptr_t)(b->pc - 2);
	if (insn[0] != 0x0f || insn[1] != 0x05)
		return;
	/* What was left of a relative sleep: the kernel wrote it to rem. */
	if (b->nr == SYS_nanosleep && args[1])
		g[REG_RDI] = args[1];
	else if (b->nr == SYS_clock_nanosleep && !(args[1] & TIMER_ABSTIME) && args[3])
		g[REG_RDX] = args[3];
	g[REG_RAX] = (greg_t)b->nr;
	if (armed) {
		/* Through the engine, as a trapped call goes (sigsys_handler): the site itself may be
		 * rewritten by another thread before this one is back on it. */
		g[REG_RCX] = (greg_t)b->pc;
		g[REG_RIP] = (greg_t)syshook_sud_entry;
	} else {
		g[REG_RIP] = (greg_t)(b->pc - 2);
	}
}
