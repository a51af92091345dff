/* /proc/self/maps, read with raw syscalls into a static buffer: this runs in the SIGSYS handler,
 * possibly interrupting malloc or the dynamic loader, so no libc I/O and no allocation. Callers hold
 * the rewrite lock (rewrite.c), which serializes use of the buffer. */
#include "syshook_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static char buf[8192];

static const char *hex(const char *p, const char *end, unsigned long *out)
{
	unsigned long v = 0;
	for (; p < end; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			break;
		v = v * 16 + (unsigned long)d;
	}
	*out = v;
	return p;
}

static const char *dec(const char *p, const char *end, unsigned long *out)
{
	unsigned long v = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	*out = v;
	return p;
}

/* "start-end perms offset major:minor inode [path]" */
static int parse_line(const char *p, const char *end, struct syshook_map *m)
{
	unsigned long a, b, maj, min;
	p = hex(p, end, &a);
	if (p >= end || *p++ != '-')
		return -1;
	p = hex(p, end, &b);
	if (end - p < 6 || *p++ != ' ')
		return -1;
	m->prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
	m->shared = p[3] == 's';
	p += 5;
	p = hex(p, end, &m->offset);
	if (p >= end || *p++ != ' ')
		return -1;
	p = hex(p, end, &maj);
	if (p >= end || *p++ != ':')
		return -1;
	p = hex(p, end, &min);
	if (p >= end || *p++ != ' ')
		return -1;
	dec(p, end, &m->inode);
	m->start = a;
	m->end = b;
	m->dev = maj << 20 | min;
	return 0;
}

int syshook_maps_foreach(int (*fn)(const struct syshook_map *m, void *arg), void *arg)
{
	long fd = raw3(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return (int)fd;
	size_t have = 0;
	int stop = 0, rc = 0;
	while (!stop) {
		long n = raw3(SYS_read, fd, buf + have, sizeof(buf) - have);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			rc = (int)n;
			break;
		}
		have += (size_t)n;
		size_t pos = 0;
		for (;;) {
			size_t eol = pos;
			while (eol < have && buf[eol] != '\n')
				eol++;
			if (eol == have)
				break;
			struct syshook_map m;
			if (parse_line(buf + pos, buf + eol, &m) == 0 && fn(&m, arg)) {
				stop = 1;
				break;
			}
			pos = eol + 1;
		}
		if (n == 0)
			break;
		/* Keep the partial last line; a line longer than the buffer (a huge path) is dropped. */
		if (pos == 0 && have == sizeof(buf))
			have = 0;
		else {
			for (size_t i = pos; i < have; i++)
				buf[i - pos] = buf[i];
			have -= pos;
		}
	}
	raw1(SYS_close, fd);
	return rc;
}
