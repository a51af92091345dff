/* The control-plane protocol between shims/agents/CLI and the syscall server.
 *
 * Transport: a SOCK_STREAM Unix socket at $BPFTIME_RUNTIME_DIR/server.sock. Each message is a
 * frame: struct bpftime_frame followed by `len` payload bytes. File descriptors (SCM_RIGHTS)
 * ride on the bytes of the frame header; `nfds` says how many belong to the frame.
 * All integers are little endian, all variable parts are padded to 8 bytes.
 * The TypeScript mirror is src-ts/server/protocol.ts; test/unit/protocol.test.ts checks that
 * the two agree.
 */
#ifndef BPFTIME_PROTO_H
#define BPFTIME_PROTO_H
#include <stdint.h>

#define BPFTIME_PROTO_MAGIC 0x50544642u /* "BFTP" */
#define BPFTIME_PROTO_VERSION 1u
#define BPFTIME_MAX_FRAME (64u << 20)
#define BPFTIME_MAX_FDS_PER_FRAME 250

struct bpftime_frame {
	uint32_t magic;
	uint16_t type; /* enum bpftime_msg_type */
	uint16_t nfds; /* fds carried with this frame */
	uint32_t len;  /* payload bytes after this header */
	uint32_t seq;  /* echoed in the reply */
};

enum bpftime_msg_type {
	/* client -> server */
	BPFTIME_MSG_HELLO = 1,         /* struct bpftime_hello + exe path (NUL-terminated) */
	BPFTIME_MSG_CALL = 2,          /* struct bpftime_call + blobs + fdrefs; answered by REPLY */
	BPFTIME_MSG_RELEASE = 3,       /* struct bpftime_release; no answer */
	BPFTIME_MSG_STATUS = 4,        /* empty; answered by STATUS_REPLY */
	BPFTIME_MSG_ATTACH_RESULT = 5, /* agent -> server: struct bpftime_attach_result + message */
	BPFTIME_MSG_TRACE = 6,         /* agent -> server: struct bpftime_trace + trace_printk text */
	BPFTIME_MSG_DETACH_PROCESS = 7, /* CLI -> server: struct bpftime_detach_process; answered by DETACH_PROCESS_REPLY */
	BPFTIME_MSG_PING = 9,          /* empty; answered by PING_REPLY with the same seq (wakes a reader) */
	BPFTIME_MSG_CANCEL = 8,        /* shim -> server: empty, seq = a CALL's: a signal interrupted the caller
					* while it waited; a call that can stop (a test run) answers EINTR */
	/* server -> client */
	BPFTIME_MSG_HELLO_REPLY = 64,  /* struct bpftime_hello_reply */
	BPFTIME_MSG_REPLY = 65,        /* struct bpftime_reply + writes + needs; fds */
	BPFTIME_MSG_STATUS_REPLY = 66, /* JSON text */
	BPFTIME_MSG_ATTACH = 67,       /* server -> agent: struct bpftime_attach + path + map ids; fds */
	BPFTIME_MSG_DETACH = 68,       /* server -> agent: struct bpftime_detach */
	BPFTIME_MSG_PERF_SLOT = 69,    /* server -> agent: struct bpftime_perf_slot; fds: ring memfd, eventfd */
	BPFTIME_MSG_TASK_LAYOUT = 70,  /* server -> agent, before a program that needs it: struct bpftime_task_layout */
	BPFTIME_MSG_DETACH_PROCESS_REPLY = 71, /* struct bpftime_detach_process (status filled in) */
	BPFTIME_MSG_AGENT_QUIT = 72,   /* server -> agent: empty; remove every hook, close, do not come back */
	BPFTIME_MSG_PING_REPLY = 74,   /* empty */
	BPFTIME_MSG_PROG = 73,         /* server -> agent: struct bpftime_prog_push + map ids; fds; answered by ATTACH_RESULT */
};

enum bpftime_role {
	BPFTIME_ROLE_TOOL = 1,  /* a shimmed tool */
	BPFTIME_ROLE_AGENT = 2, /* a traced process */
	BPFTIME_ROLE_CLI = 3,   /* bpftime status etc. */
};

struct bpftime_hello {
	uint32_t role;    /* enum bpftime_role */
	uint32_t version; /* BPFTIME_PROTO_VERSION */
	uint32_t pid;
	uint32_t n_held;  /* inodes of object fds this process already holds (after fork/exec) */
	char comm[16];
	/* then: uint64_t held_ino[n_held]; then the exe path, NUL-terminated */
};

struct bpftime_hello_reply {
	int32_t status; /* 0, or -errno */
	uint32_t server_pid;
};

