/* File operations on the runtime's bpf filesystem (/sys/fs/bpf): mkdir, rmdir, unlink, rename,
 * the stat family, access and opening directories. The namespace lives in the server
 * (src-ts/kernel/bpffs.ts: pins hold references there), so these calls go to it for paths under
 * /sys/fs/bpf, whatever the machine has mounted there; everything else goes to libc untouched.
 *
 * Listing a directory: glibc's readdir() calls getdents64 itself, out of our reach, so opening a
 * bpffs directory gives a real directory the server made with the same names (directories as
 * directories, pins as empty files). Calls relative to such an fd (fstatat, unlinkat, ... as
 * rm and find make them) are mapped back to the bpffs path. */
#undef _FILE_OFFSET_BITS /* this file defines stat and stat64 itself (see interpose.c) */
#include "shim.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/proto.h"
#include "bpftime/unistd_newer.h" /* SYS_fchmodat2 where the installed headers predate it */

#define EXPORT __attribute__((visibility("default")))
#define BPFFS_ROOT "/sys/fs/bpf"
#define BPFFS_ROOT_LEN 11

/* The server's answer to a stat (src-ts/server/syscalls/obj_pin.ts, encodeStat). */
struct bpftime_bpffs_stat {
	uint32_t kind; /* 1 directory, 2 pin */
	uint32_t mode;
	uint64_t ino;
	uint64_t dev;
	uint32_t nlink, uid, gid, pad;
	int64_t atime_ns, mtime_ns, ctime_ns;
};

enum { OP_STAT = 1, OP_MKDIR, OP_RMDIR, OP_UNLINK, OP_RENAME, OP_OPENDIR, OP_CHMOD, OP_CHOWN, OP_UTIMES };

/* The server's "not ours" on another bpf mount: the real filesystem answers (obj_pin.ts). */
#define BPFFS_REAL 1000

/* ---- which paths are ours ---- */

/* Directory fds handed out for bpffs directories, so that *at() calls relative to them (or to
 * dup()s of them) reach the bpffs path: known by the view directory's device and inode, which
 * are the server's own (views are never reused), so an unrelated fd is never mistaken for one. */
#define MAX_VIEWS 64
static struct view {
	int fd;
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
} g_views[MAX_VIEWS];
static int g_nviews;
static pthread_mutex_t g_views_lock = PTHREAD_MUTEX_INITIALIZER;

/* fstat without our own interposition of it (which asks view_path). */
static int raw_fstat(int fd, struct stat *st)
{
	return bpftime_raw_syscall(SYS_fstat, fd, (long)st, 0, 0, 0, 0) < 0 ? -1 : 0;
}

static int view_path(int dirfd, char *out)
{
	if (dirfd < 0 || !__atomic_load_n(&g_nviews, __ATOMIC_ACQUIRE))
		return 0;
	/* By the directory itself, not the fd number: fts works on dup()s of the fd it opened. */
	struct stat st;
	if (raw_fstat(dirfd, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	int found = 0;
	pthread_mutex_lock(&g_views_lock);
	for (int i = 0; i < g_nviews && !found; i++) {
		if (st.st_dev == g_views[i].dev && st.st_ino == g_views[i].ino) {
			strcpy(out, g_views[i].path);
			found = 1;
		}
	}
	pthread_mutex_unlock(&g_views_lock);
	return found;
}

/* Whether some fd of the process still holds the view: the one it was opened as, else a dup
 * of it (fts moves directory fds around), found in /proc/self/fd and remembered instead. */
static int view_in_use(struct view *v)
{
	struct stat cur;
	if (raw_fstat(v->fd, &cur) == 0 && cur.st_dev == v->dev && cur.st_ino == v->ino)
		return 1;
	long dfd = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (dfd < 0)
		return 1; /* cannot tell: keep it */
	char buf[4096];
	long n;
	int found = 0;
	while (!found && (n = bpftime_raw_syscall(SYS_getdents64, dfd, (long)buf, sizeof(buf), 0, 0, 0)) > 0) {
		for (long off = 0; off < n && !found;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(buf + off);
			off += e->reclen;
			char *end;
			long fd = strtol(e->name, &end, 10);
			if (end == e->name || *end || fd == dfd)
				continue;
			if (raw_fstat((int)fd, &cur) == 0 && cur.st_dev == v->dev && cur.st_ino == v->ino) {
				v->fd = (int)fd;
				found = 1;
			}
		}
	}
	bpftime_raw_syscall(SYS_close, dfd, 0, 0, 0, 0, 0);
	return found;
}

static void remember_view(int fd, const char *path)
{
	struct stat st;
	if (raw_fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&g_views_lock);
	/* A slot whose fd no longer holds its view first (closed: find walks hundreds of
	 * directories one after another while their parents stay open), else a new one, else the
	 * oldest, as the server keeps only a process's latest views. */
	static unsigned next_slot;
	int slot = -1;
	for (int i = 0; i < g_nviews && slot < 0; i++)
		if (!view_in_use(&g_views[i]))
			slot = i;
	if (slot < 0)
		slot = g_nviews < MAX_VIEWS ? g_nviews++ : (int)(next_slot++ % MAX_VIEWS);
	g_views[slot].fd = fd;
	g_views[slot].dev = st.st_dev;
	g_views[slot].ino = st.st_ino;
	snprintf(g_views[slot].path, sizeof(g_views[slot].path), "%s", path);
	pthread_mutex_unlock(&g_views_lock);
}

/* Lexical normal form of an absolute path ("//", ".", ".." resolved, no trailing slash) into out;
 * keeps a trailing slash as one "/" at the end when the caller wrote one (it means "a
 * directory"). */
static int normalise(const char *in, char *out)
{
	size_t n = 0;
	const char *p = in;
	int trailing = 0;
	while (*p) {
		while (*p == '/')
			p++;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 0)
			break;
		trailing = *p == '/';
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n + 1 + len + 2 >= PATH_MAX)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, s, len);
		n += len;
	}
	if (n == 0)
		out[n++] = '/';
	if (trailing && n > 1)
		out[n++] = '/';
	out[n] = 0;
	return 0;
}

