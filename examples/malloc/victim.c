// SPDX-License-Identifier: GPL-2.0
// victim: calls malloc exactly as often as it is told, and nothing else does.
//
//   victim               prints "ready pid=<pid>", then per stdin line:
//                          N    call malloc N times, then print "done N"
//                          q    (or EOF) exit
//   victim --loop SECS   call malloc continuously for SECS, print "done <calls>"
//
// Only read(2)/write(2) and hand-made number formatting are used around the
// calls, so no stdio buffer or formatter allocates behind the count's back.
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Called through volatile pointers: the compiler can neither elide nor merge
 * the malloc/free pairs. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static void put(const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t n = write(STDOUT_FILENO, s, len);
		if (n <= 0)
			exit(1);
		s += n;
		len -= (size_t)n;
	}
}

static void put_num(const char *prefix, unsigned long long v)
{
	char buf[32];
	char *p = buf + sizeof(buf) - 1;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	put(prefix);
	put(p);
	put("\n");
}

static void call_malloc(unsigned long long n)
{
	for (unsigned long long i = 0; i < n; i++)
		do_free(do_malloc(16));
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int loop_for(const char *arg)
{
	char *end;
	double secs = strtod(arg, &end), stop;
	unsigned long long calls = 0;

	if (*end || !(secs > 0)) {
		put("victim: --loop wants a number of seconds\n");
		return 2;
	}
	put_num("ready pid=", (unsigned long long)getpid());
	stop = now_s() + secs;
	do {
		call_malloc(1024);
		calls += 1024;
	} while (now_s() < stop);
	put_num("done ", calls);
	return 0;
}

// Handles one input line; returns 0 to go on, 1 to quit.
static int handle(const char *line)
{
	unsigned long long n = 0;
	const char *p = line;

	if (!strcmp(line, "q"))
		return 1;
	if (!*p)
		return 0;
	for (; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (unsigned long long)(*p - '0');
	if (*p || p == line) {
		put("error: expected a number of calls or q\n");
		return 0;
	}
	call_malloc(n);
	put_num("done ", n);
	return 0;
}

int main(int argc, char **argv)
{
	char buf[256];
	size_t used = 0;

	if (argc == 3 && !strcmp(argv[1], "--loop"))
		return loop_for(argv[2]);
	if (argc != 1) {
		put("usage: victim [--loop SECONDS]\n");
		return 2;
	}

	put_num("ready pid=", (unsigned long long)getpid());
	for (;;) {
		char *nl;
		ssize_t n = read(STDIN_FILENO, buf + used, sizeof(buf) - 1 - used);

		if (n <= 0)
			return 0; /* EOF (or error): done */
		used += (size_t)n;
		buf[used] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (nl > buf && nl[-1] == '\r')
				nl[-1] = '\0';
			if (handle(buf))
				return 0;
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1) /* an absurdly long line: drop it */
			used = 0;
	}
}
