/* bpf_get_current_cgroup_id and bpf_get_current_ancestor_cgroup_id: the calling thread's cgroup
 * in the cgroup v2 (default) hierarchy, identified as the kernel identifies it: by the kernfs
 * node id, which is the inode number of the cgroup's directory in a cgroup2 mount (the root
 * cgroup is 1). The thread's cgroup comes from /proc/thread-self/cgroup (its "0::" line) at each
 * call, since a thread can be moved at any time; the cgroup2 mount point is found once per
 * process in /proc/self/mountinfo. Cost: 3-4 syscalls per call.
 * Limits: inside a cgroup namespace the paths (and so ancestor levels) are relative to the
 * namespace's root, while the kernel counts levels from the global root; without a cgroup2
 * mount, only the root cgroup (id 1) can be named, any other answer is 0. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers_internal.h"

static char v2_mount[PATH_MAX]; /* "" when there is none */
static char v2_root[PATH_MAX];  /* the mount's root within the hierarchy, "/" usually */
static pthread_once_t v2_once = PTHREAD_ONCE_INIT;

/* Copies mountinfo field `src` (up to a space) undoing its octal escapes (\040 for a space). */
static const char *copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	while (*src && *src != ' ' && *src != '\n') {
		char c = *src++;
		if (c == '\\' && src[0] >= '0' && src[0] <= '3' && src[1] && src[2]) {
			c = (char)(((src[0] - '0') << 6) | ((src[1] - '0') << 3) | (src[2] - '0'));
			src += 3;
		}
		if (n + 1 < cap)
			dst[n++] = c;
	}
	dst[n] = 0;
	return *src == ' ' ? src + 1 : src;
}

/* One mountinfo line: records it when it is a cgroup2 mount (the first one wins). */
static void mountinfo_line(const char *line)
{
	const char *sep = strstr(line, " - cgroup2 ");
	if (!sep || v2_mount[0])
		return;
	const char *p = line;
	for (int i = 0; i < 3 && p; i++) { /* skip id, parent id, major:minor */
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	if (!p)
		return;
	p = copy_field(v2_root, sizeof(v2_root), p);
	copy_field(v2_mount, sizeof(v2_mount), p);
}

static int mountinfo_each(char *line, void *ctx)
{
	(void)ctx;
	mountinfo_line(line);
	return 0;
}

static void find_v2_mount(void) { bpftime_file_each_line("/proc/self/mountinfo", mountinfo_each, NULL); }

/* The thread's cgroup v2 path ("/a/b"), or -1. */
static int current_v2_path(char *out, size_t cap)
{
	int fd = open("/proc/thread-self/cgroup", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *l = buf;
	while (l && strncmp(l, "0::", 3) != 0) {
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	if (!l)
		return -1;
	l += 3;
	size_t len = strcspn(l, "\n");
	if (len == 0 || len >= cap)
		return -1;
	memcpy(out, l, len);
	out[len] = 0;
	return 0;
}

/* The id of the cgroup at `path` (a prefix of the thread's path, "/" for the root), 0 if it
 * cannot be named. */
static uint64_t cgroup_id_of(const char *path)
{
	if (strcmp(path, "/") == 0 && !v2_mount[0])
		return 1;
	size_t rl = strlen(v2_root);
	if (strcmp(v2_root, "/") != 0) { /* a mount of a subtree: path must lie inside it */
		if (strncmp(path, v2_root, rl) != 0 || (path[rl] && path[rl] != '/'))
			return 0;
		path += rl;
	}
	char full[2 * PATH_MAX];
	size_t ml = strlen(v2_mount);
	if (!ml || ml + strlen(path) + 1 >= sizeof(full))
		return 0;
	memcpy(full, v2_mount, ml);
	strcpy(full + ml, path);
	struct stat st;
	return stat(full, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The thread's cgroup cut to `level` components (-1: all). 0 when it has fewer levels. */
static uint64_t current_cgroup_at(int64_t level)
{
	char path[PATH_MAX];
	pthread_once(&v2_once, find_v2_mount);
	if (current_v2_path(path, sizeof(path)) < 0)
		return 0;
	if (level >= 0) {
		int64_t depth = 0;
		char *p = path;
		while (p[1] && depth < level) { /* path[0] is '/': walk one component per step */
			p = strchr(p + 1, '/');
			depth++;
			if (!p)
				break;
		}
		if (p)
			*p = 0; /* cut before the next component */
		if (depth < level)
			return 0; /* cgroup_ancestor(): no ancestor at that level */
		if (!path[0])
			strcpy(path, "/");
	}
	return cgroup_id_of(path);
}

BPFTIME_HELPER(get_current_cgroup_id) { return current_cgroup_at(-1); }

/* (ancestor_level): level 0 is the root. */
BPFTIME_HELPER(get_current_ancestor_cgroup_id)
{
	int32_t level = (int32_t)r1;
	return level < 0 ? 0 : current_cgroup_at(level);
}
