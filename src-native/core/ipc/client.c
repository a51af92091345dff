/* Client side of the control-plane protocol, shared by the shim and the agent. */
#include "bpftime/client.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

long bpftime_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret; /* -errno on failure, like the kernel returns it */
}

static char g_runtime_dir[PATH_MAX];
static pthread_once_t g_runtime_once = PTHREAD_ONCE_INIT;

/* A variable of the C library's environment array itself, not through getenv: a program may
 * have a getenv of its own (bash answers from its shell variables), and `bpftime attach` sets
 * BPFTIME_RUNTIME_DIR through the C library's setenv. */
static const char *libc_env(const char *name)
{
	size_t n = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, n) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static void init_runtime_dir(void)
{
	const char *d = libc_env("BPFTIME_RUNTIME_DIR");
	if (d && *d) {
		snprintf(g_runtime_dir, sizeof(g_runtime_dir), "%s", d);
	} else if ((d = libc_env("XDG_RUNTIME_DIR")) && *d) {
		snprintf(g_runtime_dir, sizeof(g_runtime_dir), "%s/bpftime", d);
	} else {
		snprintf(g_runtime_dir, sizeof(g_runtime_dir), "/tmp/bpftime-%u", (unsigned)getuid());
	}
	mkdir(g_runtime_dir, 0700);
}

const char *bpftime_runtime_dir(void)
{
	pthread_once(&g_runtime_once, init_runtime_dir);
	return g_runtime_dir;
}

static int try_connect(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Where the project lives: this library is <root>/build/lib/libbpftime-*.so. */
static int project_root(char *out, size_t n)
{
	Dl_info info;
	if (!dladdr((void *)project_root, &info) || !info.dli_fname)
		return -ENOENT;
	char buf[PATH_MAX];
	if (!realpath(info.dli_fname, buf))
		return -errno;
	for (int up = 0; up < 3; up++) { /* strip file name, lib/, build/ */
		char *slash = strrchr(buf, '/');
		if (!slash)
			return -ENOENT;
		*slash = 0;
	}
	snprintf(out, n, "%s", buf);
	return 0;
}

static int find_node(char *out, size_t n)
{
	const char *env = getenv("BPFTIME_NODE");
	if (env && *env) {
		snprintf(out, n, "%s", env);
		return 0;
	}
	const char *path = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s:/usr/local/bin:/usr/bin:/bin", path ? path : "");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, n, "%s/node", d);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Variables the server's environment goes without: LD_PRELOAD (the server is not itself
 * shimmed) and NODE_EXTRA_CA_CERTS, whose mere presence makes Node 20 parse every root
 * certificate before running any JavaScript (~100 ms of each cold start; the server makes no TLS
 * connections). */
static int dropped_from_server_env(const char *e)
{
	return strncmp(e, "LD_PRELOAD=", 11) == 0 || strncmp(e, "NODE_EXTRA_CA_CERTS=", 20) == 0 ||
	       strncmp(e, "BPFTIME_READY_FD=", 17) == 0;
}

/* Starts the server detached (double fork, new session, see dropped_from_server_env), logging
 * to <runtime dir>/server.log. Everything the child needs is built before fork: after fork in a
 * multi-threaded tool only async-signal-safe calls are allowed. Returns the read end of a pipe
 * the server writes a byte to once it listens (fd 3 there, named by BPFTIME_READY_FD), and that
 * reads EOF when it exits without listening (another server won the lock): the caller waits on
 * it rather than trying to connect in a sleeping loop. */
static int spawn_server(void)
{
	char node[PATH_MAX], root[PATH_MAX], script[PATH_MAX + 64], log[PATH_MAX + 16];
	if (find_node(node, sizeof(node)) < 0) {
		fprintf(stderr, "bpftime: cannot start the syscall server: no `node` in PATH "
				"(set BPFTIME_NODE to the Node.js binary)\n");
		return -ENOENT;
	}
	const char *js = getenv("BPFTIME_SERVER_JS");
	if (js && *js) {
		snprintf(script, sizeof(script), "%s", js);
	} else {
		if (project_root(root, sizeof(root)) < 0)
			return -ENOENT;
		snprintf(script, sizeof(script), "%s/dist/src-ts/server/main.js", root);
	}
	if (access(script, R_OK) < 0) {
		fprintf(stderr, "bpftime: cannot start the syscall server: %s is missing "
				"(run `npm install` in the bpftime checkout)\n", script);
		return -ENOENT;
	}
	snprintf(log, sizeof(log), "%s/server.log", bpftime_runtime_dir());

	size_t nenv = 0;
	while (environ && environ[nenv])
		nenv++;
	char **envp = calloc(nenv + 2, sizeof(char *));
	if (!envp)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < nenv; i++)
		if (!dropped_from_server_env(environ[i]))
			envp[k++] = environ[i];
	envp[k++] = "BPFTIME_READY_FD=3";
	envp[k] = NULL;
	char *argv[] = { node, script, "--runtime-dir", (char *)bpftime_runtime_dir(), "--daemon", NULL };
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0) {
		int e = errno;
		free(envp);
		return -e;
	}

	/* Raw fork: glibc's fork() would run the process's atfork handlers, and the shim's take the
	 * connection lock this call already holds. The child only makes raw system calls. */
	long pid = bpftime_raw_syscall(SYS_fork, 0, 0, 0, 0, 0, 0);
	if (pid < 0) {
		free(envp);
		bpftime_raw_syscall(SYS_close, ready[0], 0, 0, 0, 0, 0);
		bpftime_raw_syscall(SYS_close, ready[1], 0, 0, 0, 0, 0);
		return (int)pid;
	}
	if (pid == 0) {
		bpftime_raw_syscall(SYS_setsid, 0, 0, 0, 0, 0, 0);
		if (bpftime_raw_syscall(SYS_fork, 0, 0, 0, 0, 0, 0) != 0)
			bpftime_raw_syscall(SYS_exit_group, 0, 0, 0, 0, 0, 0);
		long devnull = bpftime_raw_syscall(SYS_open, (long)"/dev/null", O_RDONLY, 0, 0, 0, 0);
		long lf = bpftime_raw_syscall(SYS_open, (long)log, O_WRONLY | O_CREAT | O_APPEND, 0600, 0, 0, 0);
		if (devnull >= 0)
			bpftime_raw_syscall(SYS_dup2, devnull, 0, 0, 0, 0, 0);
		if (lf >= 0) {
			bpftime_raw_syscall(SYS_dup2, lf, 1, 0, 0, 0, 0);
			bpftime_raw_syscall(SYS_dup2, lf, 2, 0, 0, 0, 0);
		}
		/* The ready pipe's write end becomes fd 3 without close-on-exec (dup2 onto itself
		 * would keep the flag: clear it then). */
		if (ready[1] == 3)
			bpftime_raw_syscall(SYS_fcntl, 3, F_SETFD, 0, 0, 0, 0);
		else
			bpftime_raw_syscall(SYS_dup2, ready[1], 3, 0, 0, 0, 0);
		bpftime_raw_syscall(SYS_close_range, 4, ~0U, 0, 0, 0, 0);
		bpftime_raw_syscall(SYS_execve, (long)node, (long)argv, (long)envp, 0, 0, 0);
		bpftime_raw_syscall(SYS_exit_group, 127, 0, 0, 0, 0, 0);
	}
	free(envp);
	bpftime_raw_syscall(SYS_close, ready[1], 0, 0, 0, 0, 0);
	int st;
	while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR)
		;
	return ready[0];
}

