// C++ exceptions through functions with pending return probes (src-native/agent/attach/unwind.c).
// Prints "ready pid=N", waits for a line on stdin (the tracer attaches first), then runs every
// pattern below on three threads at once, prints how many times each function was entered and
// how many times it returned normally, counted by the program itself, and exits at the next
// line (or EOF): a tracer's uprobe and
// uretprobe counts must match those exactly, and the program must finish (on a kernel, a
// uretprobe on any of these makes the unwinder stop at the trampoline: std::terminate).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
enum { THROWER, MIDDLE, CATCHER, RETHROWER, RECURSE, GUARDED, EARLY, NFUNC };
static const char *const names[NFUNC] = { "thrower", "middle", "catcher", "rethrower", "recurse", "guarded", "early" };
static std::atomic<long> calls[NFUNC], rets[NFUNC], caught;

#define ENTER(f) calls[f]++
#define RETURN(f, v)          \
	do {                  \
		rets[f]++;    \
		return (v);   \
	} while (0)

// Throws for odd i.
extern "C" NOINLINE int thrower(int i)
{
	ENTER(THROWER);
	if (i & 1)
		throw std::runtime_error("odd");
	RETURN(THROWER, i);
}

// Unwound through: no handler of its own.
extern "C" NOINLINE int middle(int i)
{
	ENTER(MIDDLE);
	volatile int x = thrower(i);
	RETURN(MIDDLE, x + 1);
}

// Catches what its callees throw: returns every time.
extern "C" NOINLINE int catcher(int i)
{
	ENTER(CATCHER);
	try {
		int r = middle(i);
		RETURN(CATCHER, r);
	} catch (const std::exception &) {
		caught++;
		RETURN(CATCHER, -1);
	}
}

// Catches and throws again (`throw;`: __cxa_rethrow).
extern "C" NOINLINE int rethrower(int i)
{
	ENTER(RETHROWER);
	try {
		int r = middle(i);
		RETURN(RETHROWER, r);
	} catch (...) {
		throw;
	}
}

// Recursion: the throw comes from the bottom, d frames down.
extern "C" NOINLINE int recurse(int d, int i)
{
	ENTER(RECURSE);
	volatile int r = d == 0 ? thrower(i) : recurse(d - 1, i);
	RETURN(RECURSE, r + 1);
}

// A destructor that throws and catches inside, also while an unwind runs it (a nested
// exception: the outer one is still in flight when the inner one is caught).
struct Guard {
	~Guard()
	{
		try {
			thrower(1);
		} catch (const std::exception &) {
			caught++;
		}
	}
};

extern "C" NOINLINE int guarded(int i)
{
	ENTER(GUARDED);
	Guard g;
	int r = middle(i);
	RETURN(GUARDED, r);
}

// Its first instructions are `sub $N, %rsp; call thrower`: the call is among the bytes an entry
// probe's jmp replaces, so it runs relocated, and the callee's return address (what the unwinder
// walks through) must still be this function's. Its entries are counted by the caller.
extern "C" NOINLINE int early(int i)
{
	volatile int x = thrower(i);
	RETURN(EARLY, x + 1);
}

static void work(int rounds)
{
	for (int i = 0; i < rounds; i++) {
		catcher(i);
		ENTER(EARLY);
		try {
			early(i);
		} catch (const std::exception &) {
			caught++;
		}
		try {
			rethrower(i);
		} catch (const std::exception &) {
			caught++;
		}
		try {
			recurse(3, i);
		} catch (const std::exception &) {
			caught++;
		}
		try {
			guarded(i);
		} catch (const std::exception &) {
			caught++;
		}
	}
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 10;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	std::thread a(work, rounds), b(work, rounds);
	work(rounds);
	a.join();
	b.join();
	for (int f = 0; f < NFUNC; f++)
		printf("%s calls %ld returns %ld\n", names[f], calls[f].load(), rets[f].load());
	printf("caught %ld\n", caught.load());
	fflush(stdout);
	fgets(line, sizeof(line), stdin); /* exits at the next line or EOF: the tracer may look first */
	return 0;
}
