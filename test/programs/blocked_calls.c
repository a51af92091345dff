/* Threads blocked in calls that a signal handler makes return EINTR (sleep, clock_nanosleep,
 * poll, epoll_wait, pause-like sigsuspend is left out: it needs a signal to end). A tool that
 * attaches a syscall program meanwhile arms every thread by a signal: each call must still last
 * its whole time and return what it returns untraced. Prints one line per call. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define SECONDS 4

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static char lines[4][96];

static void *do_sleep(void *p)
{
	double t0 = now();
	unsigned r = sleep(SECONDS);
	snprintf(lines[0], sizeof(lines[0]), "sleep: %u, whole time %s", r, now() - t0 >= SECONDS - 0.1 ? "yes" : "no");
	return p;
}

static void *do_clock_nanosleep(void *p)
{
	double t0 = now();
	struct timespec req = { SECONDS, 0 }, rem = { 0, 0 };
	int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem);
	snprintf(lines[1], sizeof(lines[1]), "clock_nanosleep: %d, whole time %s", r, now() - t0 >= SECONDS - 0.1 ? "yes" : "no");
	return p;
}

static void *do_poll(void *p)
{
	double t0 = now();
	int r = poll(NULL, 0, SECONDS * 1000);
	int e = r < 0 ? errno : 0;
	snprintf(lines[2], sizeof(lines[2]), "poll: %d errno %d, whole time %s", r, e, now() - t0 >= SECONDS - 0.1 ? "yes" : "no");
	return p;
}

static void *do_epoll_wait(void *p)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	double t0 = now();
	int r = epoll_wait(ep, &ev, 1, SECONDS * 1000);
	int e = r < 0 ? errno : 0;
	snprintf(lines[3], sizeof(lines[3]), "epoll_wait: %d errno %d, whole time %s", r, e, now() - t0 >= SECONDS - 0.1 ? "yes" : "no");
	close(ep);
	return p;
}

int main(void)
{
	void *(*fns[4])(void *) = { do_sleep, do_clock_nanosleep, do_poll, do_epoll_wait };
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, fns[i], NULL);
	printf("ready\n");
	fflush(stdout);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		printf("%s\n", lines[i]);
	(void)getppid();
	return 0;
}
