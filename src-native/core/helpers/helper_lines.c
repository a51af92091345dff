/* Reading /proc files line by line from helper code: no allocation (a helper may run in any
 * thread of a traced process, a signal handler's included), one read buffer on the stack. */
#include "helpers_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int bpftime_file_each_line(const char *path, int (*fn)(char *line, void *ctx), void *ctx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[8192];
	size_t have = 0;
	int rc = 0;
	while (!rc) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *line = buf, *nl;
		while (!rc && (nl = strchr(line, '\n'))) {
			*nl = 0;
			rc = fn(line, ctx);
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		if (have == sizeof(buf) - 1) /* a line longer than the buffer: dropped */
			have = 0;
		memmove(buf, line, have);
	}
	close(fd);
	return rc;
}
