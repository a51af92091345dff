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
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/objfile.h"
#include "bpftime/proto.h"

#define EXPORT __attribute__((visibility("default")))

static const char *const served_prefixes[] = {
	"/sys/kernel/tracing",
	"/sys/kernel/debug/tracing",
	"/sys/bus/event_source/devices/uprobe",
	"/sys/bus/event_source/devices/kprobe",
};

/* /proc/self/fdinfo/N (or /proc/<our pid>/fdinfo/N) of one of our object fds: the kernel shows
 * the object's type, id, sizes there; the server renders the same lines. */
static int is_our_fdinfo(const char *path)
{
	const char *rest;
	char self[32];
	if (strncmp(path, "/proc/self/fdinfo/", 18) == 0) {
		rest = path + 18;
	} else if (strncmp(path, "/proc/thread-self/fdinfo/", 25) == 0) {
		rest = path + 25;
	} else {
		int n = snprintf(self, sizeof(self), "/proc/%d/fdinfo/", (int)getpid());
		if (strncmp(path, self, (size_t)n) != 0)
			return 0;
		rest = path + n;
	}
	char *end;
	long fd = strtol(rest, &end, 10);
	return end != rest && *end == 0 && fd >= 0 && fdtab_get((int)fd) != NULL;
}

static int is_served(const char *path)
{
	if (!path || path[0] != '/')
		return 0;
	if (strncmp(path, "/proc/", 6) == 0)
		return is_our_fdinfo(path);
	for (size_t i = 0; i < sizeof(served_prefixes) / sizeof(served_prefixes[0]); i++) {
		size_t n = strlen(served_prefixes[i]);
		if (strncmp(path, served_prefixes[i], n) == 0 && (path[n] == 0 || path[n] == '/'))
			return 1;
	}
	return 0;
}

int shim_served_path(const char *path)
{
	return is_served(path) && strncmp(path, "/proc/", 6) != 0;
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
	struct stat st;
	if (fstat((int)r, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* a tracefs directory: its view, which calls relative to the fd must map back */
		shim_view_remember((int)r, path);
		return (int)r;
	}
	if ((flags & O_ACCMODE) != O_RDONLY) {
		/* the server let it open for writing (uprobe_events): writes are commands to it */
		int e = served_write_track((int)r, path);
		if (e < 0) {
			close((int)r);
			errno = -e;
			return -1;
		}
	}
	return (int)r;
}

int shim_open_served(const char *path, int flags)
{
	return open_served(path, flags);
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
	int bpffs_fd;
	if (shim_bpffs_open(AT_FDCWD, path, flags, mode, &bpffs_fd))
		return bpffs_fd;
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
	int bpffs_fd;
	if (shim_bpffs_open(AT_FDCWD, path, flags, mode, &bpffs_fd))
		return bpffs_fd;
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
	int bpffs_fd;
	if (shim_bpffs_open(dirfd, path, flags, mode, &bpffs_fd))
		return bpffs_fd;
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
	int bpffs_fd;
	if (shim_bpffs_open(dirfd, path, flags, mode, &bpffs_fd))
		return bpffs_fd;
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

/* readlink("/proc/self/fd/N") of an object fd names it as the kernel does (bpftool checks the
 * object type this way); the memfd's own name would be "/memfd:bpftime-...". */
static const char *anon_name(const char *path)
{
	const char *rest = NULL;
	char self[32];
	if (strncmp(path, "/proc/self/fd/", 14) == 0)
		rest = path + 14;
	else if (strncmp(path, "/proc/thread-self/fd/", 21) == 0)
		rest = path + 21;
	else {
		int n = snprintf(self, sizeof(self), "/proc/%d/fd/", (int)getpid());
		if (strncmp(path, self, (size_t)n) == 0)
			rest = path + n;
	}
	if (!rest)
		return NULL;
	char *end;
	long fd = strtol(rest, &end, 10);
	if (end == rest || *end || fd < 0)
		return NULL;
	struct shim_obj *o = fdtab_get((int)fd);
	if (!o)
		return NULL;
	switch (o->kind) {
	case BPFTIME_OBJ_MAP: return "anon_inode:bpf-map";
	case BPFTIME_OBJ_PROG: return "anon_inode:bpf-prog";
	case BPFTIME_OBJ_LINK: return "anon_inode:bpf_link";
	case BPFTIME_OBJ_PERF_EVENT: return "anon_inode:[perf_event]";
	case BPFTIME_OBJ_BTF: return "anon_inode:btf";
	default: return NULL;
	}
}

static ssize_t copy_link(const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);
	if (n > len)
		n = len; /* readlink truncates silently */
	memcpy(buf, name, n);
	return (ssize_t)n;
}

typedef ssize_t (*readlink_fn)(const char *, char *, size_t);
typedef ssize_t (*readlinkat_fn)(int, const char *, char *, size_t);

EXPORT ssize_t readlink(const char *path, char *buf, size_t len)
{
	const char *name = anon_name(path);
	if (name)
		return copy_link(name, buf, len);
	static readlink_fn real;
	if (!real)
		real = (readlink_fn)next("readlink");
	return real(path, buf, len);
}

EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t len)
{
	const char *name = path[0] == '/' ? anon_name(path) : NULL;
	if (name)
		return copy_link(name, buf, len);
	static readlinkat_fn real;
	if (!real)
		real = (readlinkat_fn)next("readlinkat");
	return real(dirfd, path, buf, len);
}

