// dlopen_victim LIB: prints "ready pid=<pid>"; then reads commands from stdin:
//   "load"  dlopen(LIB) and print "loaded";   "N"  call greet() N times, print "done N".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

int main(int argc, char **argv)
{
	char buf[128];
	int (*greet)(int) = NULL;
	if (argc != 2)
		return 2;
	snprintf(buf, sizeof(buf), "ready pid=%d\n", getpid());
	put(buf);
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf) - 1);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		if (!strncmp(buf, "load", 4)) {
			void *h = dlopen(argv[1], RTLD_NOW);
			greet = h ? (int (*)(int))dlsym(h, "greet") : NULL;
			put(greet ? "loaded\n" : "load failed\n");
			continue;
		}
		long count = strtol(buf, NULL, 10);
		for (long i = 0; i < count && greet; i++)
			greet((int)i);
		snprintf(buf, sizeof(buf), "done %ld\n", count);
		put(buf);
	}
}
