/* The injector behind `bpftime attach`: loads a shared library into a running process with
 * ptrace (no debugger, no helper library in the target), by making one of its threads call
 * libc's dlopen and then return to us.
 *
 *   inject.c   the sequence: find dlopen, pick a thread, set env, dlopen, call the entry point
 *   remote.c   ptrace: seize and stop a thread, save its state, call a function in it, restore
 *   procmaps.c which file is mapped where in the target (/proc/PID/maps)
 *   elfsym.c   a symbol's value from a shared object's dynamic symbol table
 *
 * x86-64 Linux only. Used by the addon (src-native/addon/addon_inject.cc) and the native test. */
#ifndef BPFTIME_INJECT_H
#define BPFTIME_INJECT_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_inject_opts {
	pid_t pid;
	const char *lib;          /* absolute path, as the target sees it */
	const char *const *env;   /* NAME=VALUE strings set in the target (setenv) before dlopen */
	size_t nenv;
	const char *entry;        /* NULL, or a function of the library called after dlopen: void f(void) */
	int timeout_ms;           /* per call in the target; 0: 30 s */
};

struct bpftime_inject_result {
	int ok;
	int err;                  /* errno-like cause when !ok (EPERM: no permission to trace...) */
	const char *stage;        /* where it failed: "maps", "symbols", "ptrace", "setenv", "dlopen", "entry" */
	char message[1024];       /* what went wrong, for a person */
	pid_t tid;                /* the thread that made the calls */
	int was_loaded;           /* the library was mapped before (dlopen returned the same handle) */
	int in_syscall;           /* the thread was stopped inside a syscall (restarted afterwards) */
	uint64_t handle;          /* dlopen's result in the target */
};

/* Loads opts->lib into opts->pid and calls opts->entry in it. Leaves the target running with
 * every register as it was. Returns 0, or -errno with res->message set. */
int bpftime_inject(const struct bpftime_inject_opts *opts, struct bpftime_inject_result *res);

/* Whether this process may trace pid (seize, stop, detach one of its threads): 0 or -errno with
 * a message. */
int bpftime_inject_check(pid_t pid, char *msg, size_t msglen);

/* --- internals shared by the modules --- */

/* elfsym.c: values (st_value) of the named dynamic symbols of the ELF file at path; missing ones
 * stay 0. *load_vaddr: the page-aligned vaddr of its first PT_LOAD (what its base maps to).
 * 0 or -errno. */
int inj_elf_symbols(const char *path, const char *const *names, uint64_t *values, size_t n, uint64_t *load_vaddr);

/* procmaps.c: a file mapped in pid. */
struct inj_module {
	char path[4096];  /* as /proc/PID/maps names it */
	char open_path[4200]; /* where this process can read it (through /proc/PID/root) */
	uint64_t base;    /* start of its mapping at file offset 0 */
	int stale;        /* open_path is no longer the file that was mapped */
};
/* The first mapped file whose base name starts with one of the prefixes (NULL-terminated list). */
int inj_find_module(pid_t pid, const char *const *prefixes, struct inj_module *out);
/* Whether the file (device, inode) is mapped in pid: 1, 0 or -errno. */
int inj_is_mapped(pid_t pid, dev_t dev, ino_t ino);

/* remote.c: one stopped thread of the target. */
struct inj_remote;
int inj_remote_seize(pid_t pid, pid_t tid, int timeout_ms, struct inj_remote **out, char *msg, size_t msglen);
int inj_remote_in_syscall(const struct inj_remote *r);
/* Copies len bytes onto the thread's stack (below its red zone and anything pushed before);
 * returns their address in the target, or 0 with a message. */
uint64_t inj_remote_push(struct inj_remote *r, const void *data, size_t len, char *msg, size_t msglen);
/* Calls fn(args...) (up to 6 integer arguments) on the thread; its return value in *ret. */
int inj_remote_call(struct inj_remote *r, uint64_t fn, const uint64_t *args, int nargs, uint64_t *ret, char *msg,
		    size_t msglen);
/* Reads a NUL-terminated string from the target. */
int inj_remote_read_string(struct inj_remote *r, uint64_t addr, char *buf, size_t len);
/* Puts every register back as it was and lets the thread go. */
int inj_remote_release(struct inj_remote *r, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
