/* Reading /proc/self/maps with read(2) into a stack buffer: no stdio, no malloc, so it works no
 * matter which libc function is probed or half-patched at the moment. */
#include "attach_internal.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uintptr_t parse_hex(const char **p)
{
	uintptr_t v = 0;
	for (;;) {
		char c = **p;
		int d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return v;
		v = (v << 4) | (uintptr_t)d;
		(*p)++;
	}
}

/* "start-end perms offset dev inode path": only the first two fields matter. */
static int parse_line(const char *line, struct map_region *r)
{
	const char *p = line;
	r->start = parse_hex(&p);
	if (*p++ != '-')
		return -1;
	r->end = parse_hex(&p);
	if (*p++ != ' ')
		return -1;
	r->prot = 0;
	if (p[0] == 'r')
		r->prot |= PROT_READ;
	if (p[1] == 'w')
		r->prot |= PROT_WRITE;
	if (p[2] == 'x')
		r->prot |= PROT_EXEC;
	r->shared = p[3] == 's';
	return 0;
}

int attach_maps_foreach(int (*fn)(const struct map_region *r, void *arg), void *arg)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[8192];
	size_t have = 0;
	int stop = 0;
	while (!stop) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t pos = 0;
		for (;;) {
			char *nl = memchr(buf + pos, '\n', have - pos);
			if (!nl)
				break;
			*nl = 0;
			struct map_region r;
			if (parse_line(buf + pos, &r) == 0 && fn(&r, arg)) {
				stop = 1;
				break;
			}
			pos = (size_t)(nl - buf) + 1;
		}
		/* Keep the partial last line. A line longer than the buffer (a huge path) is
		 * dropped: only its address part matters and such lines do not occur in practice. */
		if (pos == 0 && have == sizeof(buf))
			have = 0;
		else {
			memmove(buf, buf + pos, have - pos);
			have -= pos;
		}
	}
	close(fd);
	return 0;
}

struct find_arg {
	uintptr_t addr;
	struct map_region *out;
	int found;
};

static int find_cb(const struct map_region *r, void *arg)
{
	struct find_arg *a = arg;
	if (a->addr < r->start)
		return 1; /* sorted: past it */
	if (a->addr < r->end) {
		*a->out = *r;
		a->found = 1;
		return 1;
	}
	return 0;
}

int attach_maps_find(uintptr_t addr, struct map_region *out)
{
	struct find_arg a = {addr, out, 0};
	int rc = attach_maps_foreach(find_cb, &a);
	if (rc)
		return rc;
	return a.found ? 0 : -ENOENT;
}
