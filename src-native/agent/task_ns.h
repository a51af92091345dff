/* The task stand-ins' namespaces (task_ns.c), for task.c. */
#ifndef BPFTIME_AGENT_TASK_NS_H
#define BPFTIME_AGENT_TASK_NS_H
#include <stdint.h>

/* From the whole MSG_TASK_LAYOUT payload: finds struct bpftime_ns_layout after the task and vma
 * layouts and makes this process's nsproxy stand-in; task_size bounds task->nsproxy. Without it
 * (an older server, no BTF) stand-ins have no nsproxy, as before. */
void agent_task_ns_set_layout(const void *payload, uint32_t len, uint32_t task_size);
/* Writes task->nsproxy into a thread's stand-in. */
void agent_task_ns_put(uint8_t *task);
/* Makes every namespace id current (for bpf_get_current_task_btf's direct loads). */
void agent_task_ns_refresh(void);
/* probe_read_kernel[_str] of the namespace stand-ins: as agent_task_kernel_read, -1 when
 * [src, src + n) is not one of them. */
long agent_task_ns_read(void *dst, const void *src, uint32_t n, int str);

#endif
