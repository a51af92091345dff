/* The agent: loaded into a traced process (LD_PRELOAD by `bpftime start`), it registers with the
 * syscall server, receives the attachments for this process whenever they are made or removed,
 * and installs or removes hooks. The conversation runs on one agent thread that never triggers
 * probes itself. At start the process waits (briefly) until the attachments that already exist
 * are installed, so a target started after the tool is traced from its first instruction. */
#include "agent.h"
#include "bpftime/vma.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/attach.h"
#include "bpftime/client.h"
#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/ringbuf.h"
#include "bpftime/syscall_hook.h"
#include "setxid.h"

#define EXPORT __attribute__((visibility("default")))
/* The LD_AUDIT stage (src-native/early), beside the agent: what the image does before the agent. */
#define EARLY_LIB "libbpftime-early.so"

static int g_sock = -1;
static pthread_mutex_t g_send_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_ready_cond = PTHREAD_COND_INITIALIZER;
static int g_ready;
static uint32_t *g_live; /* attach ids installed here, to drop them if the server goes */
static uint8_t *g_live_timer; /* per g_live entry: a clock event (its timer is not inherited by fork) */
static size_t g_nlive, g_caplive;
/* Handling of one message (and the drop of every hook when the server goes) runs under this lock,
 * which fork takes too: a child never inherits the agent's state half changed. */
static pthread_mutex_t g_conv_lock = PTHREAD_MUTEX_INITIALIZER;
/* Forked children get an agent thread of their own (bpftime start, and bpftime attach without
 * --no-follow); a tool's own agent (the shim's) does not follow. */
static int g_follow_forks;
/* In a forked child, until its agent's HELLO_REPLY: the attachments it inherited from the parent
 * (hooks copied with its memory, running already) that the server has not sent again. Those it
 * sends are kept as they are; those it does not (removed since the fork, or filtered to another
 * pid) are removed then. */
static uint32_t *g_inherited;
static size_t g_ninherited;
/* The next agent thread starts in a forked child: it registers after FORKED_CHILD_DELAY_MS. */
static int g_forked_child;
#define FORKED_CHILD_DELAY_MS 20
/* `bpftime detach`: the server told this agent to quit; its thread leaves instead of reconnecting. */
static int g_quit;
/* The server this agent talked to went away: no server is started in its place (agent_thread). */
static int g_lost_server;
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_running; /* an agent thread exists (under g_start_lock) */

static void set_ready(void)
{
	pthread_mutex_lock(&g_ready_lock);
	g_ready = 1;
	pthread_cond_broadcast(&g_ready_cond);
	pthread_mutex_unlock(&g_ready_lock);
}

static int send_msg(uint16_t type, const void *payload, uint32_t len)
{
	pthread_mutex_lock(&g_send_lock);
	int rc = g_sock >= 0 ? bpftime_send_frame(g_sock, type, 0, payload, len, NULL, 0) : -ENOTCONN;
	pthread_mutex_unlock(&g_send_lock);
	return rc;
}

void agent_send_trace(const char *text, size_t len)
{
	/* On the program's thread: who printed, where and when, as trace_pipe shows it. */
	struct {
		struct bpftime_trace h;
		char text[1024];
	} m = { 0 };
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m.h.pid = (uint32_t)gettid();
	m.h.cpu = (uint32_t)sched_getcpu();
	m.h.ts_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	prctl(PR_GET_NAME, m.h.comm, 0, 0, 0);
	if (len > sizeof(m.text))
		len = sizeof(m.text);
	memcpy(m.text, text, len);
	send_msg(BPFTIME_MSG_TRACE, &m, (uint32_t)(sizeof(m.h) + len));
}

void agent_report(uint32_t attach_id, int status, const char *msg)
{
	struct bpftime_buf b = { 0 };
	struct bpftime_attach_result r = { attach_id, status };
	bpftime_buf_put(&b, &r, sizeof(r));
	bpftime_buf_put(&b, msg, strlen(msg) + 1);
	send_msg(BPFTIME_MSG_ATTACH_RESULT, b.data, (uint32_t)b.len);
	bpftime_buf_free(&b);
}

