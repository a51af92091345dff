// Loads spin_lock_uprobe.bpf.o, attaches it to bump() in the victim (argv[1]), prints "ready",
// and on each line read from stdin prints the counters, read with BPF_F_LOCK.
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "spin_lock_uprobe.skel.h"

struct locked_val {
	__u64 a;
	__u32 lock, pad;
	__u64 b;
};

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	struct spin_lock_uprobe_bpf *skel = spin_lock_uprobe_bpf__open_and_load();
	if (!skel) {
		printf("load: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = "bump");
	skel->links.on_bump = bpf_program__attach_uprobe_opts(skel->progs.on_bump, -1, argv[1], 0, &o);
	if (!skel->links.on_bump) {
		printf("attach: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	char line[32];
	__u32 k = 0;
	while (fgets(line, sizeof(line), stdin)) {
		struct locked_val v;
		if (bpf_map_lookup_elem_flags(bpf_map__fd(skel->maps.counters), &k, &v, BPF_F_LOCK))
			printf("lookup: %s\n", strerror(errno));
		else
			printf("a=%llu b=%llu lock=%u\n", (unsigned long long)v.a, (unsigned long long)v.b, v.lock);
		fflush(stdout);
	}
	spin_lock_uprobe_bpf__destroy(skel);
	return 0;
}
