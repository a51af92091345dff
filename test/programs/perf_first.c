// Loader for test/e2e/perf-first.test.ts, in the order of libbpf-tools' javagc: load, attach a
// uprobe on fire() in the victim, open the perf buffer (PERF_EVENT_ARRAY updates), then signal
// the victim at once, which calls fire() once. The very first event must arrive: once the map
// update has returned, every process that runs the program must find the buffer, as on a kernel.
//   perf_first OBJ VICTIM_BINARY PID   prints "got seq=N" or "missed", exits 0 / 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

static int seq = -1;

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx;
	(void)cpu;
	if (size >= sizeof(int) && seq < 0)
		memcpy(&seq, data, sizeof(int));
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	(void)ctx;
	printf("lost %llu on CPU %d\n", (unsigned long long)cnt, cpu);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: perf_first OBJ VICTIM_BINARY PID\n");
		return 2;
	}
	int pid = atoi(argv[3]);
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "perf_first: cannot load %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "on_fire");
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "fire");
	struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, pid, argv[2], 0, &uopts);
	if (!link) {
		fprintf(stderr, "perf_first: cannot attach to fire in %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	struct perf_buffer *pb = perf_buffer__new(bpf_object__find_map_fd_by_name(obj, "events"), 8, on_sample, on_lost, NULL, NULL);
	if (!pb) {
		fprintf(stderr, "perf_first: cannot open the perf buffer: %s\n", strerror(errno));
		return 2;
	}
	if (kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "perf_first: cannot signal %d: %s\n", pid, strerror(errno));
		return 2;
	}
	for (int i = 0; i < 20 && seq < 0; i++)
		perf_buffer__poll(pb, 100);
	if (seq >= 0)
		printf("got seq=%d\n", seq);
	else
		printf("missed\n");
	perf_buffer__free(pb);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return seq >= 0 ? 0 : 1;
}
