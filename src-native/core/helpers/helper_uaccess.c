/* Writes to and sleepable reads from the traced process's memory on a program's behalf:
 * bpf_probe_write_user and bpf_copy_from_user.
 *
 * Both must survive any address a program hands them: the copies go through the kernel
 * (process_vm_writev / bpftime_copy_from_user on our own pid), which checks the mapping and its
 * protection and reports EFAULT, so a bad pointer is an error, never a SIGSEGV in the host.
 * Like copy_to_user on the kernel, a write to a read-only page fails (-EFAULT) rather than
 * forcing the write; a write that faults part way leaves the bytes before the fault written.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "helpers_internal.h"

int bpftime_copy_to_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	struct iovec local = {.iov_base = (void *)src, .iov_len = n};
	struct iovec remote = {.iov_base = dst, .iov_len = n};
	pid_t self = (pid_t)(bpftime_current_pid_tgid() >> 32);
	ssize_t put = process_vm_writev(self, &local, 1, &remote, 1, 0);
	return put == (ssize_t)n ? 0 : -EFAULT;
}

/* bpf_probe_write_user(unsafe_ptr, src, size): 0 or -EFAULT, as copy_to_user_nofault. (The
 * kernel's -EPERM cases, kernel threads and exiting tasks, have no counterpart here.) */
BPFTIME_HELPER(probe_write_user)
{
	return (uint64_t)(int64_t)bpftime_copy_to_user((void *)(uintptr_t)r1, (const void *)(uintptr_t)r2,
						       (uint32_t)r3);
}

/* bpf_copy_from_user(dst, size, user_ptr): 0, or -EFAULT with dst zero-filled. Sleepable
 * programs only (the verifier refuses it elsewhere, as the kernel's does). */
BPFTIME_HELPER(copy_from_user)
{
	void *dst = (void *)(uintptr_t)r1;
	uint32_t size = (uint32_t)r2;
	if (bpftime_copy_from_user(dst, (const void *)(uintptr_t)r3, size)) {
		memset(dst, 0, size);
		return (uint64_t)(int64_t)-EFAULT;
	}
	return 0;
}
