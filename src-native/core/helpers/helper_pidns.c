/* bpf_get_ns_current_pid_tgid(dev, ino, nsdata, size): the calling thread's pid and tgid as
 * seen in the pid namespace (dev, ino), the kernel's answer when that namespace is the
 * thread's own (its active pid namespace, /proc/self/ns/pid), -EINVAL otherwise, nsdata then
 * zeroed. Numbers in our own namespace are what getpid/gettid report, which the pid_tgid cache
 * already holds.
 * dev is compared in the kernel's dev_t encoding (major << 20 | minor, 32 bits); tools pass
 * stat()'s st_dev, which encodes nsfs's device (major 0, small minor) identically. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "helpers_internal.h"

BPFTIME_HELPER(get_ns_current_pid_tgid)
{
	uint64_t dev = r1, ino = r2;
	struct bpf_pidns_info *nsdata = (struct bpf_pidns_info *)(uintptr_t)r3;
	uint32_t size = (uint32_t)r4;
	struct stat st;

	if (size != sizeof(*nsdata) || (uint64_t)(uint32_t)dev != dev)
		goto clear;
	if (stat("/proc/self/ns/pid", &st) != 0)
		goto clear;
	uint64_t kdev = ((uint64_t)major(st.st_dev) << 20) | minor(st.st_dev);
	if (kdev != dev || (uint64_t)st.st_ino != ino)
		goto clear;
	uint64_t pid_tgid = bpftime_current_pid_tgid();
	nsdata->pid = (uint32_t)pid_tgid;
	nsdata->tgid = (uint32_t)(pid_tgid >> 32);
	return 0;
clear:
	memset(nsdata, 0, size);
	return (uint64_t)(int64_t)-EINVAL;
}
