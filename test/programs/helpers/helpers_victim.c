// The process helpers_uprobe traces: joins the cgroup named by argv[1] (if any), then calls
// helpers_strtox with each test string and helpers_misc once, and prints what the programs
// wrote into its memory.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct strtox_case {
	const char *s;
	int len; /* -1: strlen */
	unsigned long flags;
};

/* Kept in this order: helpers_uprobe prints results by index. */
static const struct strtox_case cases[] = {
	{"123", -1, 10},         {"  -123xyz", -1, 0},   {"0x1f", -1, 0},
	{"0x1f", -1, 16},        {"1f", -1, 16},         {"0x", -1, 0},
	{"0x", -1, 16},          {"077", -1, 0},         {"089", -1, 0},
	{"123", 2, 10},          {"\xa0" "5", -1, 10},   {"\t\n\v\f\r 7", -1, 10},
	{"   ", -1, 10},         {"-", -1, 10},          {"--1", -1, 10},
	{"+1", -1, 10},          {"12", -1, 2},          {"12", -1, 10 | 0x20},
	{"9223372036854775807", -1, 10},  {"9223372036854775808", -1, 10},
	{"-9223372036854775808", -1, 10}, {"-9223372036854775809", -1, 10},
	{"18446744073709551615", -1, 10}, {"18446744073709551616", -1, 10},
	{"-1", -1, 0},           {" 0xFF!", -1, 0},      {"777", -1, 8},
	{"8", -1, 8},            {"\x80", -1, 10},
	{"000000000000000000000000000000000000000000000000000000000000000042", -1, 10},
};

__attribute__((noinline)) void helpers_strtox(const char *s, unsigned long len, unsigned long flags)
{
	__asm__ volatile("" ::"r"(s), "r"(len), "r"(flags) : "memory");
}

__attribute__((noinline)) void helpers_misc(char *wbuf, const char *src)
{
	__asm__ volatile("" ::"r"(wbuf), "r"(src) : "memory");
}

struct vma_expect {
	uint64_t addr, start, end, pgoff;
	uint32_t exec, pad;
};

__attribute__((noinline)) void helpers_vma(const struct vma_expect *e)
{
	__asm__ volatile("" ::"r"(e) : "memory");
}

/* The mapping of addr, from /proc/self/maps. */
static void expect_vma(uintptr_t addr, struct vma_expect *e)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	unsigned long long s, en, off;
	memset(e, 0, sizeof(*e));
	e->addr = addr;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx %7s %llx", &s, &en, perms, &off) == 4 && addr >= s && addr < en) {
			e->start = s;
			e->end = en;
			e->pgoff = off / 4096;
			e->exec = perms[2] == 'x';
		}
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		char procs[4096], pid[32];
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", argv[1]);
		int fd = open(procs, O_WRONLY);
		int n = snprintf(pid, sizeof(pid), "%d", getpid());
		if (fd < 0 || write(fd, pid, n) != n) {
			perror(procs);
			return 1;
		}
		close(fd);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		helpers_strtox(cases[i].s, cases[i].len < 0 ? strlen(cases[i].s) : (unsigned long)cases[i].len,
			       cases[i].flags);
	char wbuf[16] = "untouched";
	helpers_misc(wbuf, "victim-data");
	printf("victim: wbuf=%s\n", wbuf);
	struct vma_expect e;
	expect_vma((uintptr_t)helpers_vma, &e);
	helpers_vma(&e);
	return 0;
}
