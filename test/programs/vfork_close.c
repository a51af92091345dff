/* A child that shares the parent's memory (vfork; posix_spawn and Python's subprocess use it)
 * closes every fd before it execs or exits: its own fds, which must leave the parent's objects
 * as they were. The parent then uses its map, its program's fd and a dup of the map: every call
 * answers as before the child ran, on a kernel and under the shim alike. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static long bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static int map_create(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 16;
	return (int)bpf(BPF_MAP_CREATE, &a);
}

static long elem(int cmd, int fd, unsigned key, unsigned long long *val)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = (unsigned)fd;
	a.key = (unsigned long)&key;
	a.value = (unsigned long)val;
	long r = bpf(cmd, &a);
	return r < 0 ? -errno : r;
}

static void report(const char *what, int fd, int dup_fd)
{
	unsigned long long v = 0;
	long u = elem(BPF_MAP_UPDATE_ELEM, fd, 1, &(unsigned long long){ 42 });
	long l = elem(BPF_MAP_LOOKUP_ELEM, dup_fd, 1, &v);
	printf("%s: update %ld lookup %ld value %llu\n", what, u, l, v);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int fd = map_create();
	if (fd < 0) {
		printf("bpf unavailable: %s\n", strerror(errno));
		return 0;
	}
	printf("ready\n");
	int d = dup(fd);
	report("before", fd, d);
	pid_t c = vfork();
	if (c == 0) {
		close(fd);
		syscall(SYS_close_range, 3, ~0U, 0); /* the raw call: Python's is the libc one */
		_exit(0);
	}
	waitpid(c, NULL, 0);
	report("after a vfork child closed them one by one", fd, d);
	c = vfork();
	if (c == 0) {
		close_range(3, ~0U, 0);
		_exit(0);
	}
	waitpid(c, NULL, 0);
	report("after a vfork child's close_range", fd, d);
	printf("close: %d %d\n", close(fd), close(d));
	long r = elem(BPF_MAP_LOOKUP_ELEM, fd, 1, &(unsigned long long){ 0 });
	printf("lookup on the closed fd: %ld\n", r);
	return 0;
}
