/* Declarations of the helper implementations that helper_table.c places at their BPF_FUNC_*
 * ids. Each group of helpers lives in its own helper_<group>.c; a new helper is a function in
 * one of them plus one line in helper_table.c. */
#ifndef BPFTIME_HELPERS_INTERNAL_H
#define BPFTIME_HELPERS_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "bpftime/helpers.h"

#define BPFTIME_HELPER(name) \
	uint64_t bpftime_h_##name(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
/* Helpers that call back into the program take a hidden sixth argument: the address of the
 * calling JIT code's tail-call count, NULL from the interpreter (helper_callbacks.c). */
#define BPFTIME_HELPER_COUNTED(name)                                                                   \
	uint64_t bpftime_h_##name(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, \
				  uint32_t *tail_count)

/* helper_lines.c: calls fn with each line of the file at path (without its newline) until fn
 * returns non-zero; that value, 0 at the end of the file, or -errno when it cannot be opened. */
int bpftime_file_each_line(const char *path, int (*fn)(char *line, void *ctx), void *ctx);
/* helper_skb.c */
BPFTIME_HELPER(skb_load_bytes);
/* helper_perf.c */
BPFTIME_HELPER(perf_event_output);
/* helper_ringbuf.c */
BPFTIME_HELPER(ringbuf_output);
BPFTIME_HELPER(ringbuf_reserve);
BPFTIME_HELPER(ringbuf_submit);
BPFTIME_HELPER(ringbuf_discard);
BPFTIME_HELPER(ringbuf_query);
BPFTIME_HELPER(ringbuf_reserve_dynptr);
BPFTIME_HELPER(ringbuf_submit_dynptr);
BPFTIME_HELPER(ringbuf_discard_dynptr);
/* helper_stack.c */
BPFTIME_HELPER(get_stack);
BPFTIME_HELPER(get_stackid);
/* helper_signal.c */
BPFTIME_HELPER(send_signal);
BPFTIME_HELPER(send_signal_thread);
/* Queues the signals the run that is ending asked for (bpftime_run_ctx_set calls it). */
void bpftime_signal_flush(void);
/* helper_cgroup.c */
BPFTIME_HELPER(current_task_under_cgroup);
/* helper_user_ringbuf.c */
BPFTIME_HELPER(user_ringbuf_drain);
BPFTIME_HELPER(dynptr_from_mem);
BPFTIME_HELPER(dynptr_read);
BPFTIME_HELPER(dynptr_write);
BPFTIME_HELPER(dynptr_data);
/* helper_callbacks.c */
BPFTIME_HELPER(tail_call);
BPFTIME_HELPER_COUNTED(loop);
BPFTIME_HELPER_COUNTED(for_each_map_elem);
/* helper_maps.c */
BPFTIME_HELPER(map_lookup_elem);
BPFTIME_HELPER(map_update_elem);
BPFTIME_HELPER(map_delete_elem);
BPFTIME_HELPER(map_push_elem);
BPFTIME_HELPER(map_pop_elem);
BPFTIME_HELPER(map_peek_elem);
/* helper_percpu.c */
BPFTIME_HELPER(map_lookup_percpu_elem);
/* helper_task.c */
BPFTIME_HELPER(get_current_pid_tgid);
BPFTIME_HELPER(get_current_uid_gid);
BPFTIME_HELPER(get_current_comm);
BPFTIME_HELPER(get_smp_processor_id);
BPFTIME_HELPER(get_prandom_u32);
/* helper_task_struct.c */
BPFTIME_HELPER(get_current_task);
BPFTIME_HELPER(get_current_task_btf);
/* helper_time.c */
BPFTIME_HELPER(ktime_get_ns);
BPFTIME_HELPER(ktime_get_boot_ns);
BPFTIME_HELPER(ktime_get_coarse_ns);
BPFTIME_HELPER(ktime_get_tai_ns);
/* helper_probe.c */
BPFTIME_HELPER(probe_read);
BPFTIME_HELPER(probe_read_str);
BPFTIME_HELPER(probe_read_user);
BPFTIME_HELPER(probe_read_user_str);
BPFTIME_HELPER(probe_read_kernel);
BPFTIME_HELPER(probe_read_kernel_str);
/* helper_printk.c */
BPFTIME_HELPER(trace_printk);
BPFTIME_HELPER(trace_vprintk);
BPFTIME_HELPER(snprintf);
/* helper_ctx.c */
BPFTIME_HELPER(get_attach_cookie);
BPFTIME_HELPER(get_func_ip);

/* helper_string.c */
BPFTIME_HELPER(strncmp);
BPFTIME_HELPER(strtol);
BPFTIME_HELPER(strtoul);
/* helper_uaccess.c: fault-safe writes of this process's memory, 0 or -EFAULT */
int bpftime_copy_to_user(void *dst, const void *src, size_t n);
BPFTIME_HELPER(probe_write_user);
BPFTIME_HELPER(copy_from_user);
/* helper_jiffies.c */
uint64_t bpftime_jiffies64(void);
BPFTIME_HELPER(jiffies64);
/* helper_numa.c */
BPFTIME_HELPER(get_numa_node_id);
/* helper_pidns.c */
BPFTIME_HELPER(get_ns_current_pid_tgid);
/* helper_cgroup_id.c */
BPFTIME_HELPER(get_current_cgroup_id);
BPFTIME_HELPER(get_current_ancestor_cgroup_id);
/* helper_override.c */
BPFTIME_HELPER(override_return);
/* helper_spin_lock.c */
BPFTIME_HELPER(spin_lock);
BPFTIME_HELPER(spin_unlock);
/* helper_find_vma.c; the callback runner of helper_callbacks.c (0 and *ret, or the
 * interpreter's error) */
BPFTIME_HELPER(find_vma);
int bpftime_helper_callback(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t *ret);
/* 0 when fn is a callback bpftime_helper_callback may call, else -EINVAL. */
int bpftime_helper_callback_ok(uint64_t fn);
/* The table entries of find_vma and user_ringbuf_drain: they take the hidden tail-call count
 * (BPFTIME_HELPER_COUNTED) and hand it to bpftime_helper_callback. */
uint64_t bpftime_hc_find_vma(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, uint32_t *count);
uint64_t bpftime_hc_user_ringbuf_drain(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5, uint32_t *count);

#endif
