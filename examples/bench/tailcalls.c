/* The tail-call benchmark's driver (scripts/bench/tailcall.ts): loads tailcalls.bpf.o (libbpf
 * fills the prog array) and times one of its programs through BPF_PROG_TEST_RUN with `repeat`
 * runs per call, as the kernel reports it (duration: mean ns per run). The same binary runs on
 * the kernel and under bpftime's shim.
 *
 * usage: tailcalls NAME REPEAT CALLS   (NAME: leaf, entry or chain)
 *   -> one line per call: "result=<retval hex> ns_per_run=<duration>" */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "tailcalls.skel.h"

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tailcalls NAME REPEAT CALLS\n");
		return 2;
	}
	unsigned repeat = (unsigned)atol(argv[2]), calls = (unsigned)atol(argv[3]);
	libbpf_set_print(NULL);
	struct tailcalls_bpf *skel = tailcalls_bpf__open_and_load();
	if (!skel) {
		printf("error: load: %s\n", strerror(errno));
		return 1;
	}
	struct bpf_program *p = bpf_object__find_program_by_name(skel->obj, argv[1]);
	if (!p) {
		printf("error: no program %s\n", argv[1]);
		return 1;
	}
	static unsigned char pkt[64];
	for (unsigned c = 0; c < calls; c++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = repeat);
		if (bpf_prog_test_run_opts(bpf_program__fd(p), &o)) {
			printf("error: test run: %s\n", strerror(errno));
			return 1;
		}
		printf("result=%08x ns_per_run=%u\n", o.retval, o.duration);
	}
	tailcalls_bpf__destroy(skel);
	return 0;
}