/* Ring buffer maps of the program: the eventfd each one's producers write to wake its consumer
 * (one per wake_ids[j], fds[j]; kept by the map's handle for good, so dup'ed here). */
static void set_wake_fds(struct agent_prog *prog, const uint32_t *wake_ids, const int *fds, uint32_t n)
{
	for (uint32_t j = 0; j < n; j++)
		for (uint32_t i = 0; i < prog->nmaps; i++)
			if (bpftime_map_id(prog->maps[i]) == wake_ids[j]) {
				int fd = fcntl(fds[j], F_DUPFD_CLOEXEC, 0);
				if (fd >= 0)
					bpftime_ringbuf_set_wake_fd(prog->maps[i], fd);
				break;
			}
}

/* An attachment this forked child inherited and the server sent again: the copied hook stays (it
 * has been running here since the fork); the server is told how it stands. */
static int adopt_inherited(uint32_t attach_id)
{
	for (size_t i = 0; i < g_ninherited; i++)
		if (g_inherited[i] == attach_id) {
			g_inherited[i] = g_inherited[--g_ninherited];
			int waiting = agent_probe_waiting(attach_id);
			agent_report(attach_id, waiting ? BPFTIME_ATTACH_WAITING : 0,
				     waiting ? "waiting (inherited from the parent process)" : "inherited from the parent process");
			if (waiting)
				agent_probes_waiting_reported();
			return 1;
		}
	return 0;
}

static void on_attach(const uint8_t *p, uint32_t len, const int *fds, int nfds)
{
	char msg[512] = "";
	const struct bpftime_attach *a = (const void *)p;
	if (len < sizeof(*a) || a->nmaps > BPFTIME_MAX_FDS_PER_FRAME || a->nwake > a->nmaps ||
	    sizeof(*a) + ((a->path_len + 7u) & ~7u) + 4ull * (a->nmaps + a->nwake) > len || a->path_len == 0 ||
	    nfds < 1 + (int)(a->nmaps + a->nwake)) {
		return; /* malformed: nothing sensible to answer to */
	}
	if (g_ninherited && adopt_inherited(a->attach_id))
		return;
	const char *path = (const char *)(a + 1);
	const uint32_t *map_ids = (const uint32_t *)(p + sizeof(*a) + ((a->path_len + 7u) & ~7u));
	struct agent_prog *prog = agent_prog_get(a->prog_id, fds[0], map_ids, fds + 1, a->nmaps, msg, sizeof(msg));
	if (prog)
		set_wake_fds(prog, map_ids + a->nmaps, fds + 1 + a->nmaps, a->nwake);
	int rc = -EINVAL;
	if (prog && a->kind == BPFTIME_ATTACH_TIMER) {
		rc = agent_timer_attach(a, prog, msg, sizeof(msg));
		if (rc < 0)
			agent_prog_put(prog);
	} else if (prog && (a->kind == BPFTIME_ATTACH_SYSCALL_TP || /* and programs on syscall functions: */
			    (a->kind >= BPFTIME_ATTACH_SYSCALL_KPROBE && a->kind <= BPFTIME_ATTACH_SYSCALL_FEXIT))) {
		rc = agent_syscall_tp_attach(a, path, prog, msg, sizeof(msg));
		if (rc < 0)
			agent_prog_put(prog);
	} else if (prog) {
		rc = agent_probe_attach(a, path, prog, msg, sizeof(msg));
		if (rc < 0)
			agent_prog_put(prog);
	}
	if (rc == 0 || rc == BPFTIME_ATTACH_WAITING) {
		if (g_nlive == g_caplive) {
			size_t cap = g_caplive ? g_caplive * 2 : 16;
			uint32_t *n = realloc(g_live, cap * sizeof(*n));
			if (n)
				g_live = n;
			uint8_t *k = realloc(g_live_timer, cap);
			if (k)
				g_live_timer = k;
			if (n && k)
				g_caplive = cap;
		}
		if (g_nlive < g_caplive) {
			g_live_timer[g_nlive] = a->kind == BPFTIME_ATTACH_TIMER;
			g_live[g_nlive++] = a->attach_id;
		}
	}
	agent_report(a->attach_id, rc, msg);
	if (rc == BPFTIME_ATTACH_WAITING)
		agent_probes_waiting_reported();
}

