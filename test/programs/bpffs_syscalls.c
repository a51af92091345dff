// File calls on a bpf filesystem made with syscall() instead of libc (mkdir/mkdirat, stat,
// newfstatat, statx, access, open, rename/renameat2, unlink/unlinkat, rmdir), and the attribute
// calls through both (chmod/fchmodat/fchmodat2, chown/lchown/fchownat, utimensat), each step one
// line. test/e2e/bpffs-syscalls.test.ts runs it on a private bpf mount of the kernel and under
// the shim (the runtime's /sys/fs/bpf) and requires the same lines. Times are printed as set or
// as relations (recent / unchanged), never as the clock reads.
//
// Usage: bpffs_syscalls <directory on a bpf filesystem>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "bpf_calls_util.h"

#include "../../src-native/include/bpftime/unistd_newer.h" /* SYS_fchmodat2 on older headers */

static char base[512];

static const char *at(const char *rel)
{
	static char bufs[4][1024];
	static int i;
	char *b = bufs[i++ & 3];
	snprintf(b, 1024, "%s/%s", base, rel);
	return b;
}

/* Mode, owner and (when asked) the times as set: what attribute calls change. */
static void show(const char *name, const char *rel, int times)
{
	struct stat st;
	if (syscall(SYS_newfstatat, AT_FDCWD, at(rel), &st, 0) < 0) {
		printf("%s: %s\n", name, ename(errno));
		return;
	}
	printf("%s: %s mode %o uid %u gid %u", name, S_ISDIR(st.st_mode) ? "dir" : S_ISREG(st.st_mode) ? "file" : "other",
	       st.st_mode & 07777, st.st_uid, st.st_gid);
	if (times) {
		time_t now = time(NULL);
		long at_s = st.st_atim.tv_sec, mt_s = st.st_mtim.tv_sec;
		printf(" atime %s mtime %s", at_s > now - 60 ? "recent" : "", mt_s > now - 60 ? "recent" : "");
		if (at_s <= now - 60)
			printf("(%ld.%09ld)", at_s, st.st_atim.tv_nsec);
		if (mt_s <= now - 60)
			printf("(%ld.%09ld)", mt_s, st.st_mtim.tv_nsec);
		printf(" ctime %s", st.st_ctim.tv_sec > now - 60 ? "recent" : "old");
	}
	printf("\n");
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

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	umask(022);
	snprintf(base, sizeof(base), "%s/bpffs_syscalls_%d", argc > 1 ? argv[1] : "/sys/fs/bpf", (int)getpid());
	int m = map_create();
	if (report("bpf available", m, 0) < 0)
		return 0;

	/* the namespace, through syscall() */
	if (report("SYS_mkdirat", syscall(SYS_mkdirat, AT_FDCWD, base, 0777), 0) < 0)
		return 1;
	report("SYS_mkdir again", syscall(SYS_mkdir, base, 0777), 0);
	report("SYS_mkdir d", syscall(SYS_mkdir, at("d"), 0750), 0);
	report("SYS_mkdir missing parent", syscall(SYS_mkdir, at("x/y"), 0777), 0);
	report("SYS_mkdir a dotted name", syscall(SYS_mkdir, at("a.b"), 0777), 0);
	int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	report("open base", dfd, 0);
	report("SYS_mkdirat relative to the dir", syscall(SYS_mkdirat, dfd, "e", 0700), 0);
	show("stat e", "e", 0);
	report("pin", pin(m, at("m")), 0);
	struct stat st;
	report("SYS_stat pin", syscall(SYS_stat, at("m"), &st), 0);
	printf("SYS_stat pin mode: %o\n", st.st_mode);
	report("SYS_lstat dir", syscall(SYS_lstat, at("d"), &st), 0);
	printf("SYS_lstat dir mode: %o nlink %lu\n", st.st_mode, (unsigned long)st.st_nlink);
	report("SYS_newfstatat relative", syscall(SYS_newfstatat, dfd, "m", &st, 0), 0);
	report("SYS_newfstatat missing", syscall(SYS_newfstatat, dfd, "none", &st, 0), 0);
	report("SYS_newfstatat below a pin", syscall(SYS_newfstatat, AT_FDCWD, at("m/x"), &st, 0), 0);
	struct statx x;
	report("SYS_statx pin", syscall(SYS_statx, AT_FDCWD, at("m"), 0, STATX_BASIC_STATS, &x), 0);
	printf("SYS_statx pin mode: %o\n", x.stx_mode);
	report("SYS_access pin", syscall(SYS_access, at("m"), R_OK | W_OK), 0);
	report("SYS_access missing", syscall(SYS_access, at("none"), F_OK), 0);
	report("SYS_faccessat relative", syscall(SYS_faccessat, dfd, "d", X_OK), 0);
	report("SYS_open pin", syscall(SYS_open, at("m"), O_RDONLY), 0);
	report("SYS_openat pin as a directory", syscall(SYS_openat, AT_FDCWD, at("m"), O_RDONLY | O_DIRECTORY), 0);
	report("SYS_openat create", syscall(SYS_openat, dfd, "new", O_CREAT | O_WRONLY, 0600), 0);

	/* attributes */
	report("chmod pin 0640", chmod(at("m"), 0640), 0);
	show("after chmod", "m", 0);
	report("SYS_chmod d 0711", syscall(SYS_chmod, at("d"), 0711), 0);
	show("after SYS_chmod", "d", 0);
	report("fchmodat pin 0400", fchmodat(AT_FDCWD, at("m"), 0400, 0), 0);
	show("after fchmodat", "m", 0);
	report("SYS_fchmodat relative 04755", syscall(SYS_fchmodat, dfd, "m", 04755), 0);
	show("after SYS_fchmodat", "m", 0);
	report("SYS_fchmodat2 AT_SYMLINK_NOFOLLOW", syscall(SYS_fchmodat2, dfd, "m", 04755, AT_SYMLINK_NOFOLLOW), 0);
	report("SYS_fchmodat2 bad flags", syscall(SYS_fchmodat2, dfd, "m", 0600, 0x4), 0);
	report("chmod missing", chmod(at("none"), 0600), 0);
	report("chmod below a pin", chmod(at("m/x"), 0600), 0);
	report("chown pin -1 -1", chown(at("m"), (uid_t)-1, (gid_t)-1), 0);
	show("after chown -1 -1", "m", 0);
	report("chmod pin 06755", chmod(at("m"), 06755), 0);
	report("chown pin 1000 1001", chown(at("m"), 1000, 1001), 0);
	show("after chown", "m", 0);
	report("SYS_chown d 7 -1", syscall(SYS_chown, at("d"), 7, -1), 0);
	show("after SYS_chown", "d", 0);
	report("lchown d -1 8", lchown(at("d"), (uid_t)-1, 8), 0);
	show("after lchown", "d", 0);
	report("SYS_fchownat relative 0 0", syscall(SYS_fchownat, dfd, "m", 0, 0, 0), 0);
	show("after SYS_fchownat", "m", 0);
	report("fchownat bad flags", fchownat(AT_FDCWD, at("m"), 0, 0, 0x4), 0);
	report("SYS_lchown missing", syscall(SYS_lchown, at("none"), 0, 0), 0);
	report("fchmod the dir fd 0700", fchmod(dfd, 0700), 0);
	show("base after fchmod", "", 0);
	report("fchown the dir fd 3 4", fchown(dfd, 3, 4), 0);
	show("base after fchown", "", 0);

	struct timespec ts[2] = { { 1000, 5 }, { 2000, 6 } };
	report("utimensat pin", utimensat(AT_FDCWD, at("m"), ts, 0), 0);
	show("after utimensat", "m", 1);
	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 3000, 7 } };
	report("utimensat atime omitted", utimensat(AT_FDCWD, at("m"), omit, 0), 0);
	show("after omit", "m", 1);
	struct timespec now[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
	report("SYS_utimensat atime now", syscall(SYS_utimensat, dfd, "m", now, 0), 0);
	show("after now", "m", 1);
	report("utimensat NULL", utimensat(AT_FDCWD, at("d"), NULL, 0), 0);
	show("d after NULL", "d", 1);
	struct timespec bad[2] = { { 0, 1000000000 }, { 0, 0 } };
	report("utimensat bad nsec", utimensat(AT_FDCWD, at("m"), bad, 0), 0);
	struct timespec both_omit[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
	report("utimensat both omitted on a missing path", utimensat(AT_FDCWD, at("none"), both_omit, 0), 0);
	report("utimensat missing", utimensat(AT_FDCWD, at("none"), NULL, 0), 0);
	report("utimensat bad flags", utimensat(AT_FDCWD, at("m"), NULL, 0x2), 0);
	report("SYS_utimensat bad times pointer", syscall(SYS_utimensat, AT_FDCWD, at("m"), (void *)8, 0), 0);
	report("SYS_utimensat the dir fd", syscall(SYS_utimensat, dfd, NULL, ts, 0), 0);
	show("base after futimens", "", 1);

	/* renames and removals, through syscall() */
	report("SYS_renameat2 NOREPLACE onto d", syscall(SYS_renameat2, AT_FDCWD, at("m"), AT_FDCWD, at("d"), RENAME_NOREPLACE), 0);
	report("SYS_renameat2 into d", syscall(SYS_renameat2, AT_FDCWD, at("m"), AT_FDCWD, at("d/m"), RENAME_NOREPLACE), 0);
	show("moved pin keeps its attributes", "d/m", 0);
	report("SYS_renameat relative", syscall(SYS_renameat, dfd, "d/m", dfd, "m2"), 0);
	report("SYS_rename out of the filesystem", syscall(SYS_rename, at("m2"), "/tmp/bpffs_syscalls_x"), 0);
	report("SYS_rename back", syscall(SYS_rename, at("m2"), at("m")), 0);
	report("SYS_unlinkat a dir without AT_REMOVEDIR", syscall(SYS_unlinkat, dfd, "d", 0), 0);
	report("SYS_unlinkat bad flags", syscall(SYS_unlinkat, dfd, "m", 0x1), 0);
	report("SYS_unlink pin", syscall(SYS_unlink, at("m")), 0);
	report("SYS_unlink missing", syscall(SYS_unlink, at("m")), 0);
	report("SYS_rmdir non-empty", syscall(SYS_rmdir, base), 0);
	report("SYS_unlinkat d AT_REMOVEDIR", syscall(SYS_unlinkat, dfd, "d", AT_REMOVEDIR), 0);
	report("SYS_rmdir e", syscall(SYS_rmdir, at("e")), 0);
	report("SYS_rmdir", syscall(SYS_rmdir, base), 0);
	report("SYS_stat removed", syscall(SYS_stat, base, &st), 0);
	return 0;
}
