// native-test-extra: src-native/inject/*.c
/* The ptrace injector (src-native/inject) against children in the states that matter: blocked in
 * read (the syscall must be restarted, not lost), in nanosleep (restarted through its restart
 * block), computing in SSE registers without syscalls (every register put back), with several
 * threads, loaded twice, and failures that must leave the child running unharmed.
 *
 * The injected library is compiled here ($CC or gcc): its constructor and its entry point write
 * to a pipe whose fd and a value reach it through variables the injector sets in the child. */
#include "../../src-native/inject/inject.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(cond, ...)                                                                                                \
	do {                                                                                                            \
		if (cond) {                                                                                             \
			passed++;                                                                                       \
		} else {                                                                                                \
			failed++;                                                                                       \
			printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                          \
			printf(__VA_ARGS__);                                                                            \
			printf("\n");                                                                                   \
		}                                                                                                       \
	} while (0)

static char lib[512];
static int marks[2]; /* the library writes here */

static const char lib_src[] = "#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n"
			      "static int fd(void) { const char *s = getenv(\"INJ_FD\"); return s ? atoi(s) : -1; }\n"
			      "__attribute__((constructor)) static void ctor(void) { write(fd(), \"L\", 1); }\n"
			      "void inj_entry(void) { const char *v = getenv(\"INJ_VALUE\"); write(fd(), \"E\", 1);\n"
			      "  if (v) write(fd(), v, strlen(v)); }\n";

static int build_lib(void)
{
	const char *dir = getenv("BPFTIME_NATIVE_TEST_DIR");
	char src[512], cmd[1600];
	snprintf(lib, sizeof(lib), "%s/inject_test_lib.%d.so", dir ? dir : "/tmp", (int)getpid());
	if (lib[0] != '/') { /* dlopen in the child wants an absolute path */
		char cwd[256];
		snprintf(src, sizeof(src), "%s/%s", getcwd(cwd, sizeof(cwd)) ? cwd : ".", lib);
		snprintf(lib, sizeof(lib), "%s", src);
	}
	snprintf(src, sizeof(src), "%s.c", lib);
	FILE *f = fopen(src, "w");
	if (!f)
		return -1;
	fputs(lib_src, f);
	fclose(f);
	const char *cc = getenv("CC");
	snprintf(cmd, sizeof(cmd), "%s -shared -fPIC -o %s %s", cc && *cc ? cc : "gcc", lib, src);
	int rc = system(cmd);
	unlink(src);
	return rc == 0 ? 0 : -1;
}

