/* BPF_MAP_TYPE_STACK_TRACE's program-side operation and the user stack walk behind
 * bpf_get_stackid / bpf_get_stack (src-native/core/maps/map_stack_trace.c,
 * src-native/core/helpers/helper_stack.c). */
#ifndef BPFTIME_STACK_TRACE_H
#define BPFTIME_STACK_TRACE_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_map;

/* sysctl kernel.perf_event_max_stack as the running kernel has it (read once; 127 when
 * unreadable): the deepest stack a helper collects and the largest value_size / 8 a
 * STACK_TRACE map accepts. */
uint32_t bpftime_perf_event_max_stack(void);

/* The map half of bpf_get_stackid (the kernel's __bpf_get_stackid): stores the `nr` frames at
 * `ips` (already past the skipped ones, at most value_size / 8) in bucket
 * jhash2(ips) & (n_buckets - 1) and returns that id, or -EEXIST (the bucket holds another
 * stack and BPF_F_REUSE_STACKID is not set), -ENOMEM (no free element), -EINVAL (not a
 * STACK_TRACE map), -EBUSY (this thread is already inside the map: a re-entered program). The
 * ids are the kernel's for the same frames and map size. */
long bpftime_stackmap_get_id(struct bpftime_map *m, const uint64_t *ips, uint32_t nr, uint64_t flags);

/* The calling thread's user stack as the kernel's perf_callchain_user collects it on x86-64
 * from `regs` (a struct pt_regs): regs->ip, then for a uprobe hit at a `push %rbp` or
 * `endbr64` (at_frame_push) the return address at regs->sp, then the return addresses of the
 * frame-pointer chain from regs->bp until a read faults or `max` frames are stored. Every
 * read is fault-safe. Returns the number of frames stored. */
uint32_t bpftime_user_stack(const void *regs, int at_frame_push, uint64_t *ips, uint32_t max);

struct bpf_stack_build_id;
/* The kernel's stack_map_get_build_id_offset for user frames: out[i] is (VALID, the GNU build id
 * of the file mapped at ips[i], the address's offset in that file), or (IP, zero id, ips[i])
 * where no file with a build id is mapped there. Async-signal-safe. */
void bpftime_stack_build_ids(struct bpf_stack_build_id *out, const uint64_t *ips, uint32_t nr);

#ifdef __cplusplus
}
#endif
#endif
