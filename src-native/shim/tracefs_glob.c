/* glob() over the served tracefs. bpftrace expands tracepoint wildcards
 * (tracepoint:syscalls:sys_enter_exec*) with glob() of <tracefs>/events/syscalls/<the
 * wildcard>/format. glibc's glob lists directories and stats the matches with its own internal
 * calls, out of the shim's reach, so without this it would read the real filesystem: nothing
 * under /sys/kernel/debug/tracing when debugfs is not mounted, the real kernel's events
 * otherwise. A glob under a served tracefs root instead goes through glob's GLOB_ALTDIRFUNC
 * hooks to the shim's own opendir() and stat() (bpffs.c), which serve tracefs directories as
 * views of the server's tree and stat them as tracefs shows them: the same tree ls and find
 * see. */
#undef _FILE_OFFSET_BITS /* this file defines glob and glob64 itself (see interpose.c) */
#include "shim.h"

#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

#define EXPORT __attribute__((visibility("default")))

static int under_tracefs(const char *path)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		size_t n = strlen(roots[i]);
		if (strncmp(path, roots[i], n) == 0 && (path[n] == 0 || path[n] == '/'))
			return 1;
	}
	return 0;
}

static void *served_opendir(const char *path) { return opendir(path); }
static struct dirent *served_readdir(void *d) { return readdir(d); }
static void served_closedir(void *d) { closedir(d); }
static int served_stat(const char *path, struct stat *st) { return stat(path, st); }
static int served_lstat(const char *path, struct stat *st) { return lstat(path, st); }

typedef int (*glob_fn)(const char *, int, int (*)(const char *, int), glob_t *);

static int glob_served(glob_fn real, const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
	if (!(flags & GLOB_ALTDIRFUNC) && pattern && under_tracefs(pattern)) {
		g->gl_opendir = served_opendir;
		g->gl_readdir = served_readdir;
		g->gl_closedir = served_closedir;
		g->gl_stat = served_stat;
		g->gl_lstat = served_lstat;
		flags |= GLOB_ALTDIRFUNC;
	}
	return real(pattern, flags, errfunc, g);
}

EXPORT int glob(const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
	static glob_fn real;
	if (!real)
		real = (glob_fn)dlsym(RTLD_NEXT, "glob");
	return glob_served(real, pattern, flags, errfunc, g);
}

/* The same function and glob_t on x86-64. */
EXPORT int glob64(const char *pattern, int flags, int (*errfunc)(const char *, int), glob64_t *g)
{
	static glob_fn real;
	if (!real)
		real = (glob_fn)dlsym(RTLD_NEXT, "glob64");
	return glob_served(real, pattern, flags, errfunc, (glob_t *)g);
}
