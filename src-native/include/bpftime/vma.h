/* bpf_find_vma's view of a mapping: stand-ins for the kernel's struct vm_area_struct, struct file
 * and struct dentry, laid out as the running kernel lays them out (the server reads its BTF:
 * src-ts/btf/vma_layout.ts), so CO-RE programs read vm_start, vm_end, vm_flags, vm_pgoff and
 * vm_file->f_path.dentry->d_name / d_iname at the offsets libbpf computed. */
#ifndef BPFTIME_VMA_H
#define BPFTIME_VMA_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BPFTIME_VMA_LAYOUT_MAGIC 0x4c414d56u /* "VMAL" */

/* Offsets are -1 where the kernel has no such field (of the expected size). */
struct bpftime_vma_layout {
	uint32_t magic;
	int32_t vma_size, file_size, dentry_size;
	int32_t vm_start, vm_end, vm_flags, vm_pgoff, vm_file; /* in struct vm_area_struct */
	int32_t f_path_dentry;                                  /* in struct file */
	int32_t d_name_name, d_name_len, d_iname, d_iname_len;  /* in struct dentry */
	int32_t task_tgid;                                      /* in struct task_struct */
};

/* Installs the layout (the agent, from MSG_TASK_LAYOUT's tail). Without one bpf_find_vma
 * answers -EOPNOTSUPP. */
void bpftime_vma_set_layout(const void *payload, uint32_t len);

/* For probe_read_kernel[_str]: when [src, src + n) lies in this thread's stand-ins, copies it
 * (str: as strncpy_from_kernel_nofault) and returns >= 0; else -1. */
long bpftime_vma_standin_read(void *dst, const void *src, uint32_t n, int str);

#ifdef __cplusplus
}
#endif
#endif
