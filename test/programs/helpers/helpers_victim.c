// The process helpers_uprobe traces: joins the cgroup named by argv[1] (if any), then calls
// helpers_strtox with each test string and helpers_misc once, and prints what the programs
// wrote into its memory.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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
	return 0;
}
