// File operations on a bpf filesystem: mkdir, stat/lstat/fstatat/statx, opendir/readdir and raw
// getdents64, open, access, xattrs, rename/renameat2, unlink/unlinkat/rmdir, and the lifetime of
// a pinned object, each step printed as one line. test/e2e/bpffs-differential.test.ts runs it on
// a private bpf mount of the kernel and under the shim (the runtime's /sys/fs/bpf) and requires
// the same lines. Everything happens in a fresh subdirectory, so what the mount's root holds
// (the kernel's maps.debug/progs.debug) does not matter; inode numbers and times are printed as
// relations only.
//
// Usage: bpffs_calls <directory on a bpf filesystem>
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "bpf_calls_util.h"

static char base[512];

static const char *at(const char *rel)
{
	static char bufs[4][1024];
	static int i;
	char *b = bufs[i++ & 3];
	snprintf(b, 1024, "%s/%s", base, rel);
	return b;
}

static void show_stat(const char *name, int r, const struct stat *st)
{
	if (r < 0) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	printf("%s: %s mode %o nlink %lu size %ld blocks %ld blksize %ld uid %u gid %u rdev %lu\n", name,
	       S_ISDIR(st->st_mode) ? "dir" : S_ISREG(st->st_mode) ? "file" : "other", st->st_mode & 07777,
	       (unsigned long)st->st_nlink, (long)st->st_size, (long)st->st_blocks, (long)st->st_blksize, st->st_uid,
	       st->st_gid, (unsigned long)st->st_rdev);
}

static void do_stat(const char *name, const char *rel)
{
	struct stat st;
	int r = stat(at(rel), &st);
	show_stat(name, r, &st);
}

static int map_create(void)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 4;
	return (int)sys_bpf(BPF_MAP_CREATE, &a, sizeof(a));
}

static long pin(int fd, const char *path)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.bpf_fd = fd;
	a.pathname = (uintptr_t)path;
	return sys_bpf(BPF_OBJ_PIN, &a, sizeof(a));
}

static int obj_get(const char *path)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)path;
	return (int)sys_bpf(BPF_OBJ_GET, &a, sizeof(a));
}

static uint32_t map_id(int fd)
{
	struct bpf_map_info info;
	memset(&info, 0, sizeof(info));
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) < 0 ? 0 : info.id;
}

