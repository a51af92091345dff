// Which program types may call which helpers: tiny programs loaded with raw bpf() calls, each
// printing the load's errno and the verifier's verdict line. The kernel and bpftime must print
// the same (test/e2e/helper-refusals.test.ts). With "--bpftime" it also checks what only bpftime
// offers: bpf_override_return at a uprobe (the kernel refuses it there), and its refusal on a
// uretprobe (EINVAL, as the kernel refuses any probe that is not a function entry).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static char logbuf[65536];

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

/* r1 = r1 (ctx), call helper, r0 = 0, exit */
static int load(int type, int helper, uint32_t flags)
{
	struct bpf_insn insns[] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 2, .imm = 0},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = 0},
		{.code = BPF_JMP | BPF_CALL, .imm = helper},
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
		{.code = BPF_JMP | BPF_EXIT},
	};
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uintptr_t) "GPL";
	a.log_buf = (uintptr_t)logbuf;
	a.log_size = sizeof(logbuf);
	a.log_level = 1;
	a.prog_flags = flags;
	logbuf[0] = 0;
	return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
}

/* The verifier's verdict: the last line of the log before its statistics ("processed ..."). */
static const char *verdict(void)
{
	static char line[256];
	char *end = strstr(logbuf, "processed ");
	if (!end)
		end = logbuf + strlen(logbuf);
	while (end > logbuf && end[-1] == '\n')
		end--;
	char *start = end;
	while (start > logbuf && start[-1] != '\n')
		start--;
	if (start == end)
		return "";
	snprintf(line, sizeof(line), " (%.*s)", (int)(end - start < 200 ? end - start : 200), start);
	return line;
}

static void try(const char *name, int type, int helper, uint32_t flags)
{
	int fd = load(type, helper, flags);
	int e = errno;
	if (fd >= 0) {
		printf("%s: loaded\n", name);
		close(fd);
	} else {
		printf("%s: %s%s\n", name, ename(e), verdict());
	}
}

__attribute__((noinline)) int probed(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

static int uprobe_type(void)
{
	FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");
	int t = -1;
	if (f) {
		if (fscanf(f, "%d", &t) != 1)
			t = -1;
		fclose(f);
	}
	return t;
}

/* File offset of `probed` in this executable, from /proc/self/maps. */
static uint64_t probed_offset(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	uint64_t want = (uintptr_t)probed, off = 0;
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e, pg;
		if (sscanf(line, "%lx-%lx %*s %lx", &s, &e, &pg) == 3 && want >= s && want < e) {
			off = want - s + pg;
			break;
		}
	}
	if (f)
		fclose(f);
	return off;
}

static void attach_override(int is_return)
{
	int prog = load(BPF_PROG_TYPE_KPROBE, BPF_FUNC_override_return, 0);
	if (prog < 0) {
		printf("override_return load: %s\n", ename(errno));
		return;
	}
	struct perf_event_attr pa;
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = uprobe_type();
	pa.config = is_return ? 1 : 0; /* the retprobe bit (config:0 in the uprobe PMU's format) */
	pa.config1 = (uintptr_t) "/proc/self/exe";
	pa.config2 = probed_offset();
	int pfd = (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		printf("override_return %s perf_event_open: %s\n", is_return ? "uretprobe" : "uprobe", ename(errno));
		close(prog);
		return;
	}
	int rc = ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog);
	printf("override_return on a %s: %s\n", is_return ? "uretprobe" : "uprobe", rc < 0 ? ename(errno) : "attached");
	if (rc == 0) {
		ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
		/* The program sets no value (r2 = 0): the probed function returns 0 instead of x + 1. */
		printf("probed(41) returns %d\n", probed(41));
	}
	close(pfd);
	close(prog);
}

int main(int argc, char **argv)
{
	try("kprobe get_func_arg", BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_func_arg, 0);
	try("kprobe get_func_ret", BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_func_ret, 0);
	try("kprobe get_func_arg_cnt", BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_func_arg_cnt, 0);
	try("kprobe copy_from_user", BPF_PROG_TYPE_KPROBE, BPF_FUNC_copy_from_user, 0);
	try("tracepoint override_return", BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_override_return, 0);
	try("perf_event override_return", BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_override_return, 0);
	try("kprobe get_numa_node_id", BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_numa_node_id, 0);
	try("kprobe jiffies64", BPF_PROG_TYPE_KPROBE, BPF_FUNC_jiffies64, 0);
	if (argc > 1 && strcmp(argv[1], "--bpftime") == 0) {
		attach_override(1);
		attach_override(0);
	}
	return 0;
}
