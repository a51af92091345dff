/* What BPF_ENABLE_STATS costs a program run (scripts/bench/test_run.ts): the one run function
 * every hook and test run goes through (bpftime_prog_run, bpftime/prog_image.h), timed on a
 * two-instruction program in the interpreter with no statistics page at all, with the page and
 * stats off (what every run pays in a process whose programs came from the server), and with
 * stats on. Linked against the core library the agent and the addon link.
 *
 * usage: stats_cost RUNS  ->  "none=<ns> off=<ns> on=<ns>" (ns per run, best of 9 interleaved) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <linux/bpf.h>

#include "bpftime/helpers.h"
#include "bpftime/prog_image.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per run of `runs` runs (one timed loop). */
static double per_run(const struct bpftime_vm_prog *vm, struct bpftime_prog_stats *st, long runs)
{
	uint64_t sink = 0;
	double t0 = now();
	for (long k = 0; k < runs; k++)
		sink += bpftime_prog_run(vm, NULL, st, (uint64_t)k);
	double dt = (now() - t0) / runs;
	if (sink == 1)
		puts("");
	return dt;
}

static double min(double a, double b) { return a < b ? a : b; }

int main(int argc, char **argv)
{
	long runs = argc > 1 ? atol(argv[1]) : 10000000;
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 0, .src_reg = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpftime_vm_prog vm = { insns, 2, bpftime_helper_table, bpftime_helper_table_len, 0 };
	static struct bpftime_prog_stats st;
	/* Interleaved, best of 9: the machine's other load reaches all three alike. */
	double none = 1e18, off = 1e18, on = 1e18;
	for (int rep = 0; rep < 9; rep++) {
		none = min(none, per_run(&vm, NULL, runs));
		st.enabled = 0;
		off = min(off, per_run(&vm, &st, runs));
		st.enabled = 1;
		on = min(on, per_run(&vm, &st, runs / 10));
	}
	printf("none=%.2f off=%.2f on=%.2f\n", none, off, on);
	return 0;
}
