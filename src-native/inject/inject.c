/* Loading a library into a running process: the sequence (see inject.h).
 *
 *  1. Find dlopen, dlerror, dlsym and setenv: the target's libc from /proc/PID/maps (its base),
 *     their offsets from that file's dynamic symbol table. glibc >= 2.34 and musl have dlopen in
 *     libc; older glibc has it in libdl, which is used when the target has it mapped.
 *  2. Pick a thread: preferably the main thread, else another, blocked in a syscall (a safe
 *     point, see remote.c); never the agent's own thread, nor one that blocks or ignores SIGSEGV
 *     (the fault that ends each call would change how that thread handles SIGSEGV).
 *  3. Seize and stop it; setenv() each requested variable; dlopen(lib, RTLD_NOW), with dlerror()'s
 *     text on failure; dlsym(handle, entry) and entry(); put its registers back and let it go.
 *
 * The calls run on the target's own thread, so they run in its context like any call it makes:
 * the library's constructors run there, and its threads are the process's. */
#include "inject.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SYM_DLOPEN, SYM_DLERROR, SYM_DLSYM, SYM_SETENV, NSYMS };
static const char *const sym_names[NSYMS] = { "dlopen", "dlerror", "dlsym", "setenv" };

static int failf(struct bpftime_inject_result *res, int err, const char *stage, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	res->ok = 0;
	res->err = err;
	res->stage = stage;
	return -err;
}

static int read_small(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t k = fread(buf, 1, n - 1, f);
	buf[k] = 0;
	fclose(f);
	return (int)k;
}

/* The value of a "Name:\t..." line of /proc/PID[/task/TID]/status, or NULL. */
static const char *status_field(const char *status, const char *name, char *out, size_t n)
{
	size_t len = strlen(name);
	for (const char *p = status; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, len) == 0 && p[len] == ':') {
			p += len + 1;
			p += strspn(p, " \t");
			size_t k = strcspn(p, "\n");
			snprintf(out, n, "%.*s", (int)k, p);
			return out;
		}
	}
	return NULL;
}

/* Why ptrace was refused, in words a user can act on. */
static void explain_eperm(pid_t pid, char *out, size_t n)
{
	char path[64], status[4096], v[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, status, sizeof(status)) > 0) {
		if (status_field(status, "TracerPid", v, sizeof(v)) && atoi(v) != 0) {
			snprintf(out, n, " - it is already traced by process %s (a debugger?)", v);
			return;
		}
		unsigned uid = 0;
		if (status_field(status, "Uid", v, sizeof(v)) && sscanf(v, "%*u %u", &uid) == 1 && uid != geteuid() &&
		    geteuid() != 0) {
			snprintf(out, n, " - it runs as uid %u: run as root", uid);
			return;
		}
	}
	char scope[16] = "";
	read_small("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
	if (atoi(scope) == 3)
		snprintf(out, n, " - ptrace is disabled on this system (kernel.yama.ptrace_scope=3)");
	else if (geteuid() != 0)
		snprintf(out, n, " - run as root or set kernel.yama.ptrace_scope=0");
	else
		snprintf(out, n, " - refused even to root: a security module (SELinux, AppArmor) or a seccomp filter "
				 "forbids ptrace");
}

/* Returns 1 when the thread blocks or ignores SIGSEGV, or is the agent's; 0 otherwise. */
static int unsuitable(pid_t pid, pid_t tid)
{
	char path[96], buf[4096], v[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) > 0 && strncmp(buf, "bpftime-agent", 13) == 0)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 1;
	const unsigned long long segv = 1ull << (11 - 1);
	if (status_field(buf, "SigBlk", v, sizeof(v)) && (strtoull(v, NULL, 16) & segv))
		return 1;
	if (status_field(buf, "SigIgn", v, sizeof(v)) && (strtoull(v, NULL, 16) & segv))
		return 1;
	return 0;
}

/* 1 when the thread sleeps inside a syscall (/proc/PID/task/TID/syscall starts with its number). */
static int blocked_in_syscall(pid_t pid, pid_t tid)
{
	char path[96], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	return read_small(path, buf, sizeof(buf)) > 0 && buf[0] >= '0' && buf[0] <= '9';
}

static pid_t pick_thread(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	pid_t best = -ESRCH;
	int best_score = -1;
	for (struct dirent *e; (e = readdir(d));) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0 || unsuitable(pid, tid))
			continue;
		int score = (blocked_in_syscall(pid, tid) ? 2 : 0) + (tid == pid);
		if (score > best_score) {
			best = tid;
			best_score = score;
		}
	}
	closedir(d);
	return best;
}

