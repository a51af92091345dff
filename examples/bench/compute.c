/* The test-run benchmark's driver (scripts/bench/test_run.ts): loads compute.bpf.o, fills its
 * buffer map (compute_fill.h), and times one program through BPF_PROG_TEST_RUN with `repeat`
 * runs per call, as the kernel reports it (duration: mean ns per run). The same binary runs on
 * the kernel and under bpftime's shim.
 *
 * usage: compute NAME REPEAT CALLS [--stats] [--dump FILE]
 *   -> one line per call: "result=<retval hex> ns_per_run=<duration>", then "jited=<bytes>
 *      xlated=<bytes>"; --stats runs with BPF_ENABLE_STATS on; --dump writes the program's
 *      xlated instructions to FILE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include "compute_kernels.h"
#include "compute_fill.h"
#include "compute.skel.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: compute NAME REPEAT CALLS [--stats] [--dump FILE]\n");
		return 2;
	}
	char prog_name[64];
	snprintf(prog_name, sizeof(prog_name), "bench_%s", argv[1]);
	unsigned repeat = (unsigned)atol(argv[2]), calls = (unsigned)atol(argv[3]);
	const char *dump = NULL;
	int stats = 0;
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--stats"))
			stats = 1;
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
			dump = argv[++i];
	}
	libbpf_set_print(NULL);
	struct compute_bpf *skel = compute_bpf__open_and_load();
	if (!skel) {
		printf("error: load: %s\n", strerror(errno));
		return 1;
	}
	static u8 page[BUF_SIZE];
	compute_fill(page);
	u32 zero = 0;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.buf), &zero, page, 0)) {
		printf("error: map update: %s\n", strerror(errno));
		return 1;
	}
	struct bpf_program *p = bpf_object__find_program_by_name(skel->obj, prog_name);
	if (!p) {
		printf("error: no program %s\n", prog_name);
		return 1;
	}
	int fd = bpf_program__fd(p);
	if (stats && bpf_enable_stats(BPF_STATS_RUN_TIME) < 0) {
		printf("error: enable stats: %s\n", strerror(errno));
		return 1;
	}
	static unsigned char pkt[64];
	for (unsigned c = 0; c < calls; c++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = repeat);
		if (bpf_prog_test_run_opts(fd, &o)) {
			printf("error: test run: %s\n", strerror(errno));
			return 1;
		}
		printf("result=%08x ns_per_run=%u\n", o.retval, o.duration);
	}
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	bpf_obj_get_info_by_fd(fd, &info, &len);
	printf("jited=%u xlated=%u\n", info.jited_prog_len, info.xlated_prog_len);
	if (dump && info.xlated_prog_len) {
		__u32 n = info.xlated_prog_len;
		void *insns = calloc(1, n);
		struct bpf_prog_info again = { .xlated_prog_len = n, .xlated_prog_insns = (__u64)(unsigned long)insns };
		len = sizeof(again);
		FILE *f = fopen(dump, "wb");
		if (insns && f && !bpf_obj_get_info_by_fd(fd, &again, &len))
			fwrite(insns, 1, n, f);
		if (f)
			fclose(f);
	}
	compute_bpf__destroy(skel);
	return 0;
}
