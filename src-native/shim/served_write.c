/* Writes to served tracefs files opened for writing (uprobe_events). The kernel parses each
 * write() to such a file when it is made and fails it with the command's errno (EINVAL for bad
 * syntax, ENOENT for a missing binary, EEXIST, EBUSY), so every write on such an fd goes to the
 * server synchronously (BPFTIME_OP_WRITE) instead of into the memfd the open returned.
 *
 * The fds are few and short-lived (bcc opens, writes one line, closes), so a small table keyed
 * by fd number is enough; close, dup2/dup3/dup and fcntl(F_DUPFD) keep it true (a shell's
 * `echo ... >> uprobe_events` writes through a dup2'd stdout). write(), writev() and the
 * positioned writes are interposed; stdio's internal writes (fwrite, fprintf) call the kernel
 * from inside libc and reach the memfd.
 *
 * The same table keeps the fds of pinned maps opened as files (bpffs.c): the kernel's bpffs
 * seq_file does not seek (lseek is ESPIPE whatever the whence; pread still reads from the start),
 * while the memfd holding the text would. */
#undef _FILE_OFFSET_BITS /* this file defines pwrite and pwrite64 itself (see interpose.c) */
#include "shim.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bpftime/client.h"
#include "bpftime/proto.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_SERVED_WRITERS 64

static struct {
	int fd;
	char *path;
} g_writers[MAX_SERVED_WRITERS];
static int g_count; /* read without the lock on every write(): zero almost always */
#define MAX_SERVED_STREAMS 64
/* fd + 1 (0: a free slot), and the file it was: an fd closed behind our back (fclose's internal
 * close, a raw syscall) and reused for another file is told apart by its inode. */
static struct {
	int fd1;
	dev_t dev;
	ino_t ino;
} g_streams[MAX_SERVED_STREAMS];
static int g_nstreams; /* read without the lock on every lseek(): zero almost always */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int find_locked(int fd)
{
	for (int i = 0; i < MAX_SERVED_WRITERS; i++)
		if (g_writers[i].path && g_writers[i].fd == fd)
			return i;
	return -1;
}

static void forget_locked(int fd)
{
	int i = find_locked(fd);
	if (i >= 0) {
		free(g_writers[i].path);
		g_writers[i].path = NULL;
		__atomic_sub_fetch(&g_count, 1, __ATOMIC_RELEASE);
	}
}

static int track_locked(int fd, const char *path)
{
	forget_locked(fd);
	for (int i = 0; i < MAX_SERVED_WRITERS; i++) {
		if (g_writers[i].path)
			continue;
		g_writers[i].path = strdup(path);
		if (!g_writers[i].path)
			return -ENOMEM;
		g_writers[i].fd = fd;
		__atomic_add_fetch(&g_count, 1, __ATOMIC_RELEASE);
		return 0;
	}
	return -EMFILE;
}

static int stream_find_locked(int fd)
{
	for (int i = 0; i < MAX_SERVED_STREAMS; i++)
		if (g_streams[i].fd1 == fd + 1)
			return i;
	return -1;
}

static void stream_forget_locked(int fd)
{
	int i = stream_find_locked(fd);
	if (i >= 0) {
		g_streams[i].fd1 = 0;
		__atomic_sub_fetch(&g_nstreams, 1, __ATOMIC_RELEASE);
	}
}

/* fstat without our own interposition of it. */
static int file_id(int fd, dev_t *dev, ino_t *ino)
{
	struct stat st;
	if (bpftime_raw_syscall(SYS_fstat, fd, (long)&st, 0, 0, 0, 0) < 0)
		return -1;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

static void stream_track_locked(int fd)
{
	dev_t dev;
	ino_t ino;
	stream_forget_locked(fd);
	if (file_id(fd, &dev, &ino) < 0)
		return;
	for (int i = 0; i < MAX_SERVED_STREAMS; i++) {
		if (g_streams[i].fd1)
			continue;
		g_streams[i].fd1 = fd + 1;
		g_streams[i].dev = dev;
		g_streams[i].ino = ino;
		__atomic_add_fetch(&g_nstreams, 1, __ATOMIC_RELEASE);
		return;
	}
	/* more than 64 open at once: the rest seek as the memfd does */
}

void served_stream_track(int fd)
{
	pthread_mutex_lock(&g_lock);
	stream_track_locked(fd);
	pthread_mutex_unlock(&g_lock);
}

static int is_stream(int fd)
{
	if (!__atomic_load_n(&g_nstreams, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&g_lock);
	int i = stream_find_locked(fd), r = 0;
	if (i >= 0) {
		dev_t dev;
		ino_t ino;
		r = file_id(fd, &dev, &ino) == 0 && dev == g_streams[i].dev && ino == g_streams[i].ino;
		if (!r)
			stream_forget_locked(fd); /* closed behind our back: the number is another file's now */
	}
	pthread_mutex_unlock(&g_lock);
	return r;
}

int served_write_track(int fd, const char *path)
{
	pthread_mutex_lock(&g_lock);
	int r = track_locked(fd, path);
	pthread_mutex_unlock(&g_lock);
	return r;
}

void served_write_forget(int fd)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE) && !__atomic_load_n(&g_nstreams, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&g_lock);
	forget_locked(fd);
	stream_forget_locked(fd);
	pthread_mutex_unlock(&g_lock);
}

void served_write_dup(int oldfd, int newfd)
{
	if ((!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE) && !__atomic_load_n(&g_nstreams, __ATOMIC_ACQUIRE)) || oldfd == newfd)
		return;
	pthread_mutex_lock(&g_lock);
	if (stream_find_locked(oldfd) >= 0)
		stream_track_locked(newfd);
	else
		stream_forget_locked(newfd);
	int i = find_locked(oldfd);
	if (i >= 0) {
		char *path = strdup(g_writers[i].path);
		if (path)
			track_locked(newfd, path);
		free(path);
	} else {
		forget_locked(newfd); /* dup2 over one of ours closed it */
	}
	pthread_mutex_unlock(&g_lock);
}

