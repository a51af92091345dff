/* glob() over the served tracefs. bpftrace expands tracepoint wildcards
 * (tracepoint:syscalls:sys_enter_exec*) with glob() of <tracefs>/events/syscalls/<the wildcard>/format. glibc's glob lists directories and
 * stats the matches with its own internal calls, out of the shim's reach, so without this it
 * would read the real filesystem: nothing under /sys/kernel/debug/tracing when debugfs is not
 * mounted, the real kernel's events otherwise. A glob under a served tracefs root instead walks
 * the served view through glob's GLOB_ALTDIRFUNC hooks: directory listings come from the
 * server's available_events (events/, events/<system>/) or from what the server says exists
 * (the root, an event's directory), and stat from its access() answer. open() and access() here
 * are the shim's own (files.c), which send served paths to the server. */
#undef _FILE_OFFSET_BITS /* this file defines glob and glob64 itself (see interpose.c) */
#include "shim.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static const char *const tracefs_roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* The path below a tracefs root ("" for the root itself), or NULL when not under one. */
static const char *tracefs_rel(const char *path)
{
	for (size_t i = 0; i < sizeof(tracefs_roots) / sizeof(tracefs_roots[0]); i++) {
		size_t n = strlen(tracefs_roots[i]);
		if (strncmp(path, tracefs_roots[i], n) == 0 && (path[n] == 0 || path[n] == '/'))
			return path[n] ? path + n + 1 : path + n;
	}
	return NULL;
}

/* Served directories: the root, events, events/<system>, events/<system>/<event> (beside the
 * events, a system's directory holds its enable and filter files). */
static int tracefs_is_dir(const char *rel)
{
	if (!*rel || strcmp(rel, "events") == 0)
		return 1;
	if (strncmp(rel, "events/", 7) != 0)
		return 0;
	const char *s = strchr(rel + 7, '/');
	return !s || (!strchr(s + 1, '/') && strcmp(s + 1, "enable") != 0 && strcmp(s + 1, "filter") != 0);
}

struct served_dir {
	size_t n, next, cap;
	char **names;
	unsigned char *types;
	struct dirent ent;
};

static void served_dir_add(struct served_dir *d, const char *name, size_t len, unsigned char type)
{
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->names[i]) == len && memcmp(d->names[i], name, len) == 0)
			return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		char **names = realloc(d->names, cap * sizeof(*names));
		if (!names)
			return;
		d->names = names;
		unsigned char *types = realloc(d->types, cap);
		if (!types)
			return;
		d->types = types;
		d->cap = cap;
	}
	char *copy = strndup(name, len);
	if (!copy)
		return;
	d->names[d->n] = copy;
	d->types[d->n++] = type;
}

/* The served file at dir/name exists (as the server's access() says). */
static int served_child_exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
		return 0;
	return access(p, F_OK) == 0;
}

static void served_dir_close(void *h)
{
	struct served_dir *d = h;
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->types);
	free(d);
}

static void *served_opendir(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strnlen(path, sizeof(dir) - 1);
	memcpy(dir, path, len);
	while (len > 1 && dir[len - 1] == '/')
		len--;
	dir[len] = 0;
	const char *rel = tracefs_rel(dir);
	if (!rel || !tracefs_is_dir(rel) || access(dir, F_OK) < 0) {
		errno = rel && !tracefs_is_dir(rel) && access(dir, F_OK) == 0 ? ENOTDIR : ENOENT;
		return NULL;
	}
	struct served_dir *d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	if (!*rel || (strncmp(rel, "events/", 7) == 0 && strchr(rel + 7, '/'))) {
		/* the root or one event's directory: the names the server serves there */
		static const char *const root[] = { "available_events", "events", "kprobe_events", "trace_pipe", "uprobe_events" };
		static const char *const event[] = { "enable", "filter", "format", "id" };
		const char *const *names = *rel ? event : root;
		size_t count = *rel ? 4 : 5;
		for (size_t i = 0; i < count; i++)
			if (served_child_exists(dir, names[i]))
				served_dir_add(d, names[i], strlen(names[i]), strcmp(names[i], "events") == 0 ? DT_DIR : DT_REG);
		return d;
	}
	/* events/ lists the systems, events/<system>/ its events: both from available_events */
	char ae[PATH_MAX];
	snprintf(ae, sizeof(ae), "%.*s/available_events", (int)(rel - dir - 1), dir);
	int fd = open(ae, O_RDONLY | O_CLOEXEC);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
	if (!f) {
		if (fd >= 0)
			close(fd);
		served_dir_close(d);
		errno = EIO;
		return NULL;
	}
	const char *system = strcmp(rel, "events") == 0 ? NULL : rel + 7;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (!system)
			served_dir_add(d, line, (size_t)(colon - line), DT_DIR);
		else if ((size_t)(colon - line) == strlen(system) && strncmp(line, system, strlen(system)) == 0)
			served_dir_add(d, colon + 1, strlen(colon + 1), DT_DIR);
	}
	fclose(f);
	/* a system's own switches, as the kernel lists them there */
	static const char *const switches[] = { "enable", "filter" };
	for (size_t i = 0; system && i < 2; i++)
		if (served_child_exists(dir, switches[i]))
			served_dir_add(d, switches[i], strlen(switches[i]), DT_REG);
	return d;
}

static struct dirent *served_readdir(void *h)
{
	struct served_dir *d = h;
	if (d->next >= d->n)
		return NULL;
	memset(&d->ent, 0, sizeof(d->ent));
	d->ent.d_ino = d->next + 1; /* glob skips entries without an inode number */
	d->ent.d_type = d->types[d->next];
	snprintf(d->ent.d_name, sizeof(d->ent.d_name), "%s", d->names[d->next]);
	d->next++;
	return &d->ent;
}

/* Modes as tracefs shows them: directories 0755, id/format 0440, enable/filter 0640. */
static int served_stat(const char *path, struct stat *st)
{
	const char *rel = tracefs_rel(path);
	if (!rel || access(path, F_OK) < 0) {
		errno = ENOENT;
		return -1;
	}
	memset(st, 0, sizeof(*st));
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	int dir = tracefs_is_dir(rel);
	int writable = !dir && (strcmp(base, "enable") == 0 || strcmp(base, "filter") == 0 || strcmp(base, "uprobe_events") == 0 || strcmp(base, "kprobe_events") == 0);
	st->st_mode = dir ? (S_IFDIR | 0755) : (S_IFREG | (writable ? 0640 : 0440));
	st->st_nlink = dir ? 2 : 1;
	st->st_blksize = 4096;
	return 0;
}

typedef int (*glob_fn)(const char *, int, int (*)(const char *, int), glob_t *);

static int glob_served(glob_fn real, const char *pattern, int flags, int (*errfunc)(const char *, int), glob_t *g)
{
	if (!(flags & GLOB_ALTDIRFUNC) && pattern && tracefs_rel(pattern)) {
		g->gl_opendir = served_opendir;
		g->gl_readdir = served_readdir;
		g->gl_closedir = served_dir_close;
		g->gl_stat = served_stat;
		g->gl_lstat = served_stat;
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
