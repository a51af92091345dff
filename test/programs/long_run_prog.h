// The XDP program the long test-run tests run (test_run_long.c, test_run_concurrent.c): 1000
// loop iterations per run, so a test run with a huge repeat lasts until a signal ends it.
// Include after <bpf/bpf.h> and <linux/bpf.h>.
#ifndef LONG_RUN_PROG_H
#define LONG_RUN_PROG_H

/* Loads it as "long_run" (libbpf's bpf_prog_load); its fd, or -1 with errno set. */
static inline int load_long_run(void)
{
	struct bpf_insn insns[] = {
		/* r1 = 0; do r1 += 1; while (r1 < 1000); r0 = XDP_PASS; exit */
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 1, .imm = 1 },
		{ .code = BPF_JMP | BPF_JLT | BPF_K, .dst_reg = 1, .off = -2, .imm = 1000 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	return bpf_prog_load(BPF_PROG_TYPE_XDP, "long_run", "GPL", insns, sizeof(insns) / sizeof(insns[0]), NULL);
}
#endif
