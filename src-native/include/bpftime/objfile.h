/* Layout of the memfd behind every object a tool holds (map, program, link, perf event, BTF).
 *
 * Every object the syscall server creates is a memfd. The tool receives it with SCM_RIGHTS, so
 * object fds are real kernel fds (dup, fork, exec and close behave) and the shim can recognise
 * an object fd by reading this header, without trusting fd numbers. Agents receive the same
 * memfds and map them, which is how maps are shared and programs reach every process.
 *
 *   offset 0     struct bpftime_obj_hdr (one page)
 *   offset 4096  kind-specific payload: the map region (map.h), the program image (below), ...
 */
#ifndef BPFTIME_OBJFILE_H
#define BPFTIME_OBJFILE_H
#include <stdint.h>

#define BPFTIME_OBJ_MAGIC 0x4f544642u /* "BFTO" little endian */
#define BPFTIME_OBJ_HDR_SIZE 4096u
#define BPFTIME_OBJ_VERSION 1u

enum bpftime_obj_kind {
	BPFTIME_OBJ_MAP = 1,
	BPFTIME_OBJ_PROG = 2,
	BPFTIME_OBJ_LINK = 3,
	BPFTIME_OBJ_PERF_EVENT = 4,
	BPFTIME_OBJ_BTF = 5,
};

struct bpftime_obj_hdr {
	uint32_t magic;    /* BPFTIME_OBJ_MAGIC */
	uint32_t version;  /* BPFTIME_OBJ_VERSION */
	uint32_t kind;     /* enum bpftime_obj_kind */
	uint32_t id;       /* the kernel-style global id (map id, prog id, ...) */
	uint64_t payload_size; /* bytes after the header page */
	uint32_t subtype;  /* map type / prog type / link type / perf event type */
	uint32_t server_pid; /* the server that created it */
	char name[16];     /* object name as given (BPF_OBJ_NAME_LEN) */
};

/* A BPF_OUTPUT perf event's attr.sample_type (u64), written by the server into the header page of
 * its memfd: which fields each record carries (bpf_perf_event_output writes them as the kernel's
 * perf_output_sample does). */
#define BPFTIME_PERF_SAMPLE_TYPE_OFF 2048u

/* A program image (payload of a BPFTIME_OBJ_PROG memfd), written once by the server at
 * PROG_LOAD and read by every agent. Instructions are stored as loaded after the server's
 * fix-ups; the relocation table says which ld_imm64 pairs the agent must patch with
 * process-local addresses. */
#define BPFTIME_PROG_IMAGE_MAGIC 0x47525042u /* "BPRG" */

enum bpftime_reloc_kind {
	BPFTIME_RELOC_MAP_PTR = 1,   /* ld_imm64 gets the process-local struct bpftime_map * */
	BPFTIME_RELOC_MAP_VALUE = 2, /* ld_imm64 gets the address of value[0] + off (array maps) */
};

struct bpftime_reloc {
	uint32_t insn_idx; /* index of the first half of the ld_imm64 */
	uint32_t kind;     /* enum bpftime_reloc_kind */
	uint32_t map_id;   /* global map id */
	uint32_t off;      /* byte offset into the value, for MAP_VALUE */
};

struct bpftime_prog_image {
	uint32_t magic;      /* BPFTIME_PROG_IMAGE_MAGIC */
	uint32_t prog_type;  /* enum bpf_prog_type */
	uint32_t insn_cnt;
	uint32_t insn_off;   /* from the start of this struct, 8-aligned */
	uint32_t reloc_cnt;
	uint32_t reloc_off;  /* from the start of this struct */
	uint32_t map_cnt;    /* maps the program uses (ids follow at map_ids_off) */
	uint32_t map_ids_off;
	uint32_t jit_size;   /* 0 until the JIT lands: then x86-64 code at jit_off */
	uint32_t jit_off;
	uint32_t flags;
	uint32_t reserved;
};

/* Run-time statistics of a program (BPF_ENABLE_STATS), in the header page of its memfd at
 * BPFTIME_PROG_STATS_OFF, so that every process running it counts into the same place. Agents
 * and the server map that page read-write; `enabled` is set by the server while a stats fd is
 * open (the kernel's bpf_stats_enabled_key), and is the only thing a run reads when it is off. */
#define BPFTIME_PROG_STATS_OFF 2048u
struct bpftime_prog_stats {
	uint32_t enabled;
	uint32_t reserved;
	uint64_t run_cnt;     /* bpf_prog_info.run_cnt */
	uint64_t run_time_ns; /* bpf_prog_info.run_time_ns */
	uint64_t misses;      /* bpf_prog_info.recursion_misses */
};

/* Clock perf events (profile:, interval:) running this program: per CPU of the event (slot
 * cpu % (SLOTS - 1); the last slot for events on any CPU), the CLOCK_MONOTONIC time of the last
 * sample taken in a traced process, so that each period runs once across the processes that
 * share the tick (src-native/agent/timer.c). In the header page, mapped read-write like the
 * stats. */
#define BPFTIME_PROG_CLOCK_OFF 3072u
#define BPFTIME_PROG_CLOCK_SLOTS 128u
struct bpftime_prog_clock {
	uint64_t claimed[BPFTIME_PROG_CLOCK_SLOTS];
};
#ifndef __cplusplus
_Static_assert(BPFTIME_PROG_CLOCK_OFF + sizeof(struct bpftime_prog_clock) <= BPFTIME_OBJ_HDR_SIZE, "prog clock page");
#endif

#endif
