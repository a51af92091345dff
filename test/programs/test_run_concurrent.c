// Another thread's bpf() calls go on while one thread waits in a long BPF_PROG_TEST_RUN, as on a
// kernel, where each thread is in its own syscall. For test/e2e/test-run-concurrent.test.ts.
//
// The main thread loads an XDP program (a bounded loop of 1000 per run) and asks for 4 billion
// runs; a second thread waits until the main thread is in bpf() (/proc/self/task/TID/syscall)
// and a little more, then makes 1000 BPF_MAP_GET_NEXT_ID and 1000 BPF_OBJ_GET_INFO_BY_FD calls,
// prints how many succeeded and whether the run was still going, and ends the run with SIGUSR1.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "long_run_prog.h"

static volatile int run_over;
static pid_t main_tid;
static pthread_t main_thread;
static int map_fd;

static void on_usr1(int sig) { (void)sig; }

static int in_bpf(void)
{
	char path[64], buf[32] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", main_tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	/* on the kernel: inside bpf() (321) or running it; under the shim: waiting in recvmsg (47)
	 * or parked in poll (7) */
	return !strncmp(buf, "321 ", 4) || !strncmp(buf, "running", 7) || !strncmp(buf, "47 ", 3) ||
	       !strncmp(buf, "7 ", 2);
}

static void *fast_calls(void *arg)
{
	(void)arg;
	while (!in_bpf())
		usleep(10000);
	usleep(300000); /* the run has started */
	int next_ok = 0, info_ok = 0;
	for (int i = 0; i < 1000; i++) {
		__u32 id = 0;
		if (bpf_map_get_next_id(0, &id) == 0 && id > 0)
			next_ok++;
		struct bpf_map_info info;
		__u32 len = sizeof(info);
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(map_fd, &info, &len) == 0 && info.max_entries == 4)
			info_ok++;
	}
	int going = !__atomic_load_n(&run_over, __ATOMIC_ACQUIRE);
	printf("fast: next_id ok=%d info ok=%d run still going=%d\n", next_ok, info_ok, going);
	fflush(stdout);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

int main(void)
{
	int fd = load_long_run();
	map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "conc_map", 4, 8, 4, NULL);
	if (fd < 0 || map_fd < 0) {
		printf("load failed: errno=%d (%s)\n", errno, strerror(errno));
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	main_tid = (pid_t)syscall(SYS_gettid);
	main_thread = pthread_self();
	pthread_t t;
	pthread_create(&t, NULL, fast_calls, NULL);

	unsigned char pkt[64] = { 0 }, out[64];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = sizeof(pkt), .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 4000000000u);
	int ret = bpf_prog_test_run_opts(fd, &opts);
	int err = ret < 0 ? errno : 0;
	__atomic_store_n(&run_over, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	printf("long: ret=%d errno=%d (%s)\n", ret, err, err ? strerror(err) : "ok");
	return 0;
}
