// bpf_send_signal / bpf_send_signal_thread from a uprobe, raw bpf() and perf_event_open() calls:
// test/e2e/signal-differential.test.ts runs it on the kernel and under the shim and requires the
// same lines: return values (0, -EINVAL past signal 64, the u32 argument), the siginfo the
// handler sees (SI_KERNEL, no sender pid/uid), which thread takes it, that the program runs to
// its end first and that the signal arrives before the probed function's body runs, and a
// blocked signal staying pending until unblocked.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_calls_util.h"

static int map_create(int type, int ksz, int vsz, int max, int flags) { return create_map(type, ksz, vsz, max, flags, 0); }

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

struct ctl {
	uint64_t sig;
	uint64_t thread; /* 0: bpf_send_signal, 1: bpf_send_signal_thread */
	int64_t ret;
	uint64_t finished;
};

static int load_prog(int ctl_fd)
{
	struct bpf_insn p[] = {
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
		INSN(BPF_ST | BPF_MEM | BPF_W, 10, 0, -4, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),
		INSN(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4),
		INSN(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, ctl_fd), INSN(0, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 10, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 0, 0),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 1, 7, 0, 0),
		INSN(BPF_LDX | BPF_MEM | BPF_DW, 2, 7, 8, 0),
		INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 2, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_send_signal),
		INSN(BPF_JMP | BPF_JA, 0, 0, 1, 0),
		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_send_signal_thread),
		INSN(BPF_STX | BPF_MEM | BPF_DW, 7, 0, 16, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 1, 0, 0, 1),
		INSN(BPF_STX | BPF_MEM | BPF_DW, 7, 1, 24, 0),
		INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
		INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	return load_kprobe_insns(p, sizeof(p) / sizeof(p[0]));
}

/* What the handler saw. */
static volatile int got_sig, got_code, got_pid, got_uid, got_errno, got_in_body_before;
static volatile pid_t got_tid;
static volatile int in_body;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_pid = si->si_pid;
	got_uid = (int)si->si_uid;
	got_errno = si->si_errno;
	got_tid = (pid_t)syscall(SYS_gettid);
	got_in_body_before = in_body;
}

__attribute__((noinline)) int poke(int x)
{
	in_body = 1;
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

static int ctl_fd;

static void run(const char *name, uint64_t sig, int thread)
{
	uint32_t k = 0;
	struct ctl c = {.sig = sig, .thread = (uint64_t)thread, .ret = 999};
	elem(BPF_MAP_UPDATE_ELEM, ctl_fd, &k, &c, 0);
	got_sig = 0;
	got_tid = 0;
	in_body = 0;
	poke(1);
	elem(BPF_MAP_LOOKUP_ELEM, ctl_fd, &k, &c, 0);
	printf("%s: ret %s, program finished %llu, ", name, c.ret < 0 ? ename((int)-c.ret) : c.ret == 0 ? "0" : "?",
	       (unsigned long long)c.finished);
	if (!got_sig) {
		printf("no signal\n");
		return;
	}
	printf("signal %d code %d pid %d uid %d errno %d, %s thread, before the body: %s\n", got_sig, got_code, got_pid,
	       got_uid, got_errno, got_tid == (pid_t)syscall(SYS_gettid) ? "this" : "another",
	       got_in_body_before ? "no" : "yes");
}

static void *thread_main(void *arg)
{
	(void)arg;
	run("thread: send_signal_thread(SIGUSR2)", SIGUSR2, 1);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	ctl_fd = (int)report("ctl create", map_create(BPF_MAP_TYPE_ARRAY, 4, sizeof(struct ctl), 1, 0), 0);
	int prog = load_prog(ctl_fd);
	report("prog load", prog, 0);
	if (prog < 0 || report("attach uprobe on poke", attach_self_uprobe(prog, (void *)poke), 0) < 0)
		return 1;
	run("send_signal(SIGUSR1)", SIGUSR1, 0);
	run("send_signal_thread(SIGUSR1)", SIGUSR1, 1);
	run("send_signal(0)", 0, 0);
	run("send_signal(65)", 65, 0);
	run("send_signal_thread(65)", 65, 1);
	run("send_signal(1 << 32 | SIGUSR2)", (1ull << 32) | SIGUSR2, 0);
	pthread_t t;
	pthread_create(&t, NULL, thread_main, NULL);
	pthread_join(t, NULL);
	/* blocked: queued, taken once unblocked */
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	run("send_signal(SIGUSR1) blocked", SIGUSR1, 0);
	sigset_t pending;
	sigpending(&pending);
	printf("pending while blocked: %s\n", sigismember(&pending, SIGUSR1) ? "yes" : "no");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	printf("after unblock: signal %d code %d\n", got_sig, got_code);
	return 0;
}