/* A program that sits in a prog array: made runnable here (and so a bpf_tail_call target, see
 * progs.c) and kept for good; the answer lets the server update the slot. */
static void on_prog(const uint8_t *p, uint32_t len, const int *fds, int nfds)
{
	char msg[512] = "";
	const struct bpftime_prog_push *m = (const void *)p;
	if (len < sizeof(*m) || m->nmaps > BPFTIME_MAX_FDS_PER_FRAME || m->nwake > m->nmaps ||
	    sizeof(*m) + 4ull * (m->nmaps + m->nwake) > len || nfds < (m->prog_id ? 1 : 0) + (int)(m->nmaps + m->nwake))
		return;
	const uint32_t *map_ids = (const uint32_t *)(m + 1);
	if (m->prog_id == 0) { /* maps only (inner maps of a map-in-map): their memfds, then the
				* eventfds of the ring buffers among them */
		int rc = agent_maps_get(map_ids, fds, m->nmaps, msg, sizeof(msg));
		for (uint32_t j = 0; rc == 0 && j < m->nwake; j++) {
			struct bpftime_map *ring = bpftime_map_by_id(map_ids[m->nmaps + j]);
			int fd = ring ? fcntl(fds[m->nmaps + j], F_DUPFD_CLOEXEC, 0) : -1;
			if (fd >= 0 && bpftime_ringbuf_set_wake_fd(ring, fd) < 0)
				close(fd);
		}
		agent_report(m->push_id, rc, msg);
		return;
	}
	struct agent_prog *prog = agent_prog_get(m->prog_id, fds[0], map_ids, fds + 1, m->nmaps, msg, sizeof(msg));
	if (prog)
		set_wake_fds(prog, map_ids + m->nmaps, fds + 1 + m->nmaps, m->nwake);
	agent_report(m->push_id, prog ? 0 : -EINVAL, msg);
}

static void on_detach(uint32_t id)
{
	agent_probe_detach(id);
	agent_syscall_tp_detach(id);
	agent_timer_detach(id);
	for (size_t i = 0; i < g_nlive; i++)
		if (g_live[i] == id) {
			g_live_timer[i] = g_live_timer[g_nlive - 1];
			g_live[i] = g_live[--g_nlive];
			break;
		}
}

/* HELLO_REPLY in a forked child: what it inherited and the server did not send again goes. */
static void drop_unconfirmed_inherited(void)
{
	while (g_ninherited)
		on_detach(g_inherited[--g_ninherited]);
}

static int say_hello(int sock)
{
	struct bpftime_buf b = { 0 };
	struct bpftime_hello h = { .role = BPFTIME_ROLE_AGENT, .version = BPFTIME_PROTO_VERSION, .pid = (uint32_t)getpid() };
	/* The process's name (its main thread's), not this thread's. */
	FILE *cf = fopen("/proc/self/comm", "re");
	if (cf) {
		if (fgets(h.comm, sizeof(h.comm), cf))
			h.comm[strcspn(h.comm, "\n")] = 0;
		fclose(cf);
	}
	char exe[4096] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	bpftime_buf_put(&b, &h, sizeof(h));
	bpftime_buf_put(&b, exe, strlen(exe) + 1);
	int rc = bpftime_send_frame(sock, BPFTIME_MSG_HELLO, 1, b.data, (uint32_t)b.len, NULL, 0);
	bpftime_buf_free(&b);
	return rc;
}

