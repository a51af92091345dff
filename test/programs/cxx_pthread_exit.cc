// pthread_exit through functions with probes (src-native/agent/attach: relocated calls, the
// _Unwind_ForcedUnwind hook of unwind.c): prints "ready pid=N", waits for a line, then runs N
// threads (argv[1], default 10); each has a Guard in its start function and one in mid(), which
// calls leaver(), which calls pthread_exit for odd i. Prints "dtors D": every Guard's destructor
// runs as the thread unwinds, so D = 2N. mid() begins `sub $N, %rsp; call leaver`. On a kernel a
// uretprobe on mid() leaves the start functions' Guards of the exiting threads undestroyed (the
// forced unwind stops at the uretprobe trampoline).
#include <pthread.h>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

static std::atomic<int> dtors;

struct Guard {
	~Guard() { dtors++; }
};

extern "C" __attribute__((noinline)) int leaver(int i)
{
	if (i & 1)
		pthread_exit(nullptr);
	return i;
}

extern "C" __attribute__((noinline)) int mid(int i)
{
	Guard g;
	volatile int r = leaver(i);
	return r + 1;
}

static void *thread_main(void *arg)
{
	Guard g;
	mid((int)(long)arg);
	return nullptr;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, nullptr, thread_main, (void *)(long)i) != 0)
			return 1;
		pthread_join(t, nullptr);
	}
	printf("dtors %d\n", dtors.load());
	return 0;
}