/* Waits (at most ms) until the fd is readable or hung up: the server's ready pipe. */
static void wait_ready(int fd, int ms)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = ms - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)left);
		if (r != 0 && !(r < 0 && errno == EINTR))
			return;
	}
}

/* Where our socket goes: near the top of the fd limit, out of the way of the process's own fds
 * (a tool's first map should get the fd number it gets on a kernel). -1: leave it. */
static long high_slot(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 128)
		return -1;
	return (long)(rl.rlim_cur > 65536 ? 65536 : rl.rlim_cur) - 32;
}

void bpftime_client_prepare_fd_slot(void)
{
	long want = high_slot();
	if (want < 0)
		return;
	long fd = bpftime_raw_syscall(SYS_open, (long)"/", O_PATH | O_CLOEXEC, 0, 0, 0, 0);
	if (fd < 0)
		return;
	long hi = bpftime_raw_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, want, 0, 0, 0);
	if (hi >= 0)
		bpftime_raw_syscall(SYS_close, hi, 0, 0, 0, 0, 0);
	bpftime_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
}

static int move_high(int fd)
{
	long want = high_slot();
	if (fd < 0 || want < 0)
		return fd;
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, want);
	if (hi < 0)
		return fd;
	bpftime_raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
	return hi;
}

int bpftime_client_peer_pidfd(int sock, int *pid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return -errno;
	if (cr.pid <= 0)
		return -ESRCH;
	*pid = cr.pid;
	long fd = bpftime_raw_syscall(SYS_pidfd_open, cr.pid, 0, 0, 0, 0, 0); /* close-on-exec */
	return fd < 0 ? (int)fd : move_high((int)fd);
}