/* One conversation with a server, until it ends. */
static void converse(int sock)
{
	for (;;) {
		struct bpftime_frame hdr;
		void *payload = NULL;
		int fds[BPFTIME_MAX_FDS_PER_FRAME], nfds = 0;
		if (bpftime_recv_frame(sock, &hdr, &payload, fds, BPFTIME_MAX_FDS_PER_FRAME, &nfds) < 0)
			return;
		pthread_mutex_lock(&g_conv_lock);
		switch (hdr.type) {
		case BPFTIME_MSG_HELLO_REPLY:
			drop_unconfirmed_inherited();
			set_ready(); /* the attachments that existed were sent before this */
			break;
		case BPFTIME_MSG_ATTACH:
			on_attach(payload, hdr.len, fds, nfds);
			break;
		case BPFTIME_MSG_TASK_LAYOUT: /* before the first program that reads a task stand-in */
			agent_task_set_layout(payload, hdr.len);
			/* then the vm_area_struct layout for bpf_find_vma (vma_layout.ts) */
			if (hdr.len > sizeof(struct bpftime_task_layout))
				bpftime_vma_set_layout((const char *)payload + sizeof(struct bpftime_task_layout),
						       hdr.len - (uint32_t)sizeof(struct bpftime_task_layout));
			break;
		case BPFTIME_MSG_PERF_SLOT:
			if (hdr.len >= sizeof(struct bpftime_perf_slot))
				agent_perf_slot(payload, fds, nfds);
			break;
		case BPFTIME_MSG_DETACH:
			if (hdr.len >= sizeof(struct bpftime_detach))
				on_detach(((struct bpftime_detach *)payload)->attach_id);
			break;
		case BPFTIME_MSG_AGENT_QUIT:
			g_quit = 1;
			break;
		case BPFTIME_MSG_PROG:
			on_prog(payload, hdr.len, fds, nfds);
			break;
		}
		pthread_mutex_unlock(&g_conv_lock);
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		free(payload);
		if (g_quit)
			return; /* the hooks go below, then the connection: the server waits for that close */
	}
}

/* The server's socket lives in a directory only its owner may enter. A process that changed ids
 * (setpriv, su, a daemon dropping root) and then exec'ed finds it there but may not connect
 * (EACCES): it stays untraced, as a process of another user would be, and neither starts a
 * server of its own in the other user's directory nor waits for one (the program runs at once).
 * A connection made before the change stays: the socket is open, the ids do not matter. */
static int connect_server(int autostart)
{
	static int told;
	int s = bpftime_client_connect(0);
	if (s == -EACCES || s == -EPERM) {
		if (!told++)
			fprintf(stderr, "bpftime agent: uid %u may not reach the server in %s; this process is not traced\n",
				(unsigned)getuid(), bpftime_runtime_dir());
		return s;
	}
	return s >= 0 || !autostart ? s : bpftime_client_connect(1);
}