static int under_root(const char *p)
{
	return strncmp(p, BPFFS_ROOT, BPFFS_ROOT_LEN) == 0 && (p[BPFFS_ROOT_LEN] == 0 || p[BPFFS_ROOT_LEN] == '/');
}

/* Real bpf mounts other than /sys/fs/bpf (read once from /proc/self/mounts): pins made there
 * live in the server, so calls on paths there ask it first. */
#define MAX_MOUNTS 16
static char g_mounts[MAX_MOUNTS][256];
static int g_nmounts;
static pthread_once_t g_mounts_once = PTHREAD_ONCE_INIT;

static void read_mounts(void)
{
	long fd = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)"/proc/self/mounts", O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return;
	static char buf[65536];
	size_t n = 0;
	long r;
	while (n < sizeof(buf) - 1 && (r = bpftime_raw_syscall(SYS_read, fd, (long)(buf + n), (long)(sizeof(buf) - 1 - n), 0, 0, 0)) > 0)
		n += (size_t)r;
	bpftime_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
	buf[n] = 0;
	for (char *line = buf, *end; line && *line && g_nmounts < MAX_MOUNTS; line = end ? end + 1 : NULL) {
		end = strchr(line, '\n');
		if (end)
			*end = 0;
		char dir[256], type[32];
		if (sscanf(line, "%*s %255s %31s", dir, type) != 2 || strcmp(type, "bpf") != 0)
			continue;
		char *o = dir; /* "\040" and friends: octal escapes of the mount point */
		for (const char *i = dir; *i; o++) {
			if (i[0] == '\\' && i[1] >= '0' && i[1] <= '7' && i[2] && i[3]) {
				*o = (char)(((i[1] - '0') << 6) | ((i[2] - '0') << 3) | (i[3] - '0'));
				i += 4;
			} else {
				*o = *i++;
			}
		}
		*o = 0;
		if (!under_root(dir) && strcmp(dir, "/") != 0)
			snprintf(g_mounts[g_nmounts++], sizeof(g_mounts[0]), "%s", dir);
	}
}

static int on_real_mount(const char *p)
{
	pthread_once(&g_mounts_once, read_mounts);
	for (int i = 0; i < g_nmounts; i++) {
		size_t n = strlen(g_mounts[i]);
		if (strncmp(p, g_mounts[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
			return 1;
	}
	return 0;
}

enum { SHIM_PATH_BPFFS = 1, SHIM_PATH_BPF_MOUNT = 2, SHIM_PATH_TRACEFS = 3 };

/* Whether path (relative to dirfd) is for the server: 1 in the runtime's bpffs (/sys/fs/bpf),
 * 2 inside another bpf mount (the server may hand the call back: BPFFS_REAL), 3 in the served
 * tracefs, 0 otherwise. Its
 * absolute normal form is then in out. Only absolute paths there and paths relative to one of
 * our directory fds count: anything else costs a few string compares. */
/* The working directory, for paths relative to it: known from chdir/fchdir (a directory fd we
 * handed out stands for its bpffs path, though the process really sits in the view), read once
 * at the first relative path otherwise. */
static char g_cwd[PATH_MAX];
static int g_cwd_state; /* 0 unknown, 1 known, -1 unknowable */
static pthread_mutex_t g_cwd_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_cwd(int viewfd)
{
	char p[PATH_MAX];
	int ok = viewfd >= 0 && view_path(viewfd, p);
	if (!ok) {
		ok = bpftime_raw_syscall(SYS_getcwd, (long)p, sizeof(p), 0, 0, 0, 0) > 0;
		/* A view inherited as the working directory (a shell cd'd into the bpffs, then exec):
		 * the server wrote what it stands for beside it. */
		char side[PATH_MAX + 8];
		const char *views = strstr(p, "/bpffs-views/");
		if (ok && views && !strchr(views + 13, '/') && snprintf(side, sizeof(side), "%s.path", p) < (int)sizeof(side)) {
			long fd = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)side, O_RDONLY | O_CLOEXEC, 0, 0, 0);
			if (fd >= 0) {
				long n = bpftime_raw_syscall(SYS_read, fd, (long)p, sizeof(p) - 1, 0, 0, 0);
				bpftime_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
				if (n > 0)
					p[n] = 0;
			}
		}
	}
	pthread_mutex_lock(&g_cwd_lock);
	if (ok)
		snprintf(g_cwd, sizeof(g_cwd), "%s", p);
	g_cwd_state = ok ? 1 : -1;
	pthread_mutex_unlock(&g_cwd_lock);
}

static int cwd_path(char *out)
{
	if (__atomic_load_n(&g_cwd_state, __ATOMIC_ACQUIRE) == 0)
		set_cwd(-1);
	pthread_mutex_lock(&g_cwd_lock);
	int ok = g_cwd_state == 1;
	if (ok)
		strcpy(out, g_cwd);
	pthread_mutex_unlock(&g_cwd_lock);
	return ok;
}

/* Copies the string at path (the tool's pointer) into dst without ever faulting, a chunk at a
 * time so that nothing past its end is touched beyond the page it ends in: 1, or 0 when it is
 * unreadable or longer than max (the real call then answers, EFAULT or ENAMETOOLONG). */
static int copy_path(char *dst, const char *path, size_t max)
{
	for (size_t n = 0; n < max;) {
		uintptr_t a = (uintptr_t)(path + n);
		size_t chunk = 4096 - (a & 4095);
		if (chunk > 256)
			chunk = 256;
		if (chunk > max - n)
			chunk = max - n;
		if (shim_read_user(dst + n, path + n, chunk) < 0)
			return 0;
		if (memchr(dst + n, 0, chunk))
			return 1;
		n += chunk;
	}
	return 0;
}

/* The served tracefs (files.c serves its files; its directories are listed and stat'ed here
 * through the server, as the bpffs's): either root, whether or not a real tracefs is there. */
static int in_tracefs(const char *p)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	for (size_t i = 0; i < 2; i++) {
		size_t n = strlen(roots[i]);
		if (strncmp(p, roots[i], n) == 0 && (p[n] == 0 || p[n] == '/'))
			return 1;
	}
	return 0;
}

