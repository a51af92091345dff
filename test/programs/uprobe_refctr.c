// The uprobe PMU's ref_ctr_offset (USDT semaphore) rules, as the kernel applies them: an odd
// offset is refused; a second probe at the same place with another offset is refused while the
// first exists ("ref_ctr_offset mismatch"), the same offset is fine, and once the first is gone
// any offset is. test/e2e/uprobe-events.test.ts runs it on the kernel and under the shim.
//   uprobe_refctr PMU_TYPE BINARY OFFSET
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *binary;
static unsigned long offset;
static int pmu_type;

static int open_probe(unsigned long ref_ctr, int retprobe)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = pmu_type;
	a.config = (ref_ctr << 32) | (unsigned long)retprobe; /* retprobe: format/retprobe is config:0 */
	a.config1 = (unsigned long)binary;
	a.config2 = offset;
	return (int)syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

static int show(const char *what, int fd)
{
	if (fd < 0)
		printf("%s: errno %d\n", what, errno);
	else
		printf("%s: ok\n", what);
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	pmu_type = atoi(argv[1]);
	binary = argv[2];
	offset = strtoul(argv[3], NULL, 0);
	show("odd ref_ctr_offset", open_probe(5, 0));
	int first = show("ref_ctr_offset 0", open_probe(0, 0));
	show("then 6 at the same place", open_probe(6, 0));
	show("then a return probe with 6", open_probe(6, 1));
	int same = show("then 0 again", open_probe(0, 1));
	close(first);
	if (same >= 0)
		close(same);
	int later = show("6 once those are closed", open_probe(6, 0));
	if (later >= 0)
		close(later);
	return 0;
}
