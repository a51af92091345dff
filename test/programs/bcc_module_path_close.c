// bcc 0.26's symbolisation destroys a ProcSyms::ModulePath whose fd_ was never set and close()s
// that garbage, at times one of the tool's BPF map fds (see close() in src-native/shim/interpose.c).
// This program makes that call: a function carrying the destructor's symbol closes a live map
// fd, then the map is used again. On a kernel the map fd is gone (EBADF: the bug's effect); under
// the shim the close is dropped and the map still answers. A close of the same fd from anywhere
// else closes it, under the shim as on a kernel. Link with -rdynamic (bcc's symbol is dynamic).
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <unistd.h>

#include "bpf_calls_util.h"

/* What ~ModulePath() does with fd_ (bcc 0.26: `if (fd_ > 0) close(fd_);`), under its symbol. */
void module_path_dtor(const int *fd_) __asm__("_ZN8ProcSyms10ModulePathD2Ev");
__attribute__((noinline, used)) void module_path_dtor(const int *fd_)
{
	if (*fd_ > 0)
		close(*fd_);
	__asm__ volatile("" ::: "memory"); /* a call, not a tail jump: the caller is this function */
}

int main(void)
{
	int fd = create_map(BPF_MAP_TYPE_HASH, 4, 8, 4, 0, 0);
	if (report("create", fd, 0) < 0)
		return 1;
	unsigned k = 1;
	unsigned long long v = 42, got = 0;
	report("update", elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY), 0);
	int garbage = fd;
	module_path_dtor(&garbage);
	long r = elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &got, 0);
	if (r < 0)
		printf("lookup after ModulePath's close: %s\n", ename(errno));
	else
		printf("lookup after ModulePath's close: %llu\n", got);
	report("own close", close(fd), 0);
	report("lookup after own close", elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &got, 0), 0);
	return 0;
}