/* What an absolute normal path is: SHIM_PATH_* (0: none of ours). */
static int kind_of(const char *p)
{
	return under_root(p) ? SHIM_PATH_BPFFS : on_real_mount(p) ? SHIM_PATH_BPF_MOUNT : in_tracefs(p) ? SHIM_PATH_TRACEFS : 0;
}

static int bpffs_path(int dirfd, const char *upath, char *out)
{
	char path[PATH_MAX];
	if (!upath || !copy_path(path, upath, sizeof(path)))
		return 0;
	char joined[PATH_MAX];
	if (path[0] == '/') {
		int virt = under_root(path);
		if (!virt && !on_real_mount(path) && !in_tracefs(path))
			return 0;
		if (normalise(path, out) < 0)
			return 0;
		/* "<tracefs root>/..": out of the served tree, to its real parent (the server hands it
		 * back, and the call runs on the normal form, which exists without a tracefs) */
		return kind_of(out) ? kind_of(out) : in_tracefs(path) ? SHIM_PATH_BPF_MOUNT : 0;
	}
	char base[PATH_MAX];
	if (dirfd == AT_FDCWD ? !cwd_path(base) : !view_path(dirfd, base))
		return 0;
	if (snprintf(joined, sizeof(joined), "%s/%s", base, path) >= (int)sizeof(joined))
		return 0;
	if (normalise(joined, out) < 0)
		return 0;
	return kind_of(out);
}

/* ---- the server calls ---- */

static long call(int op, const char *path, const char *path2, long arg, void *out)
{
	uint64_t args[6] = { (uint64_t)op, (uint64_t)(uintptr_t)path, (uint64_t)(uintptr_t)path2, (uint64_t)arg,
			     (uint64_t)(uintptr_t)out };
	return shim_call(BPFTIME_OP_BPFFS, args, path, strlen(path) + 1, (uint64_t)(uintptr_t)path);
}