enum bpftime_call_op {
	BPFTIME_OP_BPF = 1,             /* args: cmd, attr ptr, size */
	BPFTIME_OP_PERF_EVENT_OPEN = 2, /* args: attr ptr, pid, cpu, group_fd, flags */
	BPFTIME_OP_IOCTL = 3,           /* args: fd, request, arg */
	BPFTIME_OP_OPEN = 4,            /* args: path ptr, flags, mode: a file the server serves (tracefs, sysfs) */
	BPFTIME_OP_ACCESS = 5,          /* args: path ptr, mode: access() of a served path */
	BPFTIME_OP_WRITE = 6,           /* args: path ptr, buf ptr, len: write() to a served file opened for writing */
	BPFTIME_OP_BPFFS = 16,          /* args: op, path ptr, path2 ptr, mode/flags, out ptr: a file operation on /sys/fs/bpf */
};

/* A call: the syscall's arguments, copies of the user memory it refers to ("blobs", tagged with
 * the user address they were read from) and the object fds the process holds ("fdrefs"). The
 * server never reads another process's memory: when it needs memory it was not sent, it answers
 * with `needs` and the shim calls again with those blobs added. */
struct bpftime_call {
	uint32_t op; /* enum bpftime_call_op */
	uint32_t nblobs;
	uint32_t nfdrefs;
	uint32_t reserved;
	uint64_t args[6];
	/* then nblobs x (struct bpftime_blob + data padded to 8), then nfdrefs x struct bpftime_fdref */
};

#define BPFTIME_BLOB_STRING 1u     /* read up to len bytes, stopping after a NUL */
#define BPFTIME_BLOB_UNREADABLE 2u /* the address could not be read: the server answers EFAULT */
#define BPFTIME_BLOB_NOTICE 4u     /* a reply's write that is a line for the tool's stderr (a hint) */

struct bpftime_blob {
	uint64_t addr;
	uint32_t len;
	uint32_t flags;
};

struct bpftime_fdref {
	int32_t fd;
	uint32_t kind; /* enum bpftime_obj_kind from the object header */
	uint64_t ino;
};

struct bpftime_reply {
	int64_t ret;        /* the syscall's return value when err == 0 */
	int32_t err;        /* positive errno, or 0 */
	int32_t ret_fd_idx; /* -1, or which passed fd becomes the return value */
	uint32_t nwrites;   /* user memory to write back */
	uint32_t nneeds;    /* memory the server needs before it can answer: call again */
	/* then nwrites x (struct bpftime_blob + data padded to 8), then nneeds x struct bpftime_blob */
};

struct bpftime_release {
	uint64_t ino; /* the process closed its last fd on this object */
};

enum bpftime_attach_kind {
	BPFTIME_ATTACH_UPROBE = 1,
	BPFTIME_ATTACH_URETPROBE = 2,
	BPFTIME_ATTACH_SYSCALL_TP = 3,
	BPFTIME_ATTACH_TIMER = 4, /* CPU/task clock perf events: run the program every `offset` ns;
				   * ref_ctr_offset: the pid that keeps the wall-clock tick (0: none),
				   * tp_id: the event's CPU (-1: any) */
	BPFTIME_ATTACH_SYSCALL_KPROBE = 5,    /* a kprobe on a syscall's entry function: offset = the syscall nr, */
	BPFTIME_ATTACH_SYSCALL_KRETPROBE = 6, /* path = the function ("__x64_sys_openat") */
	BPFTIME_ATTACH_SYSCALL_FENTRY = 7,    /* fentry/fexit programs on such a function: */
	BPFTIME_ATTACH_SYSCALL_FEXIT = 8,     /* the same fields */
};

struct bpftime_attach {
	uint32_t attach_id;
	uint32_t kind; /* enum bpftime_attach_kind */
	uint64_t offset;         /* file offset in the binary (uprobes) / syscall nr, or -1 for all (tracepoints) */
	uint64_t ref_ctr_offset; /* USDT semaphore file offset, or 0 */
	uint64_t cookie;         /* bpf_get_attach_cookie() */
	int32_t pid;             /* -1: every process */
	uint32_t prog_id;
	uint32_t nmaps;          /* map memfds passed after the prog memfd, ids below */
	uint32_t path_len;       /* bytes of the path that follows, including its NUL */
	uint32_t tp_id;          /* syscall tracepoints: the event id (common_type of the context) */
	uint32_t nwake;          /* ring buffer maps among map_ids: their eventfds follow the map memfds */
	/* then the binary path (tracepoints: "system/event"), padded to 8; then uint32_t map_ids[nmaps];
	 * then uint32_t wake_ids[nwake] (the BPF_MAP_TYPE_RINGBUF maps of map_ids).
	 * fds: [0] = program memfd, [1 + i] = memfd of map_ids[i], [1 + nmaps + j] = the eventfd
	 * that wakes the consumer of ring buffer wake_ids[j] (ringbuf.h) */
};

struct bpftime_detach {
	uint32_t attach_id;
	uint32_t reserved;
};

