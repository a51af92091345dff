// Under the shim, a bad pointer given to bpf() is EFAULT, and a real fault of the tool still
// reaches the tool: its own SIGSEGV handler (argv[1] given) or the default action.
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>
static void h(int s) { (void)!write(1, "handler\n", 8); _exit(3); }
int main(int argc, char **argv) {
	union bpf_attr a = {0};
	a.map_type = BPF_MAP_TYPE_HASH; a.key_size = 4; a.value_size = 8; a.max_entries = 4;
	int fd = syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
	memset(&a, 0, sizeof(a)); a.map_fd = fd; a.key = 8; a.value = 16;
	long r = syscall(SYS_bpf, BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
	printf("lookup bad pointer: %ld %s\n", r, strerror(errno)); fflush(stdout);
	if (argc > 1) { struct sigaction sa = {0}; sa.sa_handler = h; sigaction(SIGSEGV, &sa, NULL); }
	*(volatile int *)0 = 1;
	return 0;
}