static int fail(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static long do_stat(const char *path, struct bpftime_bpffs_stat *s)
{
	memset(s, 0, sizeof(*s));
	return call(OP_STAT, path, NULL, 0, s);
}

static void fill_stat(const struct bpftime_bpffs_stat *s, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = (dev_t)s->dev;
	st->st_ino = (ino_t)s->ino;
	st->st_mode = s->mode;
	st->st_nlink = s->nlink;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_blksize = 4096;
	st->st_atim = (struct timespec){ s->atime_ns / 1000000000, s->atime_ns % 1000000000 };
	st->st_mtim = (struct timespec){ s->mtime_ns / 1000000000, s->mtime_ns % 1000000000 };
	st->st_ctim = (struct timespec){ s->ctime_ns / 1000000000, s->ctime_ns % 1000000000 };
}

/* stat of a path for the server: 1 with *ret set when it answered, 0 when the real
 * filesystem must (a path of another bpf mount that is not a pin). */
static int stat_ours(const char *path, struct stat *st, int *ret)
{
	struct bpftime_bpffs_stat s;
	long r = do_stat(path, &s);
	if (r == -BPFFS_REAL)
		return 0;
	if (r < 0) {
		*ret = fail(r);
		return 1;
	}
	struct stat tmp;
	fill_stat(&s, &tmp);
	*ret = shim_write_user(st, &tmp, sizeof(tmp)) < 0 ? fail(-EFAULT) : 0;
	return 1;
}

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

#define REAL(type, name) \
	static type real_##name; \
	if (!real_##name) \
		real_##name = (type)next(#name)

/* ---- stat family ---- */

typedef int (*stat_fn)(const char *, struct stat *);
typedef int (*fstatat_fn)(int, const char *, struct stat *, int);
typedef int (*xstat_fn)(int, const char *, struct stat *);
typedef int (*fxstatat_fn)(int, int, const char *, struct stat *, int);

/* The stat family, one wrapper shape per calling convention (struct stat64 is struct stat on
 * x86-64): a path of ours, or a directory fd we handed out, is answered by the server; anything
 * else goes to the real call, with a relative path into a bpffs view mapped back to its path. */
#define STAT_PATH(name, stat_t)                                                 \
	EXPORT int name(const char *path, stat_t *st)                           \
	{                                                                       \
		char p[PATH_MAX];                                               \
		int r;                                                          \
		if (bpffs_path(AT_FDCWD, path, p)) {                            \
			if (stat_ours(p, (struct stat *)st, &r))                \
				return r;                                       \
			path = p;                                               \
		}                                                               \
		REAL(stat_fn, name);                                            \
		return real_##name(path, (struct stat *)st);                    \
	}
#define XSTAT_PATH(name, stat_t)                                                \
	EXPORT int name(int ver, const char *path, stat_t *st)                  \
	{                                                                       \
		char p[PATH_MAX];                                               \
		int r;                                                          \
		if (bpffs_path(AT_FDCWD, path, p)) {                            \
			if (stat_ours(p, (struct stat *)st, &r))                \
				return r;                                       \
			path = p;                                               \
		}                                                               \
		REAL(xstat_fn, name);                                           \
		return real_##name(ver, path, (struct stat *)st);               \
	}
#define FSTATAT(name, stat_t)                                                   \
	EXPORT int name(int dirfd, const char *path, stat_t *st, int flags)     \
	{                                                                       \
		char p[PATH_MAX];                                               \
		int r;                                                          \
		if (at_path(dirfd, path, flags, p)) {                           \
			if (stat_ours(p, (struct stat *)st, &r))                \
				return r;                                       \
			path = p;                                               \
			dirfd = AT_FDCWD;                                       \
		}                                                               \
		REAL(fstatat_fn, name);                                         \
		return real_##name(dirfd, path, (struct stat *)st, flags);      \
	}
#define FXSTATAT(name, stat_t)                                                          \
	EXPORT int name(int ver, int dirfd, const char *path, stat_t *st, int flags)    \
	{                                                                               \
		char p[PATH_MAX];                                                       \
		int r;                                                                  \
		if (at_path(dirfd, path, flags, p)) {                                   \
			if (stat_ours(p, (struct stat *)st, &r))                        \
				return r;                                               \
			path = p;                                                       \
			dirfd = AT_FDCWD;                                               \
		}                                                                       \
		REAL(fxstatat_fn, name);                                                \
		return real_##name(ver, dirfd, path, (struct stat *)st, flags);         \
	}
/* fstat of a directory fd we handed out: the bpffs directory's own inode (fts compares it with
 * what stat said of the path before it descends: rm -r, find); for a directory of another bpf
 * mount, the real one's inode. */
#define FSTAT(name, stat_t, fn_t, ...)                                          \
	EXPORT int name(__VA_ARGS__ int fd, stat_t *st)                         \
	{                                                                       \
		char p[PATH_MAX];                                               \
		int r;                                                          \
		if (view_path(fd, p)) {                                         \
			if (stat_ours(p, (struct stat *)st, &r))                \
				return r;                                       \
			REAL(stat_fn, stat);                                    \
			return real_stat(p, (struct stat *)st);                 \
		}                                                               \
		REAL(fn_t, name);                                               \
		return real_##name(FSTAT_VER_##fn_t fd, (struct stat *)st);     \
	}
#define FSTAT_VER_fstat_fn
#define FSTAT_VER_fxstat_fn ver,

typedef int (*fstat_fn)(int, struct stat *);
typedef int (*fxstat_fn)(int, int, struct stat *);

/* An empty path with AT_EMPTY_PATH is the directory fd itself. */
static int at_path(int dirfd, const char *path, int flags, char *out)
{
	char c;
	if (path && (flags & AT_EMPTY_PATH) && shim_read_user(&c, path, 1) == 0 && c == 0)
		return view_path(dirfd, out);
	return bpffs_path(dirfd, path, out);
}

STAT_PATH(stat, struct stat)
STAT_PATH(stat64, struct stat64)
STAT_PATH(lstat, struct stat)
STAT_PATH(lstat64, struct stat64)
FSTATAT(fstatat, struct stat)
FSTATAT(fstatat64, struct stat64)
FSTAT(fstat, struct stat, fstat_fn)
FSTAT(fstat64, struct stat64, fstat_fn)
FSTAT(__fxstat, struct stat, fxstat_fn, int ver,)
FSTAT(__fxstat64, struct stat64, fxstat_fn, int ver,)
/* The pre-2.33 glibc entry points older binaries still call. */
XSTAT_PATH(__xstat, struct stat)
XSTAT_PATH(__xstat64, struct stat64)
XSTAT_PATH(__lxstat, struct stat)
XSTAT_PATH(__lxstat64, struct stat64)
FXSTATAT(__fxstatat, struct stat)
FXSTATAT(__fxstatat64, struct stat64)

typedef int (*statx_fn)(int, const char *, int, unsigned int, struct statx *);

/* statx() as the kernel fills it for a bpffs inode: the basic fields (no birth time), and the
 * mount-root attribute on the root. */
EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *stx)
{
	char p[PATH_MAX];
	struct bpftime_bpffs_stat s;
	long r = 0;
	if (at_path(dirfd, path, flags, p)) {
		if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE))
			return fail(-EINVAL);
		r = do_stat(p, &s);
		if (r == -BPFFS_REAL) {
			path = p;
			dirfd = AT_FDCWD;
		}
	} else {
		r = -BPFFS_REAL;
	}
	if (r == -BPFFS_REAL) {
		REAL(statx_fn, statx);
		return real_statx(dirfd, path, flags, mask, stx);
	}
	if (r < 0)
		return fail(r);
	struct statx x;
	memset(&x, 0, sizeof(x));
	x.stx_mask = STATX_BASIC_STATS;
	x.stx_blksize = 4096;
	x.stx_nlink = s.nlink;
	x.stx_uid = s.uid;
	x.stx_gid = s.gid;
	x.stx_mode = (uint16_t)s.mode;
	x.stx_ino = s.ino;
	x.stx_attributes_mask = STATX_ATTR_AUTOMOUNT | STATX_ATTR_MOUNT_ROOT | STATX_ATTR_DAX;
	if (strcmp(p, BPFFS_ROOT) == 0)
		x.stx_attributes |= STATX_ATTR_MOUNT_ROOT;
	x.stx_atime = (struct statx_timestamp){ s.atime_ns / 1000000000, (uint32_t)(s.atime_ns % 1000000000), 0 };
	x.stx_mtime = (struct statx_timestamp){ s.mtime_ns / 1000000000, (uint32_t)(s.mtime_ns % 1000000000), 0 };
	x.stx_ctime = (struct statx_timestamp){ s.ctime_ns / 1000000000, (uint32_t)(s.ctime_ns % 1000000000), 0 };
	x.stx_dev_major = major((dev_t)s.dev);
	x.stx_dev_minor = minor((dev_t)s.dev);
	if (shim_write_user(stx, &x, sizeof(x)) < 0)
		return fail(-EFAULT);
	return 0;
}

/* ---- changing the namespace ---- */

typedef int (*mkdir_fn)(const char *, mode_t);
typedef int (*mkdirat_fn)(int, const char *, mode_t);
typedef int (*path_fn)(const char *);
typedef int (*unlinkat_fn)(int, const char *, int);
typedef int (*rename_fn)(const char *, const char *);
typedef int (*renameat_fn)(int, const char *, int, const char *);
typedef int (*renameat2_fn)(int, const char *, int, const char *, unsigned int);

EXPORT int mkdir(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	if (bpffs_path(AT_FDCWD, path, p)) {
		long r = call(OP_MKDIR, p, NULL, (long)mode, NULL);
		if (r != -BPFFS_REAL)
			return fail(r);
		path = p;
	}
	REAL(mkdir_fn, mkdir);
	return real_mkdir(path, mode);
}

EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	char p[PATH_MAX];
	if (bpffs_path(dirfd, path, p)) {
		long r = call(OP_MKDIR, p, NULL, (long)mode, NULL);
		if (r != -BPFFS_REAL)
			return fail(r);
		path = p;
		dirfd = AT_FDCWD;
	}
	REAL(mkdirat_fn, mkdirat);
	return real_mkdirat(dirfd, path, mode);
}

EXPORT int rmdir(const char *path)
{
	char p[PATH_MAX];
	if (bpffs_path(AT_FDCWD, path, p)) {
		long r = call(OP_RMDIR, p, NULL, 0, NULL);
		if (r != -BPFFS_REAL)
			return fail(r);
		path = p;
	}
	REAL(path_fn, rmdir);
	return real_rmdir(path);
}

EXPORT int unlink(const char *path)
{
	char p[PATH_MAX];
	if (bpffs_path(AT_FDCWD, path, p)) {
		long r = call(OP_UNLINK, p, NULL, 0, NULL);
		if (r != -BPFFS_REAL)
			return fail(r);
		path = p;
	}
	REAL(path_fn, unlink);
	return real_unlink(path);
}

EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	char p[PATH_MAX];
	if (bpffs_path(dirfd, path, p)) {
		if (flags & ~AT_REMOVEDIR)
			return fail(-EINVAL);
		long r = call(flags & AT_REMOVEDIR ? OP_RMDIR : OP_UNLINK, p, NULL, 0, NULL);
		if (r != -BPFFS_REAL)
			return fail(r);
		path = p;
		dirfd = AT_FDCWD;
	}
	REAL(unlinkat_fn, unlinkat);
	return real_unlinkat(dirfd, path, flags);
}

/* A rename with either side in the bpffs goes to the server: inside it a move, across
 * filesystems EXDEV (the other path is sent as given, resolved there). */
static int rename_ours(int *olddir, const char **oldp, int *newdir, const char **newp, unsigned flags, int *ret,
		       char *a, char *b)
{
	int oa = bpffs_path(*olddir, *oldp, a), ob = bpffs_path(*newdir, *newp, b);
	if (!oa && !ob)
		return 0;
	/* the other side goes to the server as given: a copy, never the tool's pointer */
	if ((!oa && !copy_path(a, *oldp, PATH_MAX)) || (!ob && !copy_path(b, *newp, PATH_MAX))) {
		*ret = fail(-EFAULT);
		return 1;
	}
	long r = call(OP_RENAME, a, b, (long)flags, NULL);
	if (r == -BPFFS_REAL) {
		/* neither side a pin: the real rename, with the paths made absolute */
		if (oa) {
			*oldp = a;
			*olddir = AT_FDCWD;
		}
		if (ob) {
			*newp = b;
			*newdir = AT_FDCWD;
		}
		return 0;
	}
	*ret = fail(r);
	return 1;
}

EXPORT int rename(const char *oldp, const char *newp)
{
	int r, od = AT_FDCWD, nd = AT_FDCWD;
	char a[PATH_MAX], b[PATH_MAX];
	if (rename_ours(&od, &oldp, &nd, &newp, 0, &r, a, b))
		return r;
	REAL(rename_fn, rename);
	return real_rename(oldp, newp);
}

EXPORT int renameat(int olddir, const char *oldp, int newdir, const char *newp)
{
	int r;
	char a[PATH_MAX], b[PATH_MAX];
	if (rename_ours(&olddir, &oldp, &newdir, &newp, 0, &r, a, b))
		return r;
	REAL(renameat_fn, renameat);
	return real_renameat(olddir, oldp, newdir, newp);
}

EXPORT int renameat2(int olddir, const char *oldp, int newdir, const char *newp, unsigned int flags)
{
	int r;
	char a[PATH_MAX], b[PATH_MAX];
	if (rename_ours(&olddir, &oldp, &newdir, &newp, flags, &r, a, b))
		return r;
	REAL(renameat2_fn, renameat2);
	return real_renameat2(olddir, oldp, newdir, newp, flags);
}

/* ---- attributes: chmod, chown, utimensat ---- */

/* Kernel's bpffs inodes take attribute changes (simple_setattr()): modes, owners and times of
 * pins and directories are the server's (a pin of another bpf mount too; its real entries
 * stay the real filesystem's). */
typedef int (*chmod_fn)(const char *, mode_t);
typedef int (*fchmod_fn)(int, mode_t);
typedef int (*fchmodat_fn)(int, const char *, mode_t, int);
typedef int (*chown_fn)(const char *, uid_t, gid_t);
typedef int (*fchown_fn)(int, uid_t, gid_t);
typedef int (*fchownat_fn)(int, const char *, uid_t, gid_t, int);
typedef int (*utimensat_fn)(int, const char *, const struct timespec *, int);
typedef int (*futimens_fn)(int, const struct timespec *);

/* One attribute change on p: 1 with *ret set when the server answered, 0 for the real call. */
static int setattr_ours(int op, const char *p, long arg, void *out, int *ret)
{
	long r = call(op, p, NULL, arg, out);
	if (r == -BPFFS_REAL)
		return 0;
	*ret = fail(r);
	return 1;
}

EXPORT int chmod(const char *path, mode_t mode)
{
	char p[PATH_MAX];
	int r;
	if (bpffs_path(AT_FDCWD, path, p)) {
		if (setattr_ours(OP_CHMOD, p, (long)mode, NULL, &r))
			return r;
		path = p;
	}
	REAL(chmod_fn, chmod);
	return real_chmod(path, mode);
}

EXPORT int fchmod(int fd, mode_t mode)
{
	char p[PATH_MAX];
	int r;
	if (view_path(fd, p) && setattr_ours(OP_CHMOD, p, (long)mode, NULL, &r))
		return r;
	REAL(fchmod_fn, fchmod);
	return real_fchmod(fd, mode);
}

EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	char p[PATH_MAX];
	int r;
	if (at_path(dirfd, path, flags, p)) {
		if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
			return fail(-EINVAL);
		if (setattr_ours(OP_CHMOD, p, (long)mode, NULL, &r))
			return r;
		path = p;
		dirfd = AT_FDCWD;
	}
	REAL(fchmodat_fn, fchmodat);
	return real_fchmodat(dirfd, path, mode, flags);
}