int bpftime_client_connect(int autostart)
{
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/server.sock", bpftime_runtime_dir());
	int fd = move_high(try_connect(path));
	if (fd >= 0 || !autostart)
		return fd;
	int rc = spawn_server();
	if (rc < 0)
		return rc;
	/* Node starts in ~100 ms; allow a slow machine 15 s before giving up. */
	wait_ready(rc, 15000);
	bpftime_raw_syscall(SYS_close, rc, 0, 0, 0, 0, 0);
	fd = try_connect(path);
	if (fd >= 0)
		return move_high(fd);
	/* Our server found another one starting (it holds the lock): wait for that one. */
	for (int i = 0; i < 1500; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		fd = try_connect(path);
		if (fd >= 0)
			return move_high(fd);
	}
	fprintf(stderr, "bpftime: the syscall server did not start; see %s/server.log\n",
		bpftime_runtime_dir());
	return fd;
}

int bpftime_send_frame(int sock, uint16_t type, uint32_t seq, const void *payload, uint32_t len,
		       const int *fds, int nfds)
{
	struct bpftime_frame hdr = { BPFTIME_PROTO_MAGIC, type, (uint16_t)nfds, len, seq };
	union {
		char raw[CMSG_SPACE(sizeof(int) * BPFTIME_MAX_FDS_PER_FRAME)];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	if (nfds > BPFTIME_MAX_FDS_PER_FRAME)
		return -E2BIG;
	if (nfds > 0) {
		memset(&ctrl, 0, sizeof(ctrl));
		msg.msg_control = ctrl.raw;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	size_t total = sizeof(hdr) + len;
	while (total > 0) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total -= (size_t)n;
		msg.msg_control = NULL; /* the fds went with the first bytes */
		msg.msg_controllen = 0;
		while (n > 0 && msg.msg_iovlen > 0) {
			if ((size_t)n >= msg.msg_iov[0].iov_len) {
				n -= (ssize_t)msg.msg_iov[0].iov_len;
				msg.msg_iov++;
				msg.msg_iovlen--;
			} else {
				msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + n;
				msg.msg_iov[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 0;
}

static int read_full(int sock, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = recv(sock, p, len, 0);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			/* EAGAIN: the receive timeout of a socket that has one (bpftime_recv_frame_intr) */
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bpftime_recv_frame(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
		       int *nfds)
{
	return bpftime_recv_frame_intr(sock, hdr, payload, fds, max_fds, nfds, NULL, NULL, NULL);
}

static int recv_frame_body(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
			   int *nfds, void (*on_intr)(void *), void *arg, volatile int *between_frames);

int bpftime_recv_frame_intr(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
			    int *nfds, void (*on_intr)(void *), void *arg, volatile int *between_frames)
{
	int rc = recv_frame_body(sock, hdr, payload, fds, max_fds, nfds, on_intr, arg, between_frames);
	if (between_frames)
		*between_frames = 0;
	return rc;
}

static int recv_frame_body(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
			   int *nfds, void (*on_intr)(void *), void *arg, volatile int *between_frames)
{
	union {
		char raw[CMSG_SPACE(sizeof(int) * BPFTIME_MAX_FDS_PER_FRAME)];
		struct cmsghdr align;
	} ctrl;
	size_t got = 0;
	*nfds = 0;
	*payload = NULL;
	/* The fds ride on the header's bytes: collect them from whichever recvmsg returns those. */
	while (got < sizeof(*hdr)) {
		struct iovec iov = { (char *)hdr + got, sizeof(*hdr) - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.raw,
				      .msg_controllen = sizeof(ctrl.raw) };
		if (between_frames)
			*between_frames = got == 0;
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
		if (between_frames && n > 0)
			*between_frames = 0;
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR) {
				if (got == 0 && on_intr)
					on_intr(arg); /* a signal handler ran while we waited for the frame */
				continue;
			}
			if (on_intr && (errno == EAGAIN || errno == EWOULDBLOCK))
				continue; /* the socket's receive timeout passed: keep waiting */
			return -errno;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *p = (int *)CMSG_DATA(c);
			for (int i = 0; i < cnt; i++) {
				if (*nfds < max_fds)
					fds[(*nfds)++] = p[i];
				else
					close(p[i]);
			}
		}
		got += (size_t)n;
	}
	if (hdr->magic != BPFTIME_PROTO_MAGIC || hdr->len > BPFTIME_MAX_FRAME)
		return -EPROTO;
	if (hdr->len) {
		*payload = malloc(hdr->len);
		if (!*payload)
			return -ENOMEM;
		int rc = read_full(sock, *payload, hdr->len);
		if (rc < 0) {
			free(*payload);
			*payload = NULL;
			return rc;
		}
	}
	return 0;
}

int bpftime_buf_put(struct bpftime_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int bpftime_buf_pad8(struct bpftime_buf *b)
{
	static const uint8_t zeros[8];
	size_t pad = (8 - (b->len & 7)) & 7;
	return bpftime_buf_put(b, zeros, pad);
}

void bpftime_buf_free(struct bpftime_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
