/* What a traced image does before the agent's constructor runs, recorded for syscall tracepoints.
 *
 * libbpftime-early.so (src-native/early) is an LD_AUDIT module: the dynamic loader loads it before
 * the program's libraries (and the preloaded agent), with no C library of its own. From its
 * la_version it takes the thread's syscalls through Syscall User Dispatch, runs each one and
 * records it (number, arguments, result, a copy of a path argument), with a marker for each
 * object the loader has mapped (la_objopen) and one before the constructors run (la_preinit).
 * The agent's constructor ends the recording with BPFTIME_EARLY_PRCTL, which the module answers
 * with the address of the records (on a kernel without the module: EINVAL; after the recording
 * ended on its own, the agent finds them by the memfd's name), and delivers them to
 * the syscall tracepoints when the exec's exit is reported, before anything else of the image,
 * leaving out what loading the agent itself (and what only it needs) did. */
#ifndef BPFTIME_EARLY_H
#define BPFTIME_EARLY_H
#include <stdint.h>

#define BPFTIME_EARLY_MAGIC 0x796c726165747062ull /* "bpteearly" */
#define BPFTIME_EARLY_BYTES (128u * 1024u)
/* The records live in a private mapping of a memfd of this name ("/memfd:bpftime-early" in
 * /proc/self/maps): found there when the recording ended before the agent asked. */
#define BPFTIME_EARLY_MEMFD "bpftime-early"
/* prctl(BPFTIME_EARLY_PRCTL, (struct bpftime_early_hdr **)out): stop recording, say where. */
#define BPFTIME_EARLY_PRCTL 0x62706531

enum { BPFTIME_EARLY_SYSCALL = 1, BPFTIME_EARLY_OBJOPEN = 2, BPFTIME_EARLY_PREINIT = 3 };

struct bpftime_early_rec {
	uint32_t kind;
	uint32_t size;    /* of this record with its string, a multiple of 8 */
	int32_t nr;       /* syscall number */
	int32_t str_arg;  /* SYSCALL: the argument the string was copied from, -1 none */
	uint64_t args[6]; /* SYSCALL: the arguments; OBJOPEN: args[0] = l_addr, args[1] = namespace */
	int64_t ret;      /* SYSCALL: the result (-errno) */
	char str[];       /* SYSCALL: the path argument; OBJOPEN: l_name (NUL-terminated) */
};

struct bpftime_early_hdr {
	uint64_t magic;
	uint32_t used;     /* bytes of records after the header */
	uint8_t selector;  /* Syscall User Dispatch's selector byte */
	uint8_t stopped;   /* recording ended (the agent, a call it cannot run, or the buffer full) */
	uint8_t overflow;  /* ended because the buffer was full: the records are a prefix */
	uint8_t pad;
};
#endif
