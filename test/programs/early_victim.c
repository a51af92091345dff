// early_victim: the syscalls of main, after a getppid() that marks where main begins. Used to
// compare what a syscall tracepoint sees of a process started after the tool, under bpftime (the
// agent reports from the end of its constructor) and on the kernel (everything from execve on).
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

int main(void)
{
	getppid(); /* the marker */
	int fd = open("/dev/null", O_RDONLY);
	close(fd);
	fd = open("/etc/hostname", O_RDONLY);
	close(fd);
	usleep(1000);
	return 0;
}
