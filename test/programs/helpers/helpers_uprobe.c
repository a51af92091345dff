// Loads helpers_uprobe.bpf.o, attaches its programs to helpers_victim (argv[1]) by symbol,
// prints "ready", waits for a line on stdin (the test runs the victim meanwhile), then prints
// what the programs recorded. Everything printed is kernel-independent: ids and pids appear as
// relations, cgroup ids as matches against the inode of the cgroup directory in argv[2].
//   helpers_uprobe VICTIM [CGROUP_DIR]
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/types.h>
#include "helpers_uprobe.h"
#include "helpers_uprobe.skel.h"

static int quiet(enum libbpf_print_level l, const char *f, va_list a)
{
	return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0;
}

static unsigned long long kernel_jiffies(void)
{
	FILE *f = fopen("/proc/timer_list", "r");
	char line[256];
	unsigned long long j = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "jiffies: %llu", &j) == 1)
			break;
	if (f)
		fclose(f);
	return j;
}

static unsigned long long inode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

static const char *rel(unsigned long long got, unsigned long long want)
{
	return got == want ? "matches" : "DIFFERS";
}

static int attach(struct bpf_program *p, const char *victim, const char *func)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func);
	struct bpf_link *l = bpf_program__attach_uprobe_opts(p, -1, victim, 0, &o);
	if (!l) {
		printf("attach %s: %s\n", bpf_program__name(p), strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: helpers_uprobe VICTIM [CGROUP_DIR]\n");
		return 2;
	}
	libbpf_set_print(quiet);
	struct stat ns;
	if (stat("/proc/self/ns/pid", &ns) != 0)
		return 1;
	struct helpers_uprobe_bpf *skel = helpers_uprobe_bpf__open();
	if (!skel)
		return 1;
	skel->rodata->ns_dev = ns.st_dev;
	skel->rodata->ns_ino = ns.st_ino;
	int err = helpers_uprobe_bpf__load(skel);
	int can_write = 1;
	if (err) {
		/* A kernel in lockdown refuses bpf_probe_write_user: load without that program. */
		helpers_uprobe_bpf__destroy(skel);
		skel = helpers_uprobe_bpf__open();
		if (!skel)
			return 1;
		skel->rodata->ns_dev = ns.st_dev;
		skel->rodata->ns_ino = ns.st_ino;
		bpf_program__set_autoload(skel->progs.on_misc_write, false);
		can_write = 0;
		err = helpers_uprobe_bpf__load(skel);
	}
	if (err) {
		printf("load: %s\n", strerror(-err));
		return 1;
	}
	if (attach(skel->progs.on_strtox, argv[1], "helpers_strtox") ||
	    attach(skel->progs.on_misc, argv[1], "helpers_misc") ||
	    attach(skel->progs.on_misc_sleepable, argv[1], "helpers_misc") ||
	    attach(skel->progs.on_vma, argv[1], "helpers_vma") ||
	    (can_write && attach(skel->progs.on_misc_write, argv[1], "helpers_misc")))
		return 1;
	unsigned long long j0 = kernel_jiffies();
	printf("ready\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	unsigned long long j1 = kernel_jiffies();

	printf("strtox cases: %u\n", skel->bss->strtox_n);
	for (unsigned i = 0; i < skel->bss->strtox_n && i < 32; i++) {
		const struct strtox_res *r = &skel->bss->strtox[i];
		printf("case %u: strtol %ld res %ld, strtoul %ld res %lu, strncmp %ld %ld %ld\n", i, r->ret_l, r->res_l,
		       r->ret_ul, r->res_ul, r->cmp[0], r->cmp[1], r->cmp[2]);
	}
	const struct misc_res *m = &skel->bss->misc;
	printf("misc hits: %llu\n", (unsigned long long)m->hits);
	if (j0)
		printf("jiffies64: %s\n", m->jiffies + 2 >= j0 && m->jiffies <= j1 + 2 ? "within the kernel's" : "OUTSIDE");
	else
		printf("jiffies64: %s\n", m->jiffies > 0xffffffffull - 300 * 1000 ? "past INITIAL_JIFFIES" : "TOO SMALL");
	printf("numa node: %llu\n", (unsigned long long)m->numa);
	unsigned tgid = m->pid_tgid >> 32, tid = (unsigned)m->pid_tgid;
	printf("ns_current_pid_tgid: %ld pid %s tgid %s\n", m->ns_ret, rel(m->ns_pid, tid), rel(m->ns_tgid, tgid));
	printf("ns_current_pid_tgid other ns: %ld pid %u tgid %u\n", m->ns_bad_ret, m->ns_bad_pid, m->ns_bad_tgid);
	printf("ns_current_pid_tgid 64-bit dev: %ld\n", m->ns_size_ret);
	if (argc > 2) {
		unsigned long long want = inode_of(argv[2]);
		printf("cgroup id: %s the cgroup directory\n", rel(m->cgid, want));
		/* argv[2] is a direct child of the cgroup2 root: levels 0, 1 and nothing below */
		printf("ancestor 0: %llu, ancestor 1: %s, ancestor 2: %llu\n", (unsigned long long)m->anc[0],
		       rel(m->anc[1], want), (unsigned long long)m->anc[2]);
	} else {
		printf("cgroup id: %llu\n", (unsigned long long)m->cgid);
	}
	if (can_write)
		printf("probe_write_user: %ld, bad address %ld\n", m->pw_ret, m->pw_bad_ret);
	else
		printf("probe_write_user: refused at load\n");
	printf("copy_from_user: %ld \"%s\", bad address %ld %s\n", m->cfu_ret, m->cfu, m->cfu_bad_ret,
	       memcmp(m->cfu_bad, "\0\0\0\0\0\0\0\0", 8) == 0 ? "zeroed" : "NOT ZEROED");
	const struct vma_res *v = &skel->bss->vma;
	printf("find_vma: %ld, callbacks %u, task %s\n", v->ret, v->calls, v->task_ok ? "current" : "OTHER");
	printf("find_vma vm_start %s, vm_end %s, vm_pgoff %s, VM_EXEC %s, flags & 0xf %llu, file \"%s\"\n",
	       rel(v->start, v->want.start), rel(v->end, v->want.end), rel(v->pgoff, v->want.pgoff),
	       rel(!!(v->flags & 4), v->want.exec), (unsigned long long)(v->flags & 0xf), v->name);
	printf("find_vma unmapped address: %ld, flags 1: %ld\n", v->ret_noent, v->ret_flags);
	helpers_uprobe_bpf__destroy(skel);
	return 0;
}
