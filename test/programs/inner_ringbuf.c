/* Consumer of inner_ringbuf.bpf.c: loads it, attaches the probe at tc_target of VICTIM, finds
 * the inner rings by their ids (outer map lookups, then BPF_MAP_GET_FD_BY_ID, as a tool that did
 * not create them), puts all three in one ring_buffer manager and sleeps in ring_buffer__poll
 * while the victim (started a moment later, through LAUNCHER when given) makes its calls. The
 * records must wake the poll: one that sleeps through its whole timeout says so.
 *
 * usage: inner_ringbuf OBJ VICTIM [LAUNCHER ARGS...] */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct event {
	unsigned ring;
	int op, n;
};

static char lines[64][96];
static int nlines;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	if (nlines < 64)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s: ring=%u op=%d n=%d size=%zu", (const char *)ctx, e->ring,
			 e->op, e->n, size);
	return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static int inner_fd(int outer, unsigned key, const char *what)
{
	unsigned id = 0;
	if (bpf_map_lookup_elem(outer, &key, &id)) {
		printf("%s lookup: %s\n", what, strerror(errno));
		return -1;
	}
	int fd = bpf_map_get_fd_by_id(id);
	struct bpf_map_info info = { 0 };
	unsigned len = sizeof(info);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		printf("%s by id: %s\n", what, strerror(errno));
		return -1;
	}
	printf("%s: type %u max_entries %u\n", what, info.type, info.max_entries);
	return fd;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "tc_target");
	if (!bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, "probe"), -1, argv[2], 0, &uo)) {
		printf("attach failed: %s\n", strerror(errno));
		return 1;
	}
	int arr = bpf_object__find_map_fd_by_name(obj, "outer_arr");
	int hash = bpf_object__find_map_fd_by_name(obj, "outer_hash");
	int a = inner_fd(arr, 0, "outer_arr[0]"), b = inner_fd(arr, 1, "outer_arr[1]"), h = inner_fd(hash, 3, "outer_hash[3]");
	if (a < 0 || b < 0 || h < 0)
		return 1;
	struct ring_buffer *rb = ring_buffer__new(a, on_event, "a", NULL);
	if (!rb || ring_buffer__add(rb, b, on_event, "b") || ring_buffer__add(rb, h, on_event, "h")) {
		printf("ring_buffer: %s\n", strerror(errno));
		return 1;
	}
	printf("consumer ready\n");
	pid_t pid = fork();
	if (pid == 0) {
		char *av[64];
		int n = 0;
		for (int i = 3; i < argc && n < 56; i++)
			av[n++] = argv[i];
		av[n++] = argv[2];
		av[n++] = "0:1";
		av[n++] = "1:2";
		av[n++] = "3:4";
		av[n++] = "2:5";
		av[n] = NULL;
		unsetenv("LD_PRELOAD");
		usleep(200000); /* the parent is asleep in epoll by now */
		int devnull = open("/dev/null", 1);
		dup2(devnull, 1);
		execvp(av[0], av);
		_exit(127);
	}
	/* 4 calls: 4 records from the array's rings, 1 from the hash's (key 3). Each poll must be
	 * woken by a record, never sleep out its 20 s timeout (the victim is done in well under a
	 * second, even when started through a launcher). */
	int woken = 0, timeouts = 0;
	while (nlines < 5 && timeouts == 0) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = ring_buffer__poll(rb, 20000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (r < 0) {
			printf("poll: %s\n", strerror(-r));
			break;
		}
		if (r == 0 || t1.tv_sec - t0.tv_sec >= 19)
			timeouts++;
		else
			woken++;
	}
	int st;
	waitpid(pid, &st, 0);
	ring_buffer__consume(rb); /* whatever a missing wakeup left behind */
	qsort(lines, nlines, sizeof(lines[0]), cmp);
	for (int i = 0; i < nlines; i++)
		printf("%s\n", lines[i]);
	printf("records: %d, poll timed out: %s, woken: %s\n", nlines, timeouts ? "yes" : "no", woken ? "yes" : "no");
	ring_buffer__free(rb);
	return 0;
}
