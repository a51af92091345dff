// Loads test/programs/dead_code.bpf.o and prints each program's instructions as the loader gets
// them back (bpf_prog_info.xlated_prog_insns): on the kernel and under the shim the lines must be
// the same. Helper calls and map loads print without their immediates, which name kernel
// addresses and ids that differ between the two.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s OBJ\n", argv[0]);
		return 2;
	}
	libbpf_set_print(quiet);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load: failed\n");
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
			printf("%s: info failed\n", bpf_program__name(p));
			continue;
		}
		__u32 n = info.xlated_prog_len / sizeof(struct bpf_insn);
		struct bpf_insn *insns = calloc(n ? n : 1, sizeof(*insns));
		memset(&info, 0, sizeof(info));
		info.xlated_prog_len = n * sizeof(*insns);
		info.xlated_prog_insns = (__u64)(unsigned long)insns;
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len)) {
			printf("%s: info failed\n", bpf_program__name(p));
			continue;
		}
		printf("%s: %u insns, tag %02x%02x%02x%02x%02x%02x%02x%02x\n", bpf_program__name(p), n, info.tag[0], info.tag[1],
		       info.tag[2], info.tag[3], info.tag[4], info.tag[5], info.tag[6], info.tag[7]);
		for (__u32 i = 0; i < n; i++) {
			struct bpf_insn *in = &insns[i];
			int helper = in->code == (BPF_JMP | BPF_CALL) && in->src_reg == 0;
			int ldmap = in->code == (BPF_LD | BPF_IMM | BPF_DW) && in->src_reg != 0;
			printf("  %u: code %02x dst %u src %u off %d", i, in->code, in->dst_reg, in->src_reg, in->off);
			if (helper || ldmap)
				printf("\n");
			else
				printf(" imm %d\n", in->imm);
			if (ldmap) {
				i++; /* the second half names the map's value offset, kept */
				printf("  %u: imm %d\n", i, insns[i].imm);
			}
		}
		free(insns);
	}
	bpf_object__close(obj);
	return 0;
}