#define CHOWN_PATH(name)                                                               \
	EXPORT int name(const char *path, uid_t uid, gid_t gid)                        \
	{                                                                              \
		char p[PATH_MAX];                                                      \
		int r;                                                                 \
		if (bpffs_path(AT_FDCWD, path, p)) {                                   \
			if (setattr_ours(OP_CHOWN, p, (long)uid, (void *)(uintptr_t)gid, &r)) \
				return r;                                              \
			path = p;                                                      \
		}                                                                      \
		REAL(chown_fn, name);                                                  \
		return real_##name(path, uid, gid);                                    \
	}
CHOWN_PATH(chown)
CHOWN_PATH(lchown)

EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	char p[PATH_MAX];
	int r;
	if (view_path(fd, p) && setattr_ours(OP_CHOWN, p, (long)uid, (void *)(uintptr_t)gid, &r))
		return r;
	REAL(fchown_fn, fchown);
	return real_fchown(fd, uid, gid);
}

EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	char p[PATH_MAX];
	int r;
	if (at_path(dirfd, path, flags, p)) {
		if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
			return fail(-EINVAL);
		if (setattr_ours(OP_CHOWN, p, (long)uid, (void *)(uintptr_t)gid, &r))
			return r;
		path = p;
		dirfd = AT_FDCWD;
	}
	REAL(fchownat_fn, fchownat);
	return real_fchownat(dirfd, path, uid, gid, flags);
}

/* utimensat()'s times as do_utimes() checks them before it looks the path up: EINVAL for a
 * tv_nsec out of range, and nothing at all to do when both are UTIME_OMIT. 1 when there is
 * something to change (times copied into out, or NULL meaning "now" in *use), 0 when done. */
static int utimes_args(const struct timespec *times, struct timespec *out, struct timespec **use, int *ret)
{
	*use = NULL;
	if (!times)
		return 1;
	if (shim_read_user(out, times, 2 * sizeof(*out)) < 0) {
		*ret = fail(-EFAULT);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		long ns = out[i].tv_nsec;
		if (ns != UTIME_NOW && ns != UTIME_OMIT && (ns < 0 || ns >= 1000000000L)) {
			*ret = fail(-EINVAL);
			return 0;
		}
	}
	if (out[0].tv_nsec == UTIME_OMIT && out[1].tv_nsec == UTIME_OMIT) {
		*ret = 0;
		return 0;
	}
	*use = out;
	return 1;
}

/* glibc refuses a NULL path itself (EINVAL; its header declares the path non-null), so only
 * syscall(SYS_utimensat, fd, NULL, ...) means "the fd itself": see shim_file_syscall. */
EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
	char p[PATH_MAX];
	int r;
	struct timespec t[2], *use;
	if (at_path(dirfd, path, flags, p)) {
		if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
			return fail(-EINVAL);
		if (!utimes_args(times, t, &use, &r))
			return r;
		if (setattr_ours(OP_UTIMES, p, 0, use, &r))
			return r;
		path = p;
		dirfd = AT_FDCWD;
	}
	REAL(utimensat_fn, utimensat);
	return real_utimensat(dirfd, path, times, flags);
}

EXPORT int futimens(int fd, const struct timespec times[2])
{
	char p[PATH_MAX];
	int r;
	struct timespec t[2], *use;
	if (view_path(fd, p)) {
		if (!utimes_args(times, t, &use, &r))
			return r;
		if (setattr_ours(OP_UTIMES, p, 0, use, &r))
			return r;
	}
	REAL(futimens_fn, futimens);
	return real_futimens(fd, times);
}

/* ---- access, open, opendir ---- */

/* access()/faccessat(): root may do anything with what exists; others as the mode bits say. */
int shim_bpffs_access(int dirfd, const char *path, int mode, int flags, int *ret)
{
	char p[PATH_MAX];
	if (!at_path(dirfd, path, flags, p))
		return 0;
	struct bpftime_bpffs_stat s;
	long r = do_stat(p, &s);
	if (r == -BPFFS_REAL) {
		/* the real file, by its absolute path (faccessat2 takes the flags) */
		*ret = fail(bpftime_raw_syscall(SYS_faccessat2, AT_FDCWD, (long)p, mode, flags & ~AT_EMPTY_PATH, 0, 0));
		return 1;
	}
	if (r >= 0 && mode && geteuid() != 0) {
		unsigned bits = s.uid == (uint32_t)geteuid() ? (s.mode >> 6) : s.gid == (uint32_t)getegid() ? (s.mode >> 3) : s.mode;
		if ((mode & R_OK && !(bits & 4)) || (mode & W_OK && !(bits & 2)) || (mode & X_OK && !(bits & 1)))
			r = -EACCES;
	}
	*ret = fail(r);
	return 1;
}

/* open()/openat() of a bpffs path: a directory opens as its listing (read-only), a pin as the
 * kernel's bpffs_obj_open() answers. Returns 1 when the path was ours (*ret set). */
int shim_bpffs_open(int dirfd, const char *path, int flags, int mode, int *ret)
{
	char p[PATH_MAX];
	int k = bpffs_path(dirfd, path, p);
	if (!k)
		return 0;
	if (k == SHIM_PATH_TRACEFS) {
		/* a tracefs path relative to a directory or the working directory: as files.c opens
		 * absolute ones (a directory's fd is a view, remembered there) */
		*ret = shim_open_served(p, flags);
		return 1;
	}
	long r = call(OP_OPENDIR, p, NULL, flags, NULL);
	if (r == -BPFFS_REAL) {
		/* the real file, by its absolute path */
		r = bpftime_raw_syscall(SYS_openat, AT_FDCWD, (long)p, flags, (long)mode, 0, 0);
		*ret = fail(r);
		return 1;
	}
	struct stat st;
	if (r >= 0) {
		if (!(flags & O_CLOEXEC))
			fcntl((int)r, F_SETFD, 0); /* the fd arrives close-on-exec */
		size_t n = strlen(p);
		if (n > 1 && p[n - 1] == '/')
			p[n - 1] = 0;
		/* a directory's view; a pinned map read as a file is a plain file that does not seek */
		if (raw_fstat((int)r, &st) == 0 && S_ISDIR(st.st_mode))
			remember_view((int)r, p);
		else
			served_stream_track((int)r);
	}
	*ret = fail(r);
	return 1;
}

