// setxid_calls: changes its ids the ways privileged programs do (transient seteuid/setegid,
// PR_SET_KEEPCAPS + setresuid + capset, setgroups, bounding-set drop, dropping every capability,
// then set*id calls that must fail), printing each result; then whether every thread of the
// process holds the same credentials, then the main thread's. Run as root.
//
//   setxid_calls            does the above and exits
//   setxid_calls --wait     prints "ready pid=<pid>", waits for a line on stdin first, and after
//                           the changes takes more lines: N = call malloc N times, print "done N"
//
// Threads other than main are whatever the process has (under bpftime, the agent's): glibc
// applies each set*id call to all of them and aborts when they disagree.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *(*volatile do_malloc)(size_t) = malloc;
static void (*volatile do_free)(void *) = free;

static void result(const char *what, int rc)
{
	printf("%s = %d%s%s\n", what, rc, rc < 0 ? " " : "", rc < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static int caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capget, &h, d);
}

static int caps_set(const struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return (int)syscall(SYS_capset, &h, d);
}

/* Lines of /proc/<path>/status that hold credentials, concatenated. */
static void creds_of(const char *status, char *out, size_t n)
{
	static const char *keys[] = { "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" };
	FILE *f = fopen(status, "re");
	char line[512];
	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strncmp(line, keys[k], strlen(keys[k])) && strlen(out) + strlen(line) < n)
				strcat(out, line);
	fclose(f);
}

static void report_threads(void)
{
	char mine[2048], other[2048], p[300];
	snprintf(p, sizeof(p), "/proc/self/task/%d/status", getpid());
	creds_of(p, mine, sizeof(mine));
	int agree = 1, threads = 0;
	DIR *d = opendir("/proc/self/task");
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		threads++;
		snprintf(p, sizeof(p), "/proc/self/task/%s/status", e->d_name);
		creds_of(p, other, sizeof(other));
		if (strcmp(mine, other) != 0) {
			agree = 0;
			fprintf(stderr, "thread %s differs:\n%s--- main:\n%s", e->d_name, other, mine);
		}
	}
	if (d)
		closedir(d);
	fprintf(stderr, "threads compared: %d\n", threads);
	printf("all threads agree: %s\n%s", agree ? "yes" : "no", mine);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int wait = argc > 1 && !strcmp(argv[1], "--wait");
	char line[64];
	if (wait) {
		printf("ready pid=%d\n", getpid());
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	gid_t one[] = { 65534 };
	/* Transient: a daemon acting as a user for a while. */
	result("seteuid(65534)", seteuid(65534));
	result("geteuid", (int)geteuid());
	result("seteuid(0)", seteuid(0));
	result("setgroups([65534])", setgroups(1, one));
	result("setegid(65534)", setegid(65534));
	result("setegid(0)", setegid(0));
	result("setreuid(-1, 0)", setreuid(-1, 0));
	/* setpriv's way: keep the permitted set across the uid change, take the effective set back. */
	result("prctl(PR_SET_KEEPCAPS, 1)", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
	result("setresuid(65534, 65534, 65534)", setresuid(65534, 65534, 65534));
	struct __user_cap_data_struct caps[2];
	caps_get(caps);
	printf("effective after setresuid: %08x%08x\n", caps[1].effective, caps[0].effective);
	caps[0].effective = caps[0].permitted;
	caps[1].effective = caps[1].permitted;
	result("capset(effective = permitted)", caps_set(caps));
	result("setresgid(65534, 65534, 65534)", setresgid(65534, 65534, 65534));
	result("setgroups([])", setgroups(0, NULL));
	result("prctl(PR_CAPBSET_DROP, CAP_NET_RAW)", prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0));
	result("prctl(PR_SET_KEEPCAPS, 0)", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
	/* Keep only CAP_SETGID: setgid works, setuid does not. */
	memset(caps, 0, sizeof(caps));
	caps[0].permitted = caps[0].effective = 1u << CAP_SETGID;
	result("capset(CAP_SETGID only)", caps_set(caps));
	result("setgid(65534)", setgid(65534));
	result("setuid(0)", setuid(0));
	/* Nothing left: every change back must fail, on every thread alike. */
	memset(caps, 0, sizeof(caps));
	result("capset(nothing)", caps_set(caps));
	result("setgid(0)", setgid(0));
	result("setresuid(0, 0, 0)", setresuid(0, 0, 0));
	result("setgroups([0])", setgroups(1, (gid_t[]){ 0 }));
	result("seteuid(65534)", seteuid(65534));
	report_threads();
	while (wait && fgets(line, sizeof(line), stdin)) {
		long n = strtol(line, NULL, 10);
		for (long i = 0; i < n; i++)
			do_free(do_malloc(16));
		printf("done %ld\n", n);
		fflush(stdout);
	}
	return 0;
}