/* Whether the map with this id is gone within a second (the kernel frees it from a work queue). */
static int freed(uint32_t id)
{
	for (int i = 0; i < 100; i++) {
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.map_id = id;
		int fd = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof(a));
		if (fd < 0 && errno == ENOENT)
			return 1;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	return 0;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names (with their d_type) of a directory, sorted: readdir order is the filesystem's own. */
static void list_dir(const char *name, const char *rel)
{
	DIR *d = opendir(at(rel));
	if (!d) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < 64) {
		char *s = malloc(300);
		snprintf(s, 300, "%s(%s)", e->d_name, e->d_type == DT_DIR ? "dir" : e->d_type == DT_REG ? "reg" : "other");
		names[n++] = s;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("%s:", name);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	snprintf(base, sizeof(base), "%s/bpffs_calls_%d", argc > 1 ? argv[1] : "/sys/fs/bpf", (int)getpid());
	int m = map_create();
	if (report("bpf available", m, 0) < 0)
		return 0;
	if (report("mkdir", mkdir(base, 0777), 0) < 0)
		return 1;
	report("mkdir again", mkdir(base, 0777), 0);
	report("mkdir with missing parent", mkdir(at("a/b"), 0777), 0);
	do_stat("stat dir", "");
	report("pin", pin(m, at("m")), 0);
	report("pin again", pin(m, at("m")), 0);
	do_stat("stat pin", "m");
	struct stat sd, sm, sm2;
	stat(base, &sd);
	stat(at("m"), &sm);
	printf("same device: %d, distinct inodes: %d\n", sd.st_dev == sm.st_dev, sd.st_ino != sm.st_ino && sm.st_ino != 0);
	int l = lstat(at("m"), &sm2);
	show_stat("lstat pin", l, &sm2);
	printf("lstat same inode: %d\n", sm2.st_ino == sm.st_ino);
	do_stat("stat pin with trailing slash", "m/");
	do_stat("stat below a pin", "m/x");
	do_stat("stat missing", "none");
	report("mkdir d", mkdir(at("d"), 0777), 0);
	report("mkdir d2 0700", mkdir(at("d2"), 0700), 0);
	report("mkdir d3 01777", mkdir(at("d3"), 01777), 0);
	do_stat("stat d2", "d2");
	do_stat("stat d3", "d3");
	do_stat("stat dir now", "");
	report("mkdir over a pin", mkdir(at("m"), 0777), 0);
	report("mkdir a name with a dot", mkdir(at("x.y"), 0777), 0);
	report("pin a name with a dot", pin(m, at("p.q")), 0);
	do_stat("stat a name with a dot", "x.y");

	struct statx x;
	int r = statx(AT_FDCWD, at("m"), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &x);
	if (r < 0)
		printf("statx pin: %s\n", ename(errno));
	else
		printf("statx pin: mask 0x%x mode %o nlink %u size %llu blocks %llu attributes 0x%llx ino match %d\n",
		       x.stx_mask & (STATX_BASIC_STATS | STATX_BTIME), x.stx_mode, x.stx_nlink,
		       (unsigned long long)x.stx_size, (unsigned long long)x.stx_blocks,
		       (unsigned long long)x.stx_attributes, x.stx_ino == sm.st_ino);
	r = statx(AT_FDCWD, at("m"), 0x40000000, STATX_BASIC_STATS, &x);
	printf("statx bad flags: %s\n", r < 0 ? ename(errno) : "ok");

	list_dir("readdir", "");
	int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (report("open dir", dfd, 0) >= 0) {
		char buf[4096];
		long n = syscall(SYS_getdents64, dfd, buf, sizeof(buf));
		int count = 0;
		for (long off = 0; off < n;) {
			struct { uint64_t ino; int64_t off; unsigned short reclen; unsigned char type; char name[]; } *e = (void *)(buf + off);
			count++;
			off += e->reclen;
		}
		printf("getdents64 entries: %d\n", count);
		struct stat st;
		show_stat("fstatat pin relative to the dir", fstatat(dfd, "m", &st, AT_SYMLINK_NOFOLLOW), &st);
		show_stat("fstatat d relative to the dir", fstatat(dfd, "d", &st, 0), &st);
		show_stat("fstatat missing relative to the dir", fstatat(dfd, "none", &st, 0), &st);
	}
	report("open pin read-only", open(at("m"), O_RDONLY), 0);
	report("open pin as a directory", open(at("m"), O_RDONLY | O_DIRECTORY), 0);
	report("open dir write-only", open(base, O_WRONLY), 0);
	report("open missing", open(at("none"), O_RDONLY), 0);
	report("create a file", open(at("new"), O_CREAT | O_WRONLY, 0600), 0);
	report("create in a missing dir", open(at("none/new"), O_CREAT | O_WRONLY, 0600), 0);
	report("create over a pin exclusively", open(at("m"), O_CREAT | O_EXCL | O_WRONLY, 0600), 0);
	report("open dir with O_CREAT", open(base, O_CREAT | O_RDONLY, 0600), 0);
	report("access pin rw", access(at("m"), R_OK | W_OK), 0);
	report("access missing", access(at("none"), F_OK), 0);
	report("faccessat dir", faccessat(AT_FDCWD, base, X_OK, 0), 0);
	char xv[64];
	printf("getxattr pin: %s\n", getxattr(at("m"), "user.x", xv, sizeof(xv)) < 0 ? ename(errno) : "ok");
	printf("listxattr pin: %ld\n", (long)listxattr(at("m"), xv, sizeof(xv)));

	/* Bad pointers: EFAULT, never a crash. */
	struct stat bad;
	report("stat bad path pointer", stat((const char *)8, &bad), 0);
	report("stat bad buffer", stat(at("m"), (struct stat *)8), 0);
	report("statx bad buffer", statx(AT_FDCWD, at("m"), 0, STATX_BASIC_STATS, (struct statx *)8), 0);
	report("mkdir bad path pointer", mkdir((const char *)8, 0777), 0);
	report("rename to a bad pointer", rename(at("m"), (const char *)8), 0);
	report("unlinkat bad path pointer", unlinkat(AT_FDCWD, (const char *)8, 0), 0);
	report("unlink a directory", unlink(at("d")), 0);
	report("rmdir a pin", rmdir(at("m")), 0);
	report("rmdir non-empty", rmdir(base), 0);
	report("unlink missing", unlink(at("none")), 0);

	uint32_t id = map_id(m);
	report("rename pin into d", rename(at("m"), at("d/m")), 0);
	do_stat("stat old name", "m");
	int g = obj_get(at("d/m"));
	printf("obj_get new name: %s\n", g < 0 ? ename(errno) : map_id(g) == id ? "same map" : "other map");
	if (g >= 0)
		close(g);
	report("rename d over empty d2", rename(at("d"), at("d2")), 0);
	do_stat("stat d2 after", "d2");
	report("rename d2 into itself", rename(at("d2"), at("d2/x")), 0);
	report("rename out of the filesystem", rename(at("d2/m"), "/tmp/bpffs_calls_x"), 0);
	report("rename dir over a pin", rename(at("d3"), at("d2/m")), 0);
	report("mkdir d4", mkdir(at("d4"), 0777), 0);
	report("pin in d4", pin(m, at("d4/p")), 0);
	report("rename pin over a dir", rename(at("d4/p"), at("d3")), 0);
	report("rename dir over non-empty dir", rename(at("d3"), at("d4")), 0);
	report("renameat2 NOREPLACE onto a pin", renameat2(AT_FDCWD, at("d4/p"), AT_FDCWD, at("d2/m"), RENAME_NOREPLACE), 0);
	report("rename pin over a pin", rename(at("d4/p"), at("d2/m")), 0);
	do_stat("stat d4 after", "d4");
	list_dir("readdir after renames", "");
	list_dir("readdir d2", "d2");
	list_dir("readdir a pin", "d2/m");
	list_dir("readdir missing", "none");

	/* The last reference: the pin, once the fd is closed. */
	close(m);
	printf("map alive with its pin: %d\n", !freed(id) ? 1 : 0);
	if (dfd >= 0)
		report("unlinkat pin relative to the dir", unlinkat(dfd, "d2/m", 0), 0);
	printf("map freed after unlink: %d\n", freed(id));
	report("unlinkat dir without AT_REMOVEDIR", unlinkat(dfd, "d2", 0), 0);
	report("unlinkat d2 AT_REMOVEDIR", unlinkat(dfd, "d2", AT_REMOVEDIR), 0);
	report("rmdir d3", rmdir(at("d3")), 0);
	report("rmdir d4", rmdir(at("d4")), 0);
	report("rmdir", rmdir(base), 0);
	do_stat("stat removed dir", "");
	return 0;
}