static int process_stopped(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	const char *p = strrchr(buf, ')'); /* comm may contain anything, even ") " */
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/* Resolves the functions the sequence calls, as addresses in the target. */
static int find_symbols(pid_t pid, uint64_t *addr, struct bpftime_inject_result *res)
{
	static const char *const libc_names[] = { "libc.so", "libc-", "ld-musl-", NULL };
	static const char *const libdl_names[] = { "libdl.so", "libdl-", NULL };
	struct inj_module m;
	int rc = inj_find_module(pid, libc_names, &m);
	if (rc == -ENOENT)
		return failf(res, ENOENT, "symbols", "process %d has no libc mapped (a static binary?): nothing to load a "
						      "library with", (int)pid);
	if (rc == -EACCES || rc == -EPERM) {
		/* /proc/PID/maps takes the same permission as ptrace: say it as the refusal it is. */
		char hint[256] = "";
		explain_eperm(pid, hint, sizeof(hint));
		return failf(res, EPERM, "ptrace", "cannot attach to PID %d: %s%s", (int)pid, strerror(EPERM), hint);
	}
	if (rc < 0)
		return failf(res, -rc, "maps", "cannot read /proc/%d/maps: %s", (int)pid, strerror(-rc));
	if (m.stale)
		return failf(res, ESTALE, "symbols", "the libc process %d runs (%s) was replaced on disk since it started",
			     (int)pid, m.path);
	uint64_t vals[NSYMS], load_vaddr = 0;
	if ((rc = inj_elf_symbols(m.open_path, sym_names, vals, NSYMS, &load_vaddr)) < 0)
		return failf(res, -rc, "symbols", "cannot read the symbols of %s: %s", m.path, strerror(-rc));
	for (int i = 0; i < NSYMS; i++)
		addr[i] = vals[i] ? m.base - load_vaddr + vals[i] : 0;
	if (!addr[SYM_DLOPEN]) {
		/* glibc before 2.34: the dl* functions live in libdl, if the program loaded it. */
		struct inj_module dl;
		if (inj_find_module(pid, libdl_names, &dl) == 0 &&
		    inj_elf_symbols(dl.open_path, sym_names, vals, 3, &load_vaddr) == 0 && vals[SYM_DLOPEN]) {
			for (int i = 0; i < 3; i++)
				addr[i] = vals[i] ? dl.base - load_vaddr + vals[i] : 0;
		}
	}
	if (!addr[SYM_DLOPEN] || !addr[SYM_DLSYM])
		return failf(res, ENOSYS, "symbols", "no dlopen in process %d (%s: glibc older than 2.34 without libdl "
						     "loaded?)", (int)pid, m.path);
	return 0;
}

/* Pushes a string and calls fn(string, a1, a2); 0 or -errno. */
static int call_with_string(struct inj_remote *r, uint64_t fn, const char *s, uint64_t a1, uint64_t a2, uint64_t *ret,
			    struct bpftime_inject_result *res, const char *stage)
{
	uint64_t at = inj_remote_push(r, s, strlen(s) + 1, res->message, sizeof(res->message));
	if (!at)
		return failf(res, EFAULT, stage, "%s", res->message);
	uint64_t args[3] = { at, a1, a2 };
	int rc = inj_remote_call(r, fn, args, 3, ret, res->message, sizeof(res->message));
	return rc < 0 ? failf(res, -rc, stage, "%s", res->message) : 0;
}

/* The calls themselves, on a seized thread. */
static int run_calls(struct inj_remote *r, const struct bpftime_inject_opts *o, const uint64_t *addr,
		     struct bpftime_inject_result *res)
{
	uint64_t ret = 0;
	for (size_t i = 0; i < o->nenv; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (!eq || !addr[SYM_SETENV])
			return failf(res, EINVAL, "setenv", "cannot set %s in process %d", o->env[i], (int)o->pid);
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(eq - o->env[i]), o->env[i]);
		uint64_t value = inj_remote_push(r, eq + 1, strlen(eq + 1) + 1, res->message, sizeof(res->message));
		if (!value)
			return failf(res, EFAULT, "setenv", "%s", res->message);
		int rc = call_with_string(r, addr[SYM_SETENV], name, value, 1, &ret, res, "setenv");
		if (rc < 0)
			return rc;
		if ((int)ret != 0)
			return failf(res, ENOMEM, "setenv", "setenv(%s) failed in process %d", name, (int)o->pid);
	}

	int rc = call_with_string(r, addr[SYM_DLOPEN], o->lib, RTLD_NOW, 0, &ret, res, "dlopen");
	if (rc < 0)
		return rc;
	res->handle = ret;
	if (!ret) {
		char why[768] = "dlopen failed";
		uint64_t text = 0;
		if (addr[SYM_DLERROR] && inj_remote_call(r, addr[SYM_DLERROR], NULL, 0, &text, why, sizeof(why)) == 0 && text)
			inj_remote_read_string(r, text, why, sizeof(why));
		return failf(res, ENOENT, "dlopen", "dlopen(%s) failed in process %d: %s", o->lib, (int)o->pid, why);
	}

	if (o->entry) {
		uint64_t name = inj_remote_push(r, o->entry, strlen(o->entry) + 1, res->message, sizeof(res->message));
		if (!name)
			return failf(res, EFAULT, "entry", "%s", res->message);
		uint64_t args[2] = { res->handle, name }, fn = 0;
		if ((rc = inj_remote_call(r, addr[SYM_DLSYM], args, 2, &fn, res->message, sizeof(res->message))) < 0)
			return failf(res, -rc, "entry", "%s", res->message);
		if (!fn)
			return failf(res, ENOENT, "entry", "%s has no function %s", o->lib, o->entry);
		if ((rc = inj_remote_call(r, fn, NULL, 0, &ret, res->message, sizeof(res->message))) < 0)
			return failf(res, -rc, "entry", "%s() in process %d: %s", o->entry, (int)o->pid, res->message);
	}
	return 0;
}