/* /sys/fs/bpf is the runtime's bpffs (its pins live in the server): statfs there says so, as
 * libbpf and bpftool check before pinning. */
#define BPF_FS_MAGIC_VALUE 0xcafe4a11
typedef int (*statfs_fn)(const char *, struct statfs *);

static int under_bpffs(const char *path)
{
	return path && strncmp(path, "/sys/fs/bpf", 11) == 0 && (path[11] == 0 || path[11] == '/');
}

/* The served tracefs too, whether or not one is mounted there. */
static int under_tracefs(const char *path)
{
	return is_served(path) && strncmp(path, "/sys/bus/", 9) != 0 && strncmp(path, "/proc/", 6) != 0;
}

EXPORT int statfs(const char *path, struct statfs *buf)
{
	static statfs_fn real;
	if (!real)
		real = (statfs_fn)next("statfs");
	int rc = real(path, buf);
	int bpf = under_bpffs(path) || shim_bpffs_owns(path);
	if (bpf || under_tracefs(path)) {
		if (rc < 0) {
			memset(buf, 0, sizeof(*buf));
			buf->f_bsize = 4096;
			buf->f_namelen = 255;
			rc = 0;
		}
		buf->f_type = bpf ? BPF_FS_MAGIC_VALUE : TRACEFS_MAGIC;
	}
	return rc;
}

/* The same struct on x86-64. */
EXPORT int statfs64(const char *path, struct statfs64 *buf) { return statfs(path, (struct statfs *)buf); }

/* access() of served paths: libbpf-tools check that a tracepoint exists this way
 * (tracepoint_exists() tests <tracefs>/events/<cat>/<event>/format). */
static int access_served(const char *path, int mode)
{
	uint64_t args[6] = { (uint64_t)(uintptr_t)path, (uint64_t)mode };
	size_t len = strnlen(path, 4095) + 1;
	long r = shim_call(BPFTIME_OP_ACCESS, args, path, len, (uint64_t)(uintptr_t)path);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return 0;
}

typedef int (*access_fn)(const char *, int);
typedef int (*faccessat_fn)(int, const char *, int, int);

EXPORT int access(const char *path, int mode)
{
	if (is_served(path) && strncmp(path, "/proc/", 6) != 0)
		return access_served(path, mode);
	int bpffs_ret;
	if (shim_bpffs_access(AT_FDCWD, path, mode, 0, &bpffs_ret))
		return bpffs_ret;
	static access_fn real;
	if (!real)
		real = (access_fn)next("access");
	return real(path, mode);
}

EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (is_served(path) && strncmp(path, "/proc/", 6) != 0)
		return access_served(path, mode);
	int bpffs_ret;
	if (shim_bpffs_access(dirfd, path, mode, flags, &bpffs_ret))
		return bpffs_ret;
	static faccessat_fn real;
	if (!real)
		real = (faccessat_fn)next("faccessat");
	return real(dirfd, path, mode, flags);
}
