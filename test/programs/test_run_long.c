// A BPF_PROG_TEST_RUN that runs until a signal interrupts it, for test/e2e/test-run-async.test.ts.
//
// Loads an XDP program (named "long_run") whose every run counts to 1000 in a bounded loop and
// returns XDP_PASS, prints "long: started" and asks for 4 billion runs: minutes on any machine.
// A SIGUSR1 handler (SA_RESTART, which must not matter: the kernel's test run stops at any
// pending signal with EINTR) lets the test end it. Then one short run with repeat 1000 shows the
// program and the server still answer, with a real duration and the program's return value.
// With --probe it only loads the program.
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "long_run_prog.h"

static volatile sig_atomic_t signals;

static void on_usr1(int sig)
{
	(void)sig;
	signals++;
}

int main(int argc, char **argv)
{
	int fd = load_long_run();
	if (fd < 0) {
		printf("long: load failed: errno=%d (%s)\n", errno, strerror(errno));
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--probe")) { /* can this machine load it at all? */
		printf("long: loaded\n");
		return 0;
	}
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);

	unsigned char pkt[64] = { 0 }, out[64];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt), .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 4000000000u);
	printf("long: started\n");
	fflush(stdout);
	int ret = bpf_prog_test_run_opts(fd, &opts);
	int err = ret < 0 ? errno : 0;
	printf("long: ret=%d errno=%d (%s) signals=%d retval=%u\n", ret, err, err ? strerror(err) : "ok", (int)signals,
	       ret < 0 ? 0 : opts.retval);

	LIBBPF_OPTS(bpf_test_run_opts, again, .data_in = pkt, .data_size_in = sizeof(pkt), .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1000);
	ret = bpf_prog_test_run_opts(fd, &again);
	err = ret < 0 ? errno : 0;
	printf("short: ret=%d errno=%d retval=%u data_size_out=%u duration>0=%d\n", ret, err, again.retval,
	       again.data_size_out, again.duration > 0);
	return 0;
}
