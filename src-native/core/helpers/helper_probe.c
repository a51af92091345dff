/* Fault-safe memory reads and the probe_read family.
 *
 * A program may pass any address to probe_read: NULL, unmapped, PROT_NONE, freed. Reading it
 * must fail with -EFAULT and never crash the host process. The reads go through
 * process_vm_readv on our own pid: the kernel does the access with fault handling and reports
 * EFAULT, without a SIGSEGV handler (which would replace the application's own).
 *
 * Cost: one syscall per read (~0.3-1 us). This is the place to optimise later, e.g. a
 * fault-tolerant copy with an exception table for the agent's own code, or a cache of
 * known-readable ranges; keep the contract (0 / -EFAULT, never crash).
 *
 * Kernel semantics kept:
 *  - probe_read_user / probe_read: 0, or -EFAULT with dst zero-filled.
 *  - probe_read_user_str / probe_read_str: bytes copied including the NUL (size when
 *    truncated, with dst[size-1] = 0), or -EFAULT with dst zero-filled; 0 for size 0.
 *  - probe_read_kernel[_str]: there is no kernel memory to read here, except what the host
 *    presents as such (the agent's task_struct stand-ins, bpf_get_current_task()) and the maps'
 *    memory (values the program looked up): those are read, probe_read[_str] included. Any other user-space address gets what x86's
 *    copy_from_kernel_nofault gives it, -ERANGE; anything else -EFAULT.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <asm/ptrace.h> /* struct pt_regs */
#include "bpftime/map.h"
#include "bpftime/vma.h"
#include "helpers_internal.h"

#define PAGE 4096u
/* x86-64 TASK_SIZE_MAX + PAGE_SIZE: below it an address is a user address. */
#define USER_ADDR_END 0x0000800000000000ull

int bpftime_copy_from_user(void *dst, const void *src, size_t n)
{
	if (n == 0)
		return 0;
	struct iovec local = {.iov_base = dst, .iov_len = n};
	struct iovec remote = {.iov_base = (void *)src, .iov_len = n};
	/* Our own tgid: a vfork child that shares our cache also shares our memory. */
	pid_t self = (pid_t)(bpftime_current_pid_tgid() >> 32);
	ssize_t got = process_vm_readv(self, &local, 1, &remote, 1, 0);
	return got == (ssize_t)n ? 0 : -EFAULT;
}

long bpftime_strncpy_from_user(char *dst, const void *src, size_t n)
{
	/* Read in chunks that never cross a page boundary, so a string that ends just before an
	 * unmapped page is read whole; bounce through a small buffer so nothing past the NUL
	 * reaches dst (programs hash or compare whole buffers). */
	char chunk[256];
	size_t done = 0;
	if (n == 0)
		return 0;
	while (done < n) {
		uintptr_t a = (uintptr_t)src + done;
		size_t want = n - done;
		size_t to_page = PAGE - (a & (PAGE - 1));
		if (want > to_page)
			want = to_page;
		if (want > sizeof(chunk))
			want = sizeof(chunk);
		if (bpftime_copy_from_user(chunk, (const void *)a, want))
			return -EFAULT;
		const char *nul = memchr(chunk, 0, want);
		if (nul) {
			size_t k = (size_t)(nul - chunk) + 1;
			memcpy(dst + done, chunk, k);
			return (long)(done + k);
		}
		memcpy(dst + done, chunk, want);
		done += want;
	}
	dst[n - 1] = 0;
	return (long)n;
}

/* Whether [src, src + size) touches the task's user registers a syscall function probe's context
 * points at: kernel memory on a kernel, which the _user helpers fault on (bcc's statsnoop reads a
 * filename from that address and prints an empty one there). */
static int in_user_regs(const void *src, uint64_t size)
{
	const struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	if (!rc || !rc->user_regs)
		return 0;
	uintptr_t lo = (uintptr_t)rc->user_regs, a = (uintptr_t)src;
	return a < lo + sizeof(struct pt_regs) && lo < a + (size ? size : 1);
}

static uint64_t read_user(void *dst, uint32_t size, const void *src)
{
	int rc = in_user_regs(src, size) ? -EFAULT : bpftime_copy_from_user(dst, src, size);
	if (rc)
		memset(dst, 0, size);
	return (uint64_t)(int64_t)rc;
}

