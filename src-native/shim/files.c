/* Files the server serves to tools: tracefs (event ids and formats, available_events) and the
 * uprobe/kprobe PMU descriptions in sysfs. Opens under those paths go to the server, which
 * answers with a memfd holding the content, so tools see the same files whether or not a real
 * tracefs is mounted, and without root. Every other open goes straight to libc. */
#undef _FILE_OFFSET_BITS /* this file defines open and open64 itself (see interpose.c) */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/proto.h"

#define EXPORT __attribute__((visibility("default")))

static const char *const served_prefixes[] = {
	"/sys/kernel/tracing",
	"/sys/kernel/debug/tracing",
	"/sys/bus/event_source/devices/uprobe",
	"/sys/bus/event_source/devices/kprobe",
};

static int is_served(const char *path)
{
	if (!path || path[0] != '/')
		return 0;
	for (size_t i = 0; i < sizeof(served_prefixes) / sizeof(served_prefixes[0]); i++) {
		size_t n = strlen(served_prefixes[i]);
		if (strncmp(path, served_prefixes[i], n) == 0 && (path[n] == 0 || path[n] == '/'))
			return 1;
	}
	return 0;
}

static int open_served(const char *path, int flags)
{
	uint64_t args[6] = { (uint64_t)(uintptr_t)path, (uint64_t)flags };
	size_t len = strnlen(path, 4095) + 1;
	long r = shim_call(BPFTIME_OP_OPEN, args, path, len, (uint64_t)(uintptr_t)path);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	if (!(flags & O_CLOEXEC))
		fcntl((int)r, F_SETFD, 0); /* the fd arrives close-on-exec; give the flags asked for */
	return (int)r;
}

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef FILE *(*fopen_fn)(const char *, const char *);

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* mode is only present with O_CREAT/O_TMPFILE, as the libc prototypes say. */
#define MODE_ARG(flags, mode)                                                                                     \
	do {                                                                                                       \
		if ((flags) & (O_CREAT | O_TMPFILE)) {                                                             \
			va_list ap;                                                                                \
			va_start(ap, flags);                                                                       \
			mode = va_arg(ap, int);                                                                    \
			va_end(ap);                                                                                \
		}                                                                                                  \
	} while (0)

EXPORT int open(const char *path, int flags, ...)
{
	int mode = 0;
	MODE_ARG(flags, mode);
	if (is_served(path))
		return open_served(path, flags);
	static open_fn real;
	if (!real)
		real = (open_fn)next("open");
	return real(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
	int mode = 0;
	MODE_ARG(flags, mode);
	if (is_served(path))
		return open_served(path, flags);
	static open_fn real;
	if (!real)
		real = (open_fn)next("open64");
	return real(path, flags, mode);
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	int mode = 0;
	MODE_ARG(flags, mode);
	if (is_served(path))
		return open_served(path, flags);
	static openat_fn real;
	if (!real)
		real = (openat_fn)next("openat");
	return real(dirfd, path, flags, mode);
}

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	int mode = 0;
	MODE_ARG(flags, mode);
	if (is_served(path))
		return open_served(path, flags);
	static openat_fn real;
	if (!real)
		real = (openat_fn)next("openat64");
	return real(dirfd, path, flags, mode);
}

/* The _FORTIFY_SOURCE entry points glibc's headers route open() to. */
EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat64(dirfd, path, flags);
}

static FILE *fopen_served(const char *path, const char *mode)
{
	int flags = strchr(mode, '+') ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
	if (strchr(mode, 'e'))
		flags |= O_CLOEXEC;
	int fd = open_served(path, flags);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, mode);
	if (!f)
		close(fd);
	return f;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (is_served(path))
		return fopen_served(path, mode);
	static fopen_fn real;
	if (!real)
		real = (fopen_fn)next("fopen");
	return real(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	if (is_served(path))
		return fopen_served(path, mode);
	static fopen_fn real;
	if (!real)
		real = (fopen_fn)next("fopen64");
	return real(path, mode);
}