/* The served path fd was opened on for writing, into path; 0 when fd is not such an fd. */
static int served_path(int fd, char *path, size_t size)
{
	if (!__atomic_load_n(&g_count, __ATOMIC_ACQUIRE))
		return 0;
	path[0] = 0;
	pthread_mutex_lock(&g_lock);
	int i = find_locked(fd);
	if (i >= 0)
		strncpy(path, g_writers[i].path, size - 1);
	pthread_mutex_unlock(&g_lock);
	path[size - 1] = 0;
	return path[0] != 0;
}

/* One write() on a served file, as its kernel write handler runs: the bytes written or -errno. */
static long send_write(const char *path, const void *buf, size_t len)
{
	uint64_t args[6] = { (uint64_t)(uintptr_t)path, (uint64_t)(uintptr_t)buf, (uint64_t)len };
	return shim_call(BPFTIME_OP_WRITE, args, path, strlen(path) + 1, (uint64_t)(uintptr_t)path);
}

static ssize_t result(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (ssize_t)r;
}

/* writev() on a served file: these files have only a .write handler, so the kernel calls it once
 * per segment (do_loop_readv_writev) and stops at the first that fails or writes short; bytes
 * already written win over a later error. */
static long send_writev(const char *path, const struct iovec *iov, int cnt)
{
	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	struct iovec seg;
	long done = 0;
	for (int i = 0; i < cnt; i++) {
		if (shim_read_user(&seg, &iov[i], sizeof(seg)) < 0)
			return done ? done : -EFAULT;
		if ((ssize_t)seg.iov_len < 0)
			return -EINVAL;
		if (!seg.iov_len)
			continue;
		long r = send_write(path, seg.iov_base, seg.iov_len);
		if (r < 0)
			return done ? done : r;
		done += r;
		if ((size_t)r < seg.iov_len)
			break;
	}
	return done;
}

/* A positioned write on a served file: uprobe_events and kprobe_events are seq_files, whose
 * open clears FMODE_PWRITE (ESPIPE); the others have no write handler at all (EINVAL, as the
 * server answers their writes). Offset -1 (pwritev/pwritev2) means "the current position",
 * which is a plain writev. */
static long pwrite_errno(const char *path)
{
	size_t n = strlen(path);
	int seq = (n >= 14 && strcmp(path + n - 14, "/uprobe_events") == 0) || (n >= 14 && strcmp(path + n - 14, "/kprobe_events") == 0);
	return seq ? -ESPIPE : -EINVAL;
}
#define SERVED_PWRITE_ERRNO(path) pwrite_errno(path)

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*writev_fn)(int, const struct iovec *, int);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);
typedef ssize_t (*pwritev2_fn)(int, const struct iovec *, int, off_t, int);

#define NEXT(type, name)                                  \
	static type real_##name;                           \
	if (!real_##name)                                  \
		real_##name = (type)dlsym(RTLD_NEXT, #name)

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	char path[4096];
	if (served_path(fd, path, sizeof(path)))
		return result(send_write(path, buf, len));
	NEXT(write_fn, write);
	return real_write(fd, buf, len);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	char path[4096];
	if (served_path(fd, path, sizeof(path)))
		return result(send_writev(path, iov, cnt));
	NEXT(writev_fn, writev);
	return real_writev(fd, iov, cnt);
}

#define PWRITE(name)                                                                   \
	EXPORT ssize_t name(int fd, const void *buf, size_t len, off_t off)          \
	{                                                                              \
		char path[4096];                                                       \
		if (served_path(fd, path, sizeof(path)))                               \
			return result(SERVED_PWRITE_ERRNO(path));                           \
		NEXT(pwrite_fn, name);                                                 \
		return real_##name(fd, buf, len, off);                                 \
	}
#define PWRITEV(name)                                                                          \
	EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off)             \
	{                                                                                      \
		char path[4096];                                                               \
		if (served_path(fd, path, sizeof(path)))                                       \
			return result(off == -1 ? send_writev(path, iov, cnt) : SERVED_PWRITE_ERRNO(path)); \
		NEXT(pwritev_fn, name);                                                        \
		return real_##name(fd, iov, cnt, off);                                         \
	}
#define PWRITEV2(name)                                                                               \
	EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off, int flags)        \
	{                                                                                            \
		char path[4096];                                                                     \
		if (served_path(fd, path, sizeof(path))) {                                           \
			if (flags & ~(RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND))    \
				return result(-EOPNOTSUPP);                                          \
			return result(off == -1 ? send_writev(path, iov, cnt) : SERVED_PWRITE_ERRNO(path)); \
		}                                                                                    \
		NEXT(pwritev2_fn, name);                                                             \
		return real_##name(fd, iov, cnt, off, flags);                                        \
	}
/* off_t is 64 bits on x86-64: the *64 names are the same functions. */
PWRITE(pwrite)
PWRITE(pwrite64)
PWRITEV(pwritev)
PWRITEV(pwritev64)
PWRITEV2(pwritev2)
PWRITEV2(pwritev64v2)

typedef off_t (*lseek_fn)(int, off_t, int);

#define LSEEK(name)                                        \
	EXPORT off_t name(int fd, off_t off, int whence)   \
	{                                                  \
		if (is_stream(fd)) {                       \
			errno = ESPIPE;                    \
			return -1;                         \
		}                                          \
		NEXT(lseek_fn, name);                      \
		return real_##name(fd, off, whence);       \
	}
LSEEK(lseek)
LSEEK(lseek64)