int bpftime_inject(const struct bpftime_inject_opts *o, struct bpftime_inject_result *res)
{
	memset(res, 0, sizeof(*res));
	pid_t pid = o->pid;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (pid <= 0 || access(path, F_OK) < 0)
		return failf(res, ESRCH, "ptrace", "no process %d", (int)pid);
	if (pid == getpid())
		return failf(res, EINVAL, "ptrace", "a process cannot inject into itself");
	if (process_stopped(pid))
		return failf(res, EAGAIN, "ptrace", "process %d is stopped (job control): continue it (kill -CONT %d) first",
			     (int)pid, (int)pid);
	struct stat st;
	if (!o->lib || o->lib[0] != '/' || stat(o->lib, &st) < 0)
		return failf(res, ENOENT, "dlopen", "%s: no such library (an absolute path is needed)", o->lib ? o->lib : "");

	uint64_t addr[NSYMS];
	int rc = find_symbols(pid, addr, res);
	if (rc < 0)
		return rc;
	res->was_loaded = inj_is_mapped(pid, st.st_dev, st.st_ino) == 1;

	pid_t tid = pick_thread(pid);
	if (tid < 0)
		return failf(res, ESRCH, "ptrace", "process %d has no thread to make the calls with (all block SIGSEGV?)",
			     (int)pid);
	res->tid = tid;
	struct inj_remote *r;
	char msg[512];
	if ((rc = inj_remote_seize(pid, tid, o->timeout_ms, &r, msg, sizeof(msg))) < 0) {
		char hint[256] = "";
		if (rc == -EPERM)
			explain_eperm(pid, hint, sizeof(hint));
		return failf(res, -rc, "ptrace", "cannot attach to PID %d: %s%s", (int)pid, msg, hint);
	}
	res->in_syscall = inj_remote_in_syscall(r);
	rc = run_calls(r, o, addr, res);
	/* Put back and let go whatever happened (a process that died meanwhile just fails this). */
	int rr = inj_remote_release(r, msg, sizeof(msg));
	if (rr < 0 && rc == 0)
		rc = failf(res, -rr, "ptrace", "%s", msg);
	if (rc == 0)
		res->ok = 1;
	return rc;
}

int bpftime_inject_check(pid_t pid, char *msg, size_t msglen)
{
	pid_t tid = pick_thread(pid);
	if (tid < 0)
		tid = pid;
	struct inj_remote *r;
	char why[256];
	int rc = inj_remote_seize(pid, tid, 2000, &r, why, sizeof(why));
	if (rc < 0) {
		char hint[256] = "";
		if (rc == -EPERM)
			explain_eperm(pid, hint, sizeof(hint));
		snprintf(msg, msglen, "cannot attach to PID %d: %s%s", (int)pid, why, hint);
		return rc;
	}
	return inj_remote_release(r, msg, msglen);
}
