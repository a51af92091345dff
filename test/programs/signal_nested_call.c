/* A bpf() call from a signal handler that interrupts a thread waiting for a long call of its own
 * (a PROG_TEST_RUN with a huge repeat): the handler's call is answered at once (the map's info),
 * then the interrupted test run ends with EINTR, as on a kernel. Under the shim both calls wait for
 * the server on one connection, and the waiting thread is the one that reads it. */
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "long_run_prog.h"
static int g_map;
static volatile int handler_rc = 99, handler_max_entries;
static void on_alarm(int sig)
{
	(void)sig;
	struct bpf_map_info info;
	__u32 len = sizeof(info);
	memset(&info, 0, sizeof(info));
	handler_rc = bpf_obj_get_info_by_fd(g_map, &info, &len);
	handler_max_entries = info.max_entries;
}
int main(void)
{
	g_map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "m", 4, 4, 7, NULL);
	int prog = load_long_run();
	if (g_map < 0 || prog < 0) { printf("setup failed %s\n", strerror(errno)); return 1; }
	signal(SIGALRM, on_alarm);
	alarm(1);
	char data[64] = {0};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = sizeof(data), .repeat = 2000000000);
	int r = bpf_prog_test_run_opts(prog, &o);
	printf("test run %d errno %d; handler rc %d max_entries %d\n", r, r ? errno : 0, handler_rc, handler_max_entries);
	return 0;
}
