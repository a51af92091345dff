// The tracefs directory tree as tools walk it: stat/lstat/fstatat/statx/access of directories and
// files, opendir/readdir/readdir64, fdopendir, getdents64 through syscall(), calls relative to a
// directory fd, and the path-walk errors, each step one line. test/e2e/tracefs-dirs.test.ts runs
// it on the kernel's tracefs and under the shim (at both tracefs paths, whether or not one is
// mounted there) and requires the same lines. Inode numbers and times are not printed; the
// root's link count is not either (the kernel's root holds directories that are not served).
//
// Usage: tracefs_dirs <tracefs root>
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *root;

static const char *ename(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

static const char *at(const char *rel)
{
	static char bufs[4][1024];
	static int i;
	char *b = bufs[i++ & 3];
	snprintf(b, 1024, "%s%s%s", root, *rel ? "/" : "", rel);
	return b;
}

static void show(const char *name, int r, const struct stat *st, int nlink)
{
	if (r < 0) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	printf("%s: %s mode %o size %ld", name, S_ISDIR(st->st_mode) ? "dir" : S_ISREG(st->st_mode) ? "file" : "other",
	       st->st_mode & 07777, (long)st->st_size);
	if (nlink)
		printf(" nlink %lu", (unsigned long)st->st_nlink);
	printf("\n");
}

static void do_stat(const char *rel, int nlink)
{
	struct stat st;
	char name[300];
	snprintf(name, sizeof(name), "stat %s", *rel ? rel : "(root)");
	show(name, stat(at(rel), &st), &st, nlink);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* names with their d_type, sorted (readdir order is the filesystem's own), or only whether
 * the listing holds `want` when given */
static void list(const char *how, const char *rel, int use64)
{
	DIR *d = opendir(at(rel));
	if (!d) {
		printf("%s %s: %s\n", how, rel, ename(errno));
		return;
	}
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof(*names));
	for (;;) {
		const char *nm;
		unsigned char type;
		if (use64) {
			struct dirent64 *e = readdir64(d);
			if (!e)
				break;
			nm = e->d_name;
			type = e->d_type;
		} else {
			struct dirent *e = readdir(d);
			if (!e)
				break;
			nm = e->d_name;
			type = e->d_type;
		}
		if (n == cap)
			names = realloc(names, (cap *= 2) * sizeof(*names));
		if (asprintf(&names[n], "%s(%s)", nm, type == DT_DIR ? "dir" : type == DT_REG ? "reg" : "other") > 0)
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("%s %s: %zu:", how, rel, n);
	for (size_t i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
	free(names);
}

/* whether a directory's listing holds name (for directories the kernel fills with more) */
static void holds(const char *rel, const char *name)
{
	DIR *d = opendir(at(rel));
	int found = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		found |= strcmp(e->d_name, name) == 0;
	if (d)
		closedir(d);
	printf("%s holds %s: %s\n", *rel ? rel : "(root)", name, d ? (found ? "yes" : "no") : ename(errno));
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	root = argc > 1 ? argv[1] : "/sys/kernel/tracing";

	do_stat("", 0);
	do_stat("events", 1);
	do_stat("events/syscalls", 1);
	do_stat("events/syscalls/sys_enter_openat", 1);
	do_stat("events/syscalls/sys_enter_fchmodat2", 1);
	do_stat("events/syscalls/sys_enter_openat/id", 1);
	do_stat("events/syscalls/sys_enter_openat/format", 1);
	do_stat("events/syscalls/sys_enter_openat/enable", 1);
	do_stat("events/syscalls/sys_enter_openat/filter", 1);
	do_stat("events/syscalls/enable", 1);
	do_stat("events/syscalls/filter", 1);
	do_stat("events/raw_syscalls/sys_exit", 1);
	do_stat("available_events", 1);
	do_stat("uprobe_events", 1);
	do_stat("trace_pipe", 1);
	do_stat("events/syscalls/sys_enter_nosuch", 1);
	do_stat("events/nosuch/sys_enter_openat", 1);
	do_stat("events/syscalls/sys_enter_openat/id/x", 1);
	do_stat("events/syscalls/sys_enter_openat/id/", 1);
	do_stat("events/syscalls/sys_enter_openat/", 1);
	do_stat("events/./syscalls/../syscalls/sys_enter_openat", 1);

	struct stat st;
	show("lstat events/syscalls", lstat(at("events/syscalls"), &st), &st, 1);
	struct statx x;
	int r = statx(AT_FDCWD, at("events/syscalls/sys_enter_openat/format"), 0, STATX_BASIC_STATS, &x);
	if (r < 0)
		printf("statx format: %s\n", ename(errno));
	else
		printf("statx format: mode %o nlink %u size %llu\n", x.stx_mode, x.stx_nlink, (unsigned long long)x.stx_size);
	printf("access events/syscalls X_OK: %s\n", access(at("events/syscalls"), X_OK) == 0 ? "ok" : ename(errno));
	printf("access missing event: %s\n", access(at("events/syscalls/sys_enter_nosuch"), F_OK) == 0 ? "ok" : ename(errno));
	static const char *const modes[] = { "uprobe_events", "available_events", "events/syscalls/sys_enter_openat/id",
					     "events/syscalls/sys_enter_openat/enable", "events", "events/syscalls/enable/x" };
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		printf("access %s R/W/X: %s %s %s\n", modes[i], access(at(modes[i]), R_OK) == 0 ? "ok" : ename(errno),
		       access(at(modes[i]), W_OK) == 0 ? "ok" : ename(errno), access(at(modes[i]), X_OK) == 0 ? "ok" : ename(errno));

	list("readdir", "events/syscalls", 0);
	list("readdir64", "events/raw_syscalls", 1);
	list("readdir64", "events/syscalls/sys_exit_fchmodat2", 1);
	list("readdir", "events/syscalls/sys_enter_nosuch", 0);
	list("readdir", "events/syscalls/sys_enter_openat/id", 0);
	holds("", "events");
	holds("", "available_events");
	holds("", "uprobe_events");
	holds("", "trace_pipe");
	holds("events", "syscalls");
	holds("events", "raw_syscalls");

	int dfd = open(at("events/syscalls/sys_enter_openat"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	printf("open event dir: %s\n", dfd >= 0 ? "ok" : ename(errno));
	if (dfd >= 0) {
		show("fstat event dir fd", fstat(dfd, &st), &st, 1);
		show("fstatat id relative", fstatat(dfd, "id", &st, 0), &st, 1);
		show("fstatat missing relative", fstatat(dfd, "nosuch", &st, 0), &st, 1);
		show("fstatat .. relative", fstatat(dfd, "..", &st, 0), &st, 1);
		show("fstatat AT_EMPTY_PATH", fstatat(dfd, "", &st, AT_EMPTY_PATH), &st, 1);
		printf("faccessat id relative: %s\n", faccessat(dfd, "id", R_OK, 0) == 0 ? "ok" : ename(errno));
		int idfd = openat(dfd, "id", O_RDONLY | O_CLOEXEC);
		char buf[64] = { 0 };
		long n = idfd >= 0 ? read(idfd, buf, sizeof(buf) - 1) : -1;
		printf("openat id relative: %s\n", n > 0 ? "read a number" : ename(errno));
		if (idfd >= 0)
			close(idfd);
		printf("openat id relative as a directory: %s\n", openat(dfd, "id", O_RDONLY | O_DIRECTORY) >= 0 ? "ok" : ename(errno));
		/* getdents64 through syscall(), as programs that list directories without libc do */
		char dbuf[8192];
		long got = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf));
		int count = 0, dirs = 0;
		for (long off = 0; off < got;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(dbuf + off);
			if (strcmp(e->name, ".") && strcmp(e->name, "..")) {
				count++;
				dirs += e->type == DT_DIR;
			}
			off += e->reclen;
		}
		printf("getdents64 entries: %d (directories %d)\n", count, dirs);
		/* fdopendir on a dup: the listing again, from the start */
		lseek(dfd, 0, SEEK_SET);
		DIR *d = fdopendir(dup(dfd));
		int m = 0;
		struct dirent *e;
		while (d && (e = readdir(d)))
			m += !strcmp(e->d_name, "format") || !strcmp(e->d_name, "id");
		printf("fdopendir on a dup: %s, format and id: %d\n", d ? "ok" : ename(errno), m);
		if (d)
			closedir(d);
		close(dfd);
	}
	/* attributes: tracefs and eventfs inodes take them (each change undone after) */
	const char *idp = at("events/syscalls/sys_enter_close/id");
	printf("chmod id 0444: %s\n", chmod(idp, 0444) == 0 ? "ok" : ename(errno));
	show("stat id after chmod", stat(idp, &st), &st, 1);
	printf("chmod id back: %s\n", chmod(idp, 0440) == 0 ? "ok" : ename(errno));
	printf("chown id 0 0: %s\n", chown(idp, 0, 0) == 0 ? "ok" : ename(errno));
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };
	printf("utimensat id: %s\n", utimensat(AT_FDCWD, idp, ts, 0) == 0 ? "ok" : ename(errno));
	printf("mtime after utimensat: %ld\n", stat(idp, &st) == 0 ? (long)st.st_mtim.tv_sec : -1L);
	printf("utimensat id now: %s\n", utimensat(AT_FDCWD, idp, NULL, 0) == 0 ? "ok" : ename(errno));
	printf("chmod a missing event: %s\n", chmod(at("events/syscalls/sys_enter_nosuch/id"), 0444) == 0 ? "ok" : ename(errno));
	int wfd = open(at("events/syscalls/sys_enter_openat/id"), O_WRONLY | O_CLOEXEC);
	printf("open id for writing: %s\n", wfd >= 0 ? "ok" : ename(errno));
	if (wfd >= 0) {
		printf("write id: %s\n", write(wfd, "1\n", 2) >= 0 ? "ok" : ename(errno));
		printf("write id nothing: %s\n", write(wfd, "", 0) >= 0 ? "ok" : ename(errno));
		printf("pwrite id: %s\n", pwrite(wfd, "1\n", 2, 0) >= 0 ? "ok" : ename(errno));
		close(wfd);
	}
	printf("open the uprobe PMU's type for writing: %s\n", open("/sys/bus/event_source/devices/uprobe/type", O_WRONLY) >= 0 ? "ok" : ename(errno));
	printf("open a directory for writing: %s\n", open(at("events/syscalls"), O_WRONLY) >= 0 ? "ok" : ename(errno));
	printf("open a file as a directory: %s\n", open(at("available_events"), O_RDONLY | O_DIRECTORY) >= 0 ? "ok" : ename(errno));
	printf("mkdir in events/syscalls: %s\n", mkdir(at("events/syscalls/mine"), 0755) == 0 ? "ok" : ename(errno));
	printf("mkdir over an event: %s\n", mkdir(at("events/syscalls/sys_enter_openat"), 0755) == 0 ? "ok" : ename(errno));
	printf("rmdir an event: %s\n", rmdir(at("events/syscalls/sys_enter_openat")) == 0 ? "ok" : ename(errno));
	printf("unlink a file: %s\n", unlink(at("events/syscalls/enable")) == 0 ? "ok" : ename(errno));
	printf("unlink a missing file: %s\n", unlink(at("events/syscalls/nosuch")) == 0 ? "ok" : ename(errno));
	printf("SYS_newfstatat an event dir: %s\n", syscall(SYS_newfstatat, AT_FDCWD, at("events/syscalls/sys_enter_openat"), &st, 0) == 0 && S_ISDIR(st.st_mode) ? "dir" : ename(errno));
	printf("SYS_openat a directory: %s\n", syscall(SYS_openat, AT_FDCWD, at("events/raw_syscalls"), O_RDONLY | O_DIRECTORY) >= 0 ? "ok" : ename(errno));
	return 0;
}