static uint64_t read_user_str(char *dst, uint32_t size, const void *src)
{
	if (size == 0)
		return 0;
	long rc = in_user_regs(src, size) ? -EFAULT : bpftime_strncpy_from_user(dst, src, size);
	if (rc < 0)
		memset(dst, 0, size);
	return (uint64_t)rc;
}

/* Memory the host presents as kernel memory: >= 0 when src is inside it, else -1. */
static long host_kernel_read(void *dst, const void *src, uint32_t size, int str)
{
	long n = bpftime_vma_standin_read(dst, src, size, str); /* bpf_find_vma's stand-ins */
	if (n >= 0)
		return n;
	const struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	if (rc && rc->user_regs) {
		uintptr_t lo = (uintptr_t)rc->user_regs, hi = lo + sizeof(struct pt_regs), a = (uintptr_t)src;
		if (a >= lo && a < hi && (str || size <= hi - a)) {
			size_t room = hi - a, k = size < room ? size : room;
			if (!str) {
				memcpy(dst, src, size);
				return 0;
			}
			const char *nul = memchr(src, 0, k);
			if (nul) {
				memcpy(dst, src, (size_t)(nul - (const char *)src) + 1);
				return nul - (const char *)src + 1;
			}
			if (size > room)
				return -1; /* a string that runs off the end is not one we hold */
			memcpy(dst, src, size - 1);
			((char *)dst)[size - 1] = 0;
			return size;
		}
	}
	/* Map values are kernel memory on a kernel (bcc's tools read them with
	 * probe_read_kernel): the copy stays fault-safe should the map go meanwhile. */
	uintptr_t end = bpftime_map_region_contains(src, str ? 1 : size);
	if (end) {
		if (!str)
			return bpftime_copy_from_user(dst, src, size) ? -1 : 0;
		size_t room = end - (uintptr_t)src;
		return bpftime_strncpy_from_user(dst, src, size < room ? size : room);
	}
	const struct bpftime_helper_host *host = bpftime_helpers_host();
	return host->kernel_read ? host->kernel_read(dst, src, size, str) : -1;
}

/* What reading any other address as kernel memory gives. */
static uint64_t kernel_fault(void *dst, uint32_t size, const void *src)
{
	int rc = -EFAULT;
	if ((uintptr_t)src < USER_ADDR_END)
		rc = -ERANGE; /* checked before the size, as copy_from_kernel_nofault does */
	else if (size == 0)
		return 0; /* a kernel address with nothing to copy */
	memset(dst, 0, size);
	return (uint64_t)(int64_t)rc;
}

static uint64_t read_kernel(void *dst, uint32_t size, const void *src)
{
	if (host_kernel_read(dst, src, size, 0) >= 0)
		return 0;
	return kernel_fault(dst, size, src);
}

/* size > 0 */
static uint64_t read_kernel_str(char *dst, uint32_t size, const void *src)
{
	long n = host_kernel_read(dst, src, size, 1);
	if (n >= 0)
		return (uint64_t)n;
	return kernel_fault(dst, size, src);
}

/* (dst, size, unsafe_ptr) */
BPFTIME_HELPER(probe_read_user)
{
	return read_user((void *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}

/* The old helper reads user memory for user addresses (bpf_probe_read_compat on x86). */
BPFTIME_HELPER(probe_read)
{
	if (r3 >= USER_ADDR_END)
		return read_kernel((void *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
	/* A task stand-in is kernel memory to the program, though it sits at a user address. */
	if (host_kernel_read((void *)(uintptr_t)r1, (const void *)(uintptr_t)r3, (uint32_t)r2, 0) >= 0)
		return 0;
	return read_user((void *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}

BPFTIME_HELPER(probe_read_kernel)
{
	return read_kernel((void *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}

BPFTIME_HELPER(probe_read_user_str)
{
	return read_user_str((char *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}

BPFTIME_HELPER(probe_read_str)
{
	if (r3 >= USER_ADDR_END) {
		if ((uint32_t)r2 == 0)
			return 0;
		return read_kernel_str((char *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
	}
	if ((uint32_t)r2 != 0) {
		long n = host_kernel_read((void *)(uintptr_t)r1, (const void *)(uintptr_t)r3, (uint32_t)r2, 1);
		if (n >= 0)
			return (uint64_t)n;
	}
	return read_user_str((char *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}

BPFTIME_HELPER(probe_read_kernel_str)
{
	if ((uint32_t)r2 == 0)
		return 0;
	return read_kernel_str((char *)(uintptr_t)r1, (uint32_t)r2, (const void *)(uintptr_t)r3);
}