static void *agent_thread(void *arg)
{
	(void)arg;
	bpftime_probe_thread_exclude(1);
	bpftime_syscall_hook_exclude_thread(1); /* the agent's own syscalls are not the target's */
	prctl(PR_SET_NAME, "bpftime-agent", 0, 0, 0);
	agent_setxid_thread_enter(); /* set*id calls of the program find this thread in step */
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGTRAP); /* int3 probe sites must never find this thread with SIGTRAP blocked */
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the application's business */
	if (__atomic_exchange_n(&g_forked_child, 0, __ATOMIC_ACQ_REL)) {
		/* A forked child that execs at once (most do: shells, spawners) is gone before this
		 * ends and never costs the server a registration; the hooks it inherited run meanwhile. */
		struct timespec ts = { 0, FORKED_CHILD_DELAY_MS * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* After losing a server the agent starts none: the program runs on untraced (its hooks went
	 * with the server's objects) and registers with the next server someone starts, found by a
	 * connect attempt every 2 s at most; a forked child's agent thread inherits that. */
	for (int backoff_ms = 50;; backoff_ms = backoff_ms < 2000 ? backoff_ms * 2 : 2000) {
		int s = connect_server(!g_lost_server);
		if (s >= 0 && say_hello(s) == 0) {
			pthread_mutex_lock(&g_send_lock);
			g_sock = s;
			pthread_mutex_unlock(&g_send_lock);
			backoff_ms = 50;
			converse(s);
			pthread_mutex_lock(&g_send_lock);
			g_sock = -1;
			pthread_mutex_unlock(&g_send_lock);
			/* The server is gone and with it every tool's objects: so go our hooks. */
			pthread_mutex_lock(&g_conv_lock);
			g_ninherited = 0;
			while (g_nlive)
				on_detach(g_live[g_nlive - 1]);
			pthread_mutex_unlock(&g_conv_lock);
			g_lost_server = !g_quit;
		}
		if (s >= 0)
			close(s);
		set_ready(); /* never keep the application waiting for a server that is not there */
		if (g_quit)
			break;
		struct timespec ts = { backoff_ms / 1000, (backoff_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	/* Idle: the library stays mapped (stubs and trampolines may still be on some stack), and a
	 * later bpftime_agent_start() (bpftime attach again) starts a new thread. */
	agent_setxid_thread_leave();
	pthread_mutex_lock(&g_start_lock);
	g_running = 0;
	pthread_mutex_unlock(&g_start_lock);
	return NULL;
}

static void trace_to_server(const char *text, size_t len) { agent_send_trace(text, len); }

static void agent_launch(void);
static void follow_forks(void);
static void agent_wait_ready(void);

/* Starts the agent: its thread registers with the server; the caller waits (bounded) until the
 * attachments that already exist are installed. Idempotent while the agent runs; after
 * `bpftime detach` ended it, starts it again (`bpftime attach` calls this after its dlopen). */
EXPORT void bpftime_agent_start(void)
{
	/* On an application thread (the constructor's, or the one bpftime attach borrowed): what it
	 * does here is the agent's doing, neither probed nor reported as the application's syscalls. */
	int quiet = agent_syscall_tp_quiet(1);
	bpftime_probe_thread_exclude(1);
	/* The helpers set up their per-process state (a page, an atfork handler) in a constructor of
	 * this library that may run after ours, i.e. in the application's time: do it now. */
	(void)bpftime_current_pid_tgid();
	/* In a tool's process: the shim's own threads are not the tool's (see syscall_hook.h). */
	int (*shim_owns)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "bpftime_shim_owns_thread");
	if (shim_owns)
		bpftime_syscall_hook_foreign_threads(shim_owns);
	agent_launch();
	agent_wait_ready();
	bpftime_probe_thread_exclude(0);
	agent_syscall_tp_quiet(quiet);
}

/* Whether LD_PRELOAD brought this library (bpftime start) rather than a dlopen. */
static int agent_preloaded(void)
{
	const char *preload = getenv("LD_PRELOAD");
	Dl_info info;
	if (!preload || !dladdr((void *)agent_preloaded, &info) || !info.dli_fname)
		return 0;
	const char *base = strrchr(info.dli_fname, '/');
	return strstr(preload, base ? base + 1 : info.dli_fname) != NULL;
}

uint32_t agent_only_tgid;

/* Takes entries out of the environment array itself (not a copy: main's envp is the same array,
 * and a program may exec with it). */
static void environ_remove(char **env, size_t i)
{
	for (; env[i]; i++)
		env[i] = env[i + 1];
}

/* Takes the entries named `base` out of list variable `var` (NAME=a:b c, split as the loader
 * splits LD_PRELOAD and LD_AUDIT) in the environment array itself; the variable goes when empty. */
static void environ_drop_entry(const char *var, const char *base_name)
{
	extern char **environ;
	size_t vlen = strlen(var);
	for (size_t i = 0; environ && environ[i];) {
		if (strncmp(environ[i], var, vlen) != 0 || environ[i][vlen] != '=') {
			i++;
			continue;
		}
		const char *v = environ[i] + vlen + 1;
		char *out = malloc(strlen(environ[i]) + 1), *o;
		if (!out)
			return;
		o = out + sprintf(out, "%s=", var);
		char *first = o;
		while (*v) {
			size_t n = strcspn(v, ": ");
			const char *slash = memrchr(v, '/', n);
			const char *base = slash ? slash + 1 : v;
			int ours = n && (size_t)(v + n - base) == strlen(base_name) && !memcmp(base, base_name, strlen(base_name));
			if (n && !ours) {
				if (o != first)
					*o++ = ':';
				memcpy(o, v, n);
				o += n;
			}
			v += n;
			v += strspn(v, ": ");
		}
		*o = 0;
		if (o == first) {
			free(out);
			environ_remove(environ, i);
		} else {
			environ[i] = out; /* kept for good: the environment points at it */
			i++;
		}
	}
}

/* `bpftime start --no-follow` (BPFTIME_NO_FOLLOW=1): this process only. The agent takes itself
 * (and its LD_AUDIT stage) out of LD_PRELOAD (LD_AUDIT), and the flag out of the environment,
 * before the program runs, so what the program starts or execs runs without it; forked children
 * that do not exec keep a copy of the hooks, and agent_only_tgid makes those run nothing there. */
static void stop_following(void)
{
	extern char **environ;
	Dl_info info;
	const char *self = dladdr((void *)stop_following, &info) && info.dli_fname ? info.dli_fname : "";
	const char *self_base = strrchr(self, '/') ? strrchr(self, '/') + 1 : self;
	agent_only_tgid = (uint32_t)getpid();
	for (size_t i = 0; environ && environ[i];) {
		if (!strncmp(environ[i], "BPFTIME_NO_FOLLOW=", 18))
			environ_remove(environ, i);
		else
			i++;
	}
	environ_drop_entry("LD_PRELOAD", self_base);
	environ_drop_entry("LD_AUDIT", EARLY_LIB);
}

/* Set in the target by bpftime attach before its dlopen of the agent (src-ts/cli/attach.ts). */
#define ATTACHING_VAR "BPFTIME_AGENT_ATTACHING"

/* In a tool's process the shim starts the agent itself, after the tool's first call and outside
 * the dynamic loader's lock (the agent's thread needs that lock for its thread-local storage). */
__attribute__((constructor)) static void agent_constructor(void)
{
	agent_early_take(); /* before any call of ours: the LD_AUDIT stage records every syscall */
	if (getenv("BPFTIME_AGENT_DISABLE") || dlsym(RTLD_DEFAULT, "bpftime_shim_present"))
		return;
	const char *no_follow = getenv("BPFTIME_NO_FOLLOW");
	if (agent_preloaded() && no_follow && *no_follow && strcmp(no_follow, "0") != 0)
		stop_following();
	else if (agent_preloaded())
		follow_forks();
	if (!agent_preloaded() && !agent_only_tgid) {
		/* bpftime attach calls its entry (bpftime_agent_attach_follow/_only) next, which edits
		 * the environment (setenv may move the array) and then starts the agent: a thread
		 * started now would read the environment meanwhile (getenv in the client), and crashed
		 * on an array setenv had just freed. */
		if (getenv(ATTACHING_VAR))
			return;
		/* dlopen'ed by the program itself: the loader holds its lock through constructors and
		 * the agent thread needs it, so waiting here would only stall for the whole bound.
		 * Start without waiting; the program calls bpftime_agent_start() once dlopen has
		 * returned, to wait. */
		agent_launch();
		return;
	}
	bpftime_agent_start();
	/* This image began with an execve that returned here: the attachments that existed then
	 * are installed now, and syscall tracepoints see that exit (a tool's agent starts later,
	 * not at exec). */
	agent_syscall_tp_exec_returned();
}

/* ---- fork: the child gets an agent of its own ----
 * A forked child keeps the hooks (they are in its copy of the memory, and run with its own pid, as
 * a kernel's uprobes and tracepoints do in a child) but not the agent's threads, its timers or its
 * connection. So the child starts an agent thread of its own, which registers as the child and
 * receives the attachments as any agent does: those made after the fork reach the child, clock
 * events sample it, its perf buffers and printk go through its own connection. */
static int g_fork_locked; /* the parent's prepare got g_conv_lock (else the child does not follow) */

static void fork_prepare(void)
{
	/* Bounded: the agent's thread finishing one message never takes long, but a fork from where the
	 * agent's work cannot go on (a library constructor holding the loader's lock) must not hang. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	g_fork_locked = pthread_mutex_timedlock(&g_conv_lock, &deadline) == 0;
}

static void fork_parent(void)
{
	if (g_fork_locked)
		pthread_mutex_unlock(&g_conv_lock);
}

static void fork_child(void)
{
	/* Only the forking thread is here: locks other threads held stay held for good, so all start
	 * afresh; the parent's connection is the parent's. */
	pthread_mutex_init(&g_conv_lock, NULL);
	pthread_mutex_init(&g_send_lock, NULL);
	pthread_mutex_init(&g_ready_lock, NULL);
	pthread_cond_init(&g_ready_cond, NULL);
	pthread_mutex_init(&g_start_lock, NULL);
	if (g_sock >= 0)
		close(g_sock);
	g_sock = -1;
	int follow = g_running && g_fork_locked && !g_quit && !agent_only_tgid;
	g_running = 0;
	agent_setxid_after_fork_child();
	/* Clock events sample through POSIX timers and threads, which a fork does not copy: the new
	 * agent installs them again. Everything else stays installed until the server says. */
	agent_timer_after_fork_child();
	size_t n = 0;
	for (size_t i = 0; i < g_nlive; i++)
		if (!g_live_timer[i]) {
			g_live_timer[n] = 0;
			g_live[n++] = g_live[i];
		}
	g_nlive = n;
	free(g_inherited);
	g_inherited = NULL;
	g_ninherited = 0;
	if (!follow)
		return;
	g_inherited = n ? malloc(n * sizeof(*g_inherited)) : NULL;
	if (g_inherited) {
		memcpy(g_inherited, g_live, n * sizeof(*g_inherited));
		g_ninherited = n;
	}
	agent_dlwatch_after_fork_child();
	/* Starting the thread is the agent's doing, not the child's syscalls or probe hits. */
	int quiet = agent_syscall_tp_quiet(1);
	bpftime_probe_thread_exclude(1);
	g_forked_child = 1;
	agent_launch();
	bpftime_probe_thread_exclude(0);
	agent_syscall_tp_quiet(quiet);
}

static void follow_forks(void)
{
	/* Registered after the uprobe engine's handlers: fork then takes g_conv_lock before the
	 * engine's lock (the agent's thread may need that lock to finish its message), and in the
	 * child ours runs after the engine's, when the engine is consistent again, so the child's
	 * agent thread starts on a working engine. */
	bpftime_probe_engine_init();
	if (!g_follow_forks && pthread_atfork(fork_prepare, fork_parent, fork_child) == 0)
		g_follow_forks = 1;
}

/* `bpftime attach PID` calls one of these (in place of bpftime_agent_start) after its dlopen.
 * follow: what the process forks gets an agent of its own, and what it execs loads the agent
 * again, as under `bpftime start` (the agent adds itself to LD_PRELOAD in the process's
 * environment); only: this process alone (as `bpftime start --no-follow`). */
/* Puts `path` in front of list variable `var` unless an entry named `base` is there already. */
static void env_prepend(const char *var, const char *path, const char *base)
{
	const char *cur = getenv(var);
	if (cur && strstr(cur, base))
		return; /* there already (attached before) */
	size_t n = strlen(path) + (cur ? strlen(cur) + 1 : 0) + 1;
	char *v = malloc(n);
	if (!v)
		return;
	snprintf(v, n, "%s%s%s", path, cur && *cur ? ":" : "", cur ? cur : "");
	/* Twice: a shell's own setenv (bash keeps the environment in its variables) marks the
	 * environment it passes to commands for rebuilding only when an exported variable changes,
	 * and the variable is exported by the first call; without the second, the next command would
	 * start without the agent. Setting the same value again changes nothing else. */
	setenv(var, v, 1);
	setenv(var, v, 1);
	free(v);
}

static void preload_self(void)
{
	Dl_info info;
	if (!dladdr((void *)preload_self, &info) || !info.dli_fname || info.dli_fname[0] != '/')
		return;
	const char *base = strrchr(info.dli_fname, '/') + 1;
	env_prepend("LD_PRELOAD", info.dli_fname, base);
	/* Its LD_AUDIT stage, when it sits beside it: what the exec'd image does before the agent. */
	char early[4096];
	snprintf(early, sizeof(early), "%.*s%s", (int)(base - info.dli_fname), info.dli_fname, EARLY_LIB);
	if (access(early, R_OK) == 0)
		env_prepend("LD_AUDIT", early, EARLY_LIB);
}

EXPORT void bpftime_agent_attach_follow(void)
{
	int quiet = agent_syscall_tp_quiet(1);
	unsetenv(ATTACHING_VAR); /* children are not being attached */
	preload_self();
	/* The runtime directory too (bpftime attach set it in the C library's environment, which a
	 * shell does not pass on: through the program's setenv, twice as in env_prepend). */
	setenv("BPFTIME_RUNTIME_DIR", bpftime_runtime_dir(), 1);
	setenv("BPFTIME_RUNTIME_DIR", bpftime_runtime_dir(), 1);
	follow_forks();
	agent_setxid_probe_libc();
	agent_syscall_tp_quiet(quiet);
	bpftime_agent_start();
}

EXPORT void bpftime_agent_attach_only(void)
{
	int quiet = agent_syscall_tp_quiet(1);
	unsetenv(ATTACHING_VAR);
	agent_only_tgid = (uint32_t)getpid();
	agent_setxid_probe_libc();
	agent_syscall_tp_quiet(quiet);
	bpftime_agent_start();
}

/* Starts the agent thread unless one runs. */
static void agent_launch(void)
{
	static const struct bpftime_helper_host host = { .trace_printk = trace_to_server,
							 .perf_output = agent_perf_output,
							 .current_task = agent_task_current,
							 .kernel_read = agent_task_kernel_read };
	pthread_mutex_lock(&g_start_lock);
	if (!g_running) {
		bpftime_helpers_set_host(&host);
		g_quit = 0;
		pthread_mutex_lock(&g_ready_lock);
		g_ready = 0; /* a restart waits for its own HELLO_REPLY */
		pthread_mutex_unlock(&g_ready_lock);
		/* The agent thread's socket goes high in the fd table: grow the table now, before
		 * the thread shares it (growing a shared table waits ~10 ms for RCU). */
		bpftime_client_prepare_fd_slot();
		/* Code patching (probes, syscall sites) syncs cores with membarrier, whose registration
		 * waits an RCU grace period once threads share the mm (10-25 ms at the first attach):
		 * register while the process may still be single-threaded. */
		bpftime_raw_syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0, 0, 0, 0);
		bpftime_raw_syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0, 0, 0, 0);
		pthread_t t;
		if (pthread_create(&t, NULL, agent_thread, NULL) == 0) {
			pthread_detach(t);
			g_running = 1;
		} else {
			fprintf(stderr, "bpftime agent: cannot start its thread; this process is not traced\n");
			set_ready();
		}
	}
	pthread_mutex_unlock(&g_start_lock);
}

static void agent_wait_ready(void)
{
	/* Wait for the attachments that already exist (bounded: a cold server start included). */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 15;
	pthread_mutex_lock(&g_ready_lock);
	while (!g_ready)
		if (pthread_cond_timedwait(&g_ready_cond, &g_ready_lock, &deadline) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&g_ready_lock);
}

/* For `bpftime status` and tests: whether this process runs the agent. */
EXPORT int bpftime_agent_present(void) { return 1; }