/* `bpftime detach PID`: the server tells the agents of that process to quit (AGENT_QUIT): each
 * removes all its hooks, closes its connection and ends its thread, leaving the process running
 * untraced. The reply comes once they have disconnected (so their hooks are gone), or after a
 * bound. The tools' links stay: the process just no longer runs them. */
struct bpftime_detach_process {
	uint32_t pid;
	int32_t status; /* reply: how many agents quit, or -ESRCH (none of that pid) / -ETIMEDOUT */
};

/* An attach_result status: the binary is not mapped in this process (yet); the agent attaches
 * when it appears (dlopen) and answers again then. */
#define BPFTIME_ATTACH_WAITING 2

struct bpftime_attach_result {
	uint32_t attach_id;
	int32_t status; /* 0 attached, BPFTIME_ATTACH_WAITING, or -errno */
	/* then a message, NUL-terminated */
};

/* A program that sits in a PROG_ARRAY slot: the agent makes it runnable (a bpf_tail_call target)
 * and answers with an ATTACH_RESULT carrying push_id, so the server updates the slot only once
 * every agent can run what it will show. */
struct bpftime_prog_push {
	uint32_t push_id;
	uint32_t prog_id;
	uint32_t nmaps; /* map memfds passed after the prog memfd, ids below */
	uint32_t nwake; /* ring buffer maps among them: their eventfds follow the map memfds */
	/* then uint32_t map_ids[nmaps], uint32_t wake_ids[nwake]; fds as for struct bpftime_attach */
};

/* A slot of a PERF_EVENT_ARRAY map now holds a perf buffer (present) or nothing. A non-zero
 * push_id asks for an ATTACH_RESULT carrying it once the slot is in the agent's table: the tool's
 * map update is answered only then, so an event right after it finds the buffer. */
struct bpftime_perf_slot {
	uint32_t map_id;
	uint32_t index;
	uint32_t event_id;
	uint32_t present; /* 1: fds[0] = the event's memfd (ring), fds[1] = its eventfd */
	uint32_t push_id;
};

/* Where the running kernel keeps the struct task_struct fields that programs reach through
 * bpf_get_current_task(), from its BTF (/sys/kernel/btf/vmlinux, the BTF libbpf computes CO-RE
 * offsets from). Agents lay out per-thread stand-ins this way, so `task->real_parent->tgid`
 * read at the tool's offsets finds our values. Sent once per connection, before HELLO_REPLY (so
 * before any attachment). Byte offsets; -1: this kernel has no such field (or not of the type
 * written there). task_size 0: no kernel BTF, no stand-ins (bpf_get_current_task() returns 0). */
struct bpftime_task_layout {
	uint32_t task_size;      /* sizeof(struct task_struct) */
	uint32_t cred_size;      /* sizeof(struct cred), 0: none */
	int32_t pid;             /* pid_t: the thread id */
	int32_t tgid;            /* pid_t: the process id */
	int32_t real_parent;     /* struct task_struct *: the parent process (getppid()) */
	int32_t parent;          /* struct task_struct *: the same (no ptrace parent here) */
	int32_t group_leader;    /* struct task_struct *: the process's main thread */
	int32_t comm;            /* char[comm_len]: the thread's name */
	uint32_t comm_len;       /* TASK_COMM_LEN */
	int32_t flags;           /* unsigned int PF_*: 0, a user thread */
	int32_t start_time;      /* u64: CLOCK_MONOTONIC ns when the thread started */
	int32_t start_boottime;  /* u64: CLOCK_BOOTTIME ns when the thread started */
	int32_t exit_code;       /* int: 0, the thread runs */
	int32_t real_cred;       /* const struct cred *: the thread's credentials */
	int32_t cred;            /* const struct cred *: the same */
	int32_t cred_uid;        /* kuid_t in struct cred: getresuid()'s real id */
	int32_t cred_gid;        /* kgid_t: real gid */
	int32_t cred_euid;       /* kuid_t: effective uid */
	int32_t cred_egid;       /* kgid_t: effective gid */
	uint32_t reserved;
};

/* ioctl the shim sends for a perf event fd or a BPF_MAP_TYPE_RINGBUF map fd (never a kernel
 * request: '$' is perf's type, 0xf0 is beyond its numbers; map fds take no ioctl at all):
 * answers with the fd the tool waits on in place of the event or map (an eventfd). */
#define BPFTIME_IOC_WAIT_FD 0x24f0u

/* One bpf_trace_printk() line, with what the served trace_pipe shows beside it. */
struct bpftime_trace {
	uint32_t pid;   /* the thread that ran the program */
	uint32_t cpu;
	uint64_t ts_ns; /* CLOCK_MONOTONIC */
	char comm[16];  /* the thread's name */
	/* then the text (not NUL-terminated) */
};

#endif
