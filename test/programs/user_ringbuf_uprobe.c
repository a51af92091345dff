/* Loader for test/e2e/user-ringbuf-uprobe.test.ts: loads user_ringbuf_uprobe.bpf.o (argv[1]),
 * attaches on_tick to tick() in the victim (argv[2]), submits 100 records (v = 1..100, every
 * tenth discarded) with libbpf's user_ring_buffer API, prints "ready", and on each line read
 * from stdin prints the results map. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load: %s\n", strerror(errno));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "on_tick");
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = "tick");
	struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, -1, argv[2], 0, &o);
	if (!link) {
		printf("attach: %s\n", strerror(errno));
		return 1;
	}
	int results = bpf_map__fd(bpf_object__find_map_by_name(obj, "results"));
	struct user_ring_buffer *rb = user_ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "urb")), NULL);
	if (!rb) {
		printf("user_ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	for (__u64 i = 1; i <= 100; i++) {
		__u64 *p = user_ring_buffer__reserve(rb, sizeof(*p));
		if (!p) {
			printf("reserve %llu: %s\n", (unsigned long long)i, strerror(errno));
			return 1;
		}
		*p = i;
		if (i % 10 == 0)
			user_ring_buffer__discard(rb, p);
		else
			user_ring_buffer__submit(rb, p);
	}
	printf("ready\n");
	fflush(stdout);
	char line[32];
	while (fgets(line, sizeof(line), stdin)) {
		__u64 v[5];
		for (__u32 k = 0; k < 5; k++)
			if (bpf_map_lookup_elem(results, &k, &v[k]))
				v[k] = (__u64)-errno;
		printf("sum=%llu count=%llu calls=%llu first=%lld last=%lld\n", (unsigned long long)v[0],
		       (unsigned long long)v[1], (unsigned long long)v[2], (long long)v[3], (long long)v[4]);
		fflush(stdout);
	}
	user_ring_buffer__free(rb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