/* A directory fd the server handed out for path (a served tracefs directory's view). */
void shim_view_remember(int fd, const char *path)
{
	char p[PATH_MAX];
	if (normalise(path, p) < 0)
		return;
	size_t n = strlen(p);
	if (n > 1 && p[n - 1] == '/')
		p[n - 1] = 0;
	remember_view(fd, p);
}

typedef DIR *(*opendir_fn)(const char *);

/* glibc's opendir() opens the directory itself (not through open()): bpffs and served tracefs
 * directories open as their views, which readdir/readdir64 and getdents64 read as they are. */
EXPORT DIR *opendir(const char *path)
{
	int fd;
	if (shim_bpffs_open(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &fd)) {
		if (fd < 0)
			return NULL;
		DIR *d = fdopendir(fd);
		if (!d) {
			int e = errno;
			close(fd);
			errno = e;
		}
		return d;
	}
	REAL(opendir_fn, opendir);
	return real_opendir(path);
}

/* ---- extended attributes ---- */

/* bpffs inodes have no xattr handlers: what exists answers EOPNOTSUPP to a read and lists none
 * (ls -l asks for ACLs and SELinux labels this way), what does not the path walk's error. */
typedef ssize_t (*getxattr_fn)(const char *, const char *, void *, size_t);
typedef ssize_t (*listxattr_fn)(const char *, char *, size_t);

/* 1 with *ret set when the path is ours (a pin, or the runtime's bpffs), 0 for the real one. */
static int no_xattr(const char *p, int list, ssize_t *ret)
{
	struct bpftime_bpffs_stat s;
	long r = do_stat(p, &s);
	if (r == -BPFFS_REAL)
		return 0;
	*ret = r < 0 ? fail(r) : list ? 0 : fail(-EOPNOTSUPP);
	return 1;
}

#define GETXATTR(name)                                                                  \
	EXPORT ssize_t name(const char *path, const char *attr, void *value, size_t size)  \
	{                                                                               \
		char p[PATH_MAX];                                                       \
		ssize_t r;                                                              \
		if (bpffs_path(AT_FDCWD, path, p)) {                                    \
			if (no_xattr(p, 0, &r))                                         \
				return r;                                               \
			path = p;                                                       \
		}                                                                       \
		REAL(getxattr_fn, name);                                                \
		return real_##name(path, attr, value, size);                            \
	}
#define LISTXATTR(name)                                                                 \
	EXPORT ssize_t name(const char *path, char *list, size_t size)                  \
	{                                                                               \
		char p[PATH_MAX];                                                       \
		ssize_t r;                                                              \
		if (bpffs_path(AT_FDCWD, path, p)) {                                    \
			if (no_xattr(p, 1, &r))                                         \
				return r;                                               \
			path = p;                                                       \
		}                                                                       \
		REAL(listxattr_fn, name);                                               \
		return real_##name(path, list, size);                                   \
	}
GETXATTR(getxattr)
GETXATTR(lgetxattr)
LISTXATTR(listxattr)
LISTXATTR(llistxattr)

/* ---- the working directory ---- */

typedef int (*chdir_fn)(const char *);
typedef int (*fchdir_fn)(int);

/* chdir into a directory of the runtime's bpffs: the process moves into its view (the real
 * directory that lists it), and relative paths map back to the bpffs path. */
EXPORT int chdir(const char *path)
{
	char p[PATH_MAX];
	int k = bpffs_path(AT_FDCWD, path, p);
	if (k == 1 && strcmp(p, BPFFS_ROOT) != 0) {
		int fd, r;
		if (!shim_bpffs_open(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, &fd))
			return fail(-ENOENT);
		if (fd < 0)
			return -1;
		REAL(fchdir_fn, fchdir);
		r = real_fchdir(fd);
		if (r == 0)
			set_cwd(fd);
		int e = errno;
		close(fd);
		errno = e;
		return r;
	}
	REAL(chdir_fn, chdir);
	int r = real_chdir(path);
	if (r == 0)
		set_cwd(-1);
	return r;
}

EXPORT int fchdir(int fd)
{
	REAL(fchdir_fn, fchdir);
	int r = real_fchdir(fd);
	if (r == 0)
		set_cwd(fd);
	return r;
}

/* statfs() of a path of the runtime's bpffs, relative ones included (bpftool checks the
 * directory of a pin path this way before pinning, and mounts a bpffs when it is not one). */
int shim_bpffs_owns(const char *path)
{
	char p[PATH_MAX];
	return bpffs_path(AT_FDCWD, path, p) == 1;
}

/* ---- the same calls made with syscall() ---- */

/* Tools that call syscall(SYS_mkdirat, ...) and friends directly reach the same handlers as
 * the libc functions when a path is ours (the runtime's bpffs, a directory fd we handed out,
 * or a served tracefs path); anything else is left to the raw syscall. Returns 1 with the
 * result (or -errno) in *ret when the call was ours. */
static int path_ours(int dirfd, const char *path)
{
	char p[PATH_MAX];
	if (bpffs_path(dirfd, path, p))
		return 1;
	return path && copy_path(p, path, sizeof(p)) && shim_served_path(p);
}

#define RAW(expr)                                     \
	do {                                          \
		long r_ = (long)(expr);               \
		*ret = r_ < 0 ? -(long)errno : r_;    \
		return 1;                             \
	} while (0)

