/* Internal interfaces of the agent (libbpftime-agent.so), loaded into traced processes.
 * agent.c: lifecycle and the conversation with the server; progs.c: programs and maps received
 * from the server, made runnable in this process; probes.c: attachments, from binary + file
 * offset to an installed hook that runs the program. */
#ifndef BPFTIME_AGENT_H
#define BPFTIME_AGENT_H
#include <stddef.h>
#include <stdint.h>
#include "bpftime/proto.h"
#include "bpftime/jit.h"
#include "bpftime/vm.h"
#include "bpftime/prog_image.h"

struct bpftime_map;

/* A program made runnable here: relocated instructions and the maps they point at. */
struct agent_prog {
	uint32_t id;
	struct bpftime_vm_prog vm;
	struct bpftime_jit_prog *jit; /* NULL: run vm in the interpreter */
	struct bpf_insn *insns;
	struct bpftime_map **maps;
	uint32_t nmaps;
	struct bpftime_prog_stats *stats; /* run_cnt/run_time_ns shared with every process, or NULL */
	bpftime_jit_fn entry;		  /* bpftime_jit_entry(jit), or NULL: called directly */
	int refs;
	struct agent_prog *next;
};

/* Runs p with r1 = ctx (JIT code or interpreter), counted while BPF_ENABLE_STATS is on. */
static inline uint64_t agent_prog_run(struct agent_prog *p, uint64_t ctx)
{
	if (__builtin_expect(p->entry != NULL && (!p->stats || !__atomic_load_n(&p->stats->enabled, __ATOMIC_RELAXED)), 1))
		return p->entry(ctx, 0);
	return bpftime_prog_run(&p->vm, p->jit, p->stats, ctx);
}

/* Loads (or finds) prog `prog_id` from its memfd; map_fds/map_ids are the maps it uses.
 * Takes a reference. Returns NULL with a message in err on failure. */
struct agent_prog *agent_prog_get(uint32_t prog_id, int prog_fd, const uint32_t *map_ids, const int *map_fds,
				  uint32_t nmaps, char *err, size_t errlen);
void agent_prog_put(struct agent_prog *p);
/* Opens maps the server pushed without a program (inner maps of a map-in-map): once open, a
 * program's lookup in the outer map finds them by id (bpftime_map_by_id). 0 or -EINVAL. */
int agent_maps_get(const uint32_t *map_ids, const int *map_fds, uint32_t n, char *err, size_t errlen);

/* Installs attachment a (kind uprobe/uretprobe) running prog; 0 or -errno with a message. */
int agent_probe_attach(const struct bpftime_attach *a, const char *path, struct agent_prog *prog, char *err,
		       size_t errlen);
void agent_probe_detach(uint32_t attach_id);
/* Retries attachments waiting for their binary (after a dlopen) that the server knows wait. */
void agent_probes_rescan(void);
/* The server was told which attachments wait: later reports may follow; retries them once. */
void agent_probes_waiting_reported(void);
/* Whether attachment attach_id waits for its binary here. */
int agent_probe_waiting(uint32_t attach_id);
/* dlwatch.c: a probe on the loader's r_brk runs agent_probes_rescan while attachments wait.
 * start: 0, or -1 with why in err; stop: from the agent's thread only (never from a handler). */
int agent_dlwatch_start(char *err, size_t errlen);
void agent_dlwatch_stop(void);
/* In a forked child whose agent follows it: the inherited watch serves this process now. */
void agent_dlwatch_after_fork_child(void);
/* Tells the server how an attachment went (status 0, BPFTIME_ATTACH_WAITING or -errno). */
void agent_report(uint32_t attach_id, int status, const char *msg);

/* Syscall tracepoints (syscalls:sys_{enter,exit}_*, raw_syscalls:sys_{enter,exit}): path is
 * "system/event", a->offset the syscall nr (or all), a->tp_id the event id. */
int agent_syscall_tp_attach(const struct bpftime_attach *a, const char *path, struct agent_prog *prog, char *err,
			    size_t errlen);
void agent_syscall_tp_detach(uint32_t attach_id);
/* The calling thread's syscalls are the agent's (on) or the application's again (off); returns the
 * previous state. */
int agent_syscall_tp_quiet(int on);
/* This image was just exec'ed: report the execve's exit (ret 0) to sys_exit tracepoints. */
void agent_syscall_tp_exec_returned(void);
/* early.c: ends the LD_AUDIT stage's recording of what the image did before the agent (first thing
 * in the constructor) and keeps the program's calls; replay hands them to fn once, in order. */
void agent_early_take(void);
void agent_early_replay(void (*fn)(void *arg, long nr, const uint64_t args[6], long ret), void *arg);

/* Timed programs (clock perf events). */
int agent_timer_attach(const struct bpftime_attach *a, struct agent_prog *prog, char *err, size_t errlen);
void agent_timer_detach(uint32_t attach_id);
/* In a forked child: the parent's timers and threads are not here; forgets them (the child's agent
 * installs its clock events again). */
void agent_timer_after_fork_child(void);

/* Perf buffers: a slot update from the server; the host side of bpf_perf_event_output. */
void agent_perf_slot(const struct bpftime_perf_slot *m, const int *fds, int nfds);
long agent_perf_output(uint32_t map_id, uint32_t index, const void *data, uint64_t size);

/* task.c: stand-ins for struct task_struct (bpf_get_current_task), laid out as the server says
 * (MSG_TASK_LAYOUT); the host hooks current_task and kernel_read of helpers.h. */
void agent_task_set_layout(const void *payload, uint32_t len);
uint64_t agent_task_current(int btf);
long agent_task_kernel_read(void *dst, const void *src, uint32_t n, int str);

/* `bpftime start --no-follow`: the process that runs programs (0: every process holding the hooks,
 * i.e. forked children too). A fork copies the hooks; with --no-follow the child runs nothing. */
extern uint32_t agent_only_tgid;
uint64_t bpftime_current_pid_tgid(void);
static inline int agent_not_followed_here(void)
{
	return __builtin_expect(agent_only_tgid != 0, 0) && (uint32_t)(bpftime_current_pid_tgid() >> 32) != agent_only_tgid;
}

/* Sends trace_printk text to the server (what the served trace_pipe shows). */
void agent_send_trace(const char *text, size_t len);
#endif