/* What the library wrote within ms (NUL-terminated), "" if nothing. */
static const char *read_marks(int ms)
{
	static char buf[256];
	size_t got = 0;
	struct pollfd p = { marks[0], POLLIN, 0 };
	while (got < sizeof(buf) - 1 && poll(&p, 1, got ? 50 : ms) > 0) {
		ssize_t k = read(marks[0], buf + got, sizeof(buf) - 1 - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	buf[got] = 0;
	return buf;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- the children --- */

static int cmd_pipe[2];

/* Blocks in read(): after the injection it must still get exactly the byte sent. */
static int child_read(void)
{
	char c[4];
	ssize_t n = read(cmd_pipe[0], c, sizeof(c));
	return n == 1 && c[0] == 'x' ? 0 : 3;
}

/* Sleeps 400 ms in one nanosleep: interrupted and restarted, it must still sleep it all and
 * return 0 (not EINTR). */
static int child_sleep(void)
{
	struct timespec d = { 0, 400 * 1000 * 1000 };
	double t = now_s();
	int rc = nanosleep(&d, NULL);
	return rc == 0 && now_s() - t >= 0.399 ? 0 : 4;
}

/* Pure computation in SSE registers for 800 ms, no syscalls in the loop: any register not put
 * back shows as a wrong result. */
static double series(int n, double x)
{
	double a = 0, b = 1;
	for (int i = 0; i < n; i++) {
		a = a * 0.999 + x;
		b = b * 1.0001 - a * 1e-9;
	}
	return a + b;
}

static int child_busy(void)
{
	double expect = series(100000, 0.5);
	double stop = now_s() + 0.8;
	int bad = 0;
	while (now_s() < stop)
		for (int k = 0; k < 20; k++)
			bad += series(100000, 0.5) != expect;
	return bad ? 5 : 0;
}

static volatile int stop_threads;
static void *spin(void *arg)
{
	(void)arg;
	while (!stop_threads)
		;
	return NULL;
}
static void *nap(void *arg)
{
	(void)arg;
	while (!stop_threads)
		usleep(1000);
	return NULL;
}

/* Two threads spinning, two napping, main in read(). */
static int child_threads(void)
{
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, i < 2 ? spin : nap, NULL);
	int rc = child_read();
	stop_threads = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return rc;
}

/* Every thread blocks SIGSEGV: the injector must refuse and leave it alone. */
static int child_segv_blocked(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSEGV);
	sigprocmask(SIG_BLOCK, &s, NULL);
	return child_read();
}

static pid_t spawn(int (*fn)(void))
{
	if (pipe(cmd_pipe) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(cmd_pipe[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn());
	}
	close(cmd_pipe[0]);
	usleep(100 * 1000); /* into its syscall (or loop) */
	return pid;
}

static int finish(pid_t pid)
{
	if (write(cmd_pipe[1], "x", 1) != 1)
		return -1;
	close(cmd_pipe[1]);
	int status;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int inject(pid_t pid, const char *path, const char *entry, struct bpftime_inject_result *res)
{
	char fdvar[32];
	snprintf(fdvar, sizeof(fdvar), "INJ_FD=%d", marks[1]);
	const char *env[] = { fdvar, "INJ_VALUE=hello" };
	struct bpftime_inject_opts o = { .pid = pid, .lib = path, .env = env, .nenv = 2, .entry = entry, .timeout_ms = 5000 };
	return bpftime_inject(&o, res);
}

/* in_syscall: 1 the thread must be found inside a syscall, 0 outside, -1 either. */
static void test_basic(const char *name, int (*fn)(void), int in_syscall)
{
	pid_t pid = spawn(fn);
	struct bpftime_inject_result res;
	int rc = inject(pid, lib, "inj_entry", &res);
	CHECK(rc == 0 && res.ok, "%s: %s", name, res.message);
	CHECK(strcmp(read_marks(2000), "LEhello") == 0, "%s: the library did not run as expected", name);
	CHECK(res.handle != 0, "%s: no handle", name);
	CHECK(in_syscall < 0 || res.in_syscall == in_syscall, "%s: in_syscall %d", name, res.in_syscall);
	CHECK(res.tid == pid, "%s: the main thread (%d) was not the one used (%d)", name, pid, res.tid);
	int code = finish(pid);
	CHECK(code == 0, "%s: the child ended with %d after the injection", name, code);
}

static void test_twice(void)
{
	pid_t pid = spawn(child_read);
	struct bpftime_inject_result a, b;
	inject(pid, lib, "inj_entry", &a);
	read_marks(1000);
	int rc = inject(pid, lib, "inj_entry", &b);
	CHECK(rc == 0 && b.was_loaded && !a.was_loaded, "second injection: rc %d was_loaded %d/%d %s", rc, a.was_loaded,
	      b.was_loaded, b.message);
	CHECK(a.handle == b.handle, "the same handle both times");
	CHECK(strcmp(read_marks(1000), "Ehello") == 0, "constructor once, entry twice");
	CHECK(finish(pid) == 0, "the child lives on");
}

static void test_failures(void)
{
	pid_t pid = spawn(child_read);
	struct bpftime_inject_result res;
	char missing[600];
	snprintf(missing, sizeof(missing), "%s.missing", lib);
	CHECK(inject(pid, missing, NULL, &res) < 0 && strstr(res.message, "no such library"), "%s", res.message);
	/* A file we can see but the loader refuses: dlerror's text comes back. */
	CHECK(inject(pid, "/etc/hostname", NULL, &res) < 0 && strcmp(res.stage, "dlopen") == 0 &&
		      strstr(res.message, "hostname"),
	      "%s", res.message);
	CHECK(inject(pid, lib, "no_such_function", &res) < 0 && strstr(res.message, "has no function"), "%s",
	      res.message);
	CHECK(inject(999999999, lib, NULL, &res) == -ESRCH, "%s", res.message);
	CHECK(finish(pid) == 0, "the child lives on after failed injections");

	pid = spawn(child_segv_blocked);
	CHECK(inject(pid, lib, NULL, &res) < 0 && strstr(res.message, "SIGSEGV"), "%s", res.message);
	CHECK(finish(pid) == 0, "a child blocking SIGSEGV is left alone");

	char msg[256];
	pid = spawn(child_read);
	CHECK(bpftime_inject_check(pid, msg, sizeof(msg)) == 0, "%s", msg);
	CHECK(finish(pid) == 0, "the check leaves the child running");
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (build_lib() < 0 || pipe(marks) < 0) {
		printf("cannot build the test library (no C compiler?)\n0 passed, 0 failed\n");
		return 0;
	}
	char msg[256];
	pid_t probe = spawn(child_read);
	if (bpftime_inject_check(probe, msg, sizeof(msg)) < 0) {
		printf("skipped: %s\n0 passed, 0 failed\n", msg);
		finish(probe);
		return 0;
	}
	finish(probe);

	test_basic("blocked in read", child_read, 1);
	test_basic("in nanosleep", child_sleep, 1);
	test_basic("computing", child_busy, 0);
	test_basic("several threads", child_threads, 1);
	test_twice();
	test_failures();
	unlink(lib);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