int shim_file_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long *ret)
{
	const char *p1 = (const char *)a1, *p2 = (const char *)a2;
	int fd1 = (int)a1;
	switch (nr) {
	case SYS_open:
		if (path_ours(AT_FDCWD, p1))
			RAW(open(p1, (int)a2, (int)a3));
		return 0;
	case SYS_openat:
		if (path_ours(fd1, p2))
			RAW(openat(fd1, p2, (int)a3, (int)a4));
		return 0;
	case SYS_stat:
		if (path_ours(AT_FDCWD, p1))
			RAW(stat(p1, (struct stat *)a2));
		return 0;
	case SYS_lstat:
		if (path_ours(AT_FDCWD, p1))
			RAW(lstat(p1, (struct stat *)a2));
		return 0;
	case SYS_newfstatat:
		if (at_path(fd1, p2, (int)a4, (char[PATH_MAX]){ 0 }) || path_ours(fd1, p2))
			RAW(fstatat(fd1, p2, (struct stat *)a3, (int)a4));
		return 0;
	case SYS_fstat:
		if (view_path(fd1, (char[PATH_MAX]){ 0 }))
			RAW(fstat(fd1, (struct stat *)a2));
		return 0;
	case SYS_statx:
		if (at_path(fd1, p2, (int)a3, (char[PATH_MAX]){ 0 }) || path_ours(fd1, p2))
			RAW(statx(fd1, p2, (int)a3, (unsigned)a4, (struct statx *)a5));
		return 0;
	case SYS_access:
		if (path_ours(AT_FDCWD, p1))
			RAW(access(p1, (int)a2));
		return 0;
	case SYS_faccessat:
		if (path_ours(fd1, p2))
			RAW(faccessat(fd1, p2, (int)a3, 0));
		return 0;
	case SYS_faccessat2:
		if (path_ours(fd1, p2))
			RAW(faccessat(fd1, p2, (int)a3, (int)a4));
		return 0;
	case SYS_mkdir:
		if (path_ours(AT_FDCWD, p1))
			RAW(mkdir(p1, (mode_t)a2));
		return 0;
	case SYS_mkdirat:
		if (path_ours(fd1, p2))
			RAW(mkdirat(fd1, p2, (mode_t)a3));
		return 0;
	case SYS_rmdir:
		if (path_ours(AT_FDCWD, p1))
			RAW(rmdir(p1));
		return 0;
	case SYS_unlink:
		if (path_ours(AT_FDCWD, p1))
			RAW(unlink(p1));
		return 0;
	case SYS_unlinkat:
		if (path_ours(fd1, p2))
			RAW(unlinkat(fd1, p2, (int)a3));
		return 0;
	case SYS_rename:
		if (path_ours(AT_FDCWD, p1) || path_ours(AT_FDCWD, p2))
			RAW(rename(p1, p2));
		return 0;
	case SYS_renameat:
		if (path_ours(fd1, p2) || path_ours((int)a3, (const char *)a4))
			RAW(renameat(fd1, p2, (int)a3, (const char *)a4));
		return 0;
	case SYS_renameat2:
		if (path_ours(fd1, p2) || path_ours((int)a3, (const char *)a4))
			RAW(renameat2(fd1, p2, (int)a3, (const char *)a4, (unsigned)a5));
		return 0;
	case SYS_chmod:
		if (path_ours(AT_FDCWD, p1))
			RAW(chmod(p1, (mode_t)a2));
		return 0;
	case SYS_fchmod:
		if (view_path(fd1, (char[PATH_MAX]){ 0 }))
			RAW(fchmod(fd1, (mode_t)a2));
		return 0;
	case SYS_fchmodat: /* the syscall has no flags */
		if (path_ours(fd1, p2))
			RAW(fchmodat(fd1, p2, (mode_t)a3, 0));
		return 0;
	case SYS_fchmodat2:
		if (at_path(fd1, p2, (int)a4, (char[PATH_MAX]){ 0 }) || path_ours(fd1, p2))
			RAW(fchmodat(fd1, p2, (mode_t)a3, (int)a4));
		return 0;
	case SYS_chown:
		if (path_ours(AT_FDCWD, p1))
			RAW(chown(p1, (uid_t)a2, (gid_t)a3));
		return 0;
	case SYS_lchown:
		if (path_ours(AT_FDCWD, p1))
			RAW(lchown(p1, (uid_t)a2, (gid_t)a3));
		return 0;
	case SYS_fchown:
		if (view_path(fd1, (char[PATH_MAX]){ 0 }))
			RAW(fchown(fd1, (uid_t)a2, (gid_t)a3));
		return 0;
	case SYS_fchownat:
		if (at_path(fd1, p2, (int)a5, (char[PATH_MAX]){ 0 }))
			RAW(fchownat(fd1, p2, (uid_t)a3, (gid_t)a4, (int)a5));
		return 0;
	case SYS_utimensat: /* a NULL path is the fd itself (do_utimes_fd(), no flags) */
		if (!p2 && view_path(fd1, (char[PATH_MAX]){ 0 }))
			RAW(a4 ? (errno = EINVAL, -1) : futimens(fd1, (const struct timespec *)a3));
		if (p2 && path_ours(fd1, p2))
			RAW(utimensat(fd1, p2, (const struct timespec *)a3, (int)a4));
		return 0;
	default:
		return 0;
	}
}

/* ---- fstatfs of a directory fd we handed out ---- */

/* The view is a directory of the runtime directory's filesystem; the tool must see the
 * filesystem it opened: tracefs or bpffs (fts decides from f_type whether it may count
 * subdirectories by nlink, which tracefs's eventfs directories do not keep). */
typedef int (*fstatfs_fn)(int, struct statfs *);

EXPORT int fstatfs(int fd, struct statfs *buf)
{
	char p[PATH_MAX];
	REAL(fstatfs_fn, fstatfs);
	int r = real_fstatfs(fd, buf);
	if (r == 0 && view_path(fd, p))
		buf->f_type = in_tracefs(p) ? TRACEFS_MAGIC : BPF_FS_MAGIC;
	return r;
}

/* The same struct on x86-64. */
EXPORT int fstatfs64(int fd, struct statfs64 *buf) { return fstatfs(fd, (struct statfs *)buf); }
