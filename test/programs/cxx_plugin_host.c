// A C program that loads a C++ library with dlopen(RTLD_LOCAL), as Python loads a C++ extension
// module: cxx_plugin_host LIB N prints "ready pid=P", waits for a line, then runs the library's
// plugin_run(N) (N calls that throw every other time and catch) and prints "caught C".
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	int (*run)(int) = (int (*)(int))dlsym(h, "plugin_run");
	printf("caught %d\n", run ? run(atoi(argv[2])) : -1);
	return 0;
}
