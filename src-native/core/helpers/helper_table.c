/* The helper table: implementations at their kernel ids (enum bpf_func_id, <linux/bpf.h>).
 * Ids without an entry are NULL: the verifier rejects programs calling them (a kernel without
 * the helper answers the same way: unknown func). */
#include <linux/bpf.h>

#include "helpers_internal.h"

#define H(name) [BPF_FUNC_##name] = bpftime_h_##name

const bpftime_helper_fn bpftime_helper_table[__BPF_FUNC_MAX_ID] = {
	H(map_lookup_elem),
	H(map_update_elem),
	H(map_delete_elem),
	H(tail_call),
	H(loop),
	H(for_each_map_elem),
	H(probe_read),
	H(ktime_get_ns),
	H(trace_printk),
	H(perf_event_output),
	H(get_stack),
	H(get_stackid),
	H(send_signal),
	H(send_signal_thread),
	H(current_task_under_cgroup),
	H(get_prandom_u32),
	H(get_smp_processor_id),
	H(get_current_pid_tgid),
	H(get_current_uid_gid),
	H(get_current_comm),
	H(get_current_task),
	H(get_current_task_btf),
	H(probe_read_str),
	H(ktime_get_boot_ns),
	H(probe_read_user),
	H(probe_read_kernel),
	H(probe_read_user_str),
	H(probe_read_kernel_str),
	H(ktime_get_coarse_ns),
	H(snprintf),
	H(get_func_ip),
	H(get_attach_cookie),
	H(trace_vprintk),
	H(ktime_get_tai_ns),
	H(map_push_elem),
	H(map_pop_elem),
	H(map_peek_elem),
	H(ringbuf_output),
	H(ringbuf_reserve),
	H(ringbuf_submit),
	H(ringbuf_discard),
	H(ringbuf_query),
	H(strncmp),
	H(strtol),
	H(strtoul),
	H(probe_write_user),
	H(copy_from_user),
	H(jiffies64),
	H(get_numa_node_id),
	H(get_ns_current_pid_tgid),
	H(get_current_cgroup_id),
	H(get_current_ancestor_cgroup_id),
	H(override_return),
	H(spin_lock),
	H(spin_unlock),
	H(find_vma),
};

const uint32_t bpftime_helper_table_len = __BPF_FUNC_MAX_ID;
