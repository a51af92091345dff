// Runs test_run_printk.bpf.o's SYSCALL program three times through BPF_PROG_TEST_RUN and prints
// the retvals and the matching trace_pipe lines' text, in order: the same on the kernel and under
// the shim (whose server runs the program and writes its bpf_printk text to the served pipe).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_lines(int fd, int want)
{
	char buf[8192];
	size_t have = 0;
	int got = 0;
	while (got < want) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *nl;
		while ((nl = strchr(buf, '\n'))) {
			*nl = 0;
			char *m = strstr(buf, "bpf_trace_printk: bpftime-test-run-printk");
			if (m) {
				printf("trace: %s\n", m + strlen("bpf_trace_printk: "));
				got++;
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
	}
	return got;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj = bpf_object__open_file(argc > 1 ? argv[1] : "test_run_printk.bpf.o", NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	int pipe_fd = open("/sys/kernel/tracing/trace_pipe", O_RDONLY | O_NONBLOCK);
	if (pipe_fd < 0) {
		printf("trace_pipe: %s\n", strerror(errno));
		return 1;
	}
	int prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "say"));
	for (int x = 1; x <= 3; x++) {
		int args = x * 10;
		LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = &args, .ctx_size_in = sizeof(args));
		int rc = bpf_prog_test_run_opts(prog, &o);
		printf("run %d: ret=%d retval=%u\n", x, rc, o.retval);
	}
	int got = read_lines(pipe_fd, 3);
	printf("lines: %d\n", got);
	return got == 3 ? 0 : 2;
}
