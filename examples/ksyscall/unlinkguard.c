// SPDX-License-Identifier: GPL-2.0
// unlinkguard: files under DIR cannot be deleted by traced processes. unlinkat(2) of a path that
// starts with DIR fails with EPERM without running, and each refusal is printed:
//
//   unlinkguard -d DIR [-t SECS]
//
// The program is a kprobe on the syscall's entry function (libbpf's SEC("ksyscall/unlinkat"))
// that calls bpf_override_return. On a kernel that needs kprobes and CONFIG_BPF_KPROBE_OVERRIDE;
// under bpftime it runs in every traced process (bpftime start CMD).
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "unlinkguard.h"
#include "unlinkguard.skel.h"

static int on_event(void *ctx, void *data, size_t len)
{
	const struct ug_event *e = data;
	(void)ctx;
	if (len < sizeof(*e))
		return 0;
	printf("refused unlinkat(\"%s\") by %s[%u]\n", e->path, e->comm, e->pid);
	fflush(stdout);
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	double secs = 0;
	int opt;
	while ((opt = getopt(argc, argv, "d:t:h")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 't': secs = atof(optarg); break;
		default:
			fprintf(opt == 'h' ? stdout : stderr, "usage: unlinkguard -d DIR [-t SECS]\n"
				"Traced processes cannot delete files under DIR (unlinkat fails with EPERM).\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (!dir || !*dir || strlen(dir) + 1 >= UG_PATH_MAX) {
		fprintf(stderr, "unlinkguard: -d DIR is needed (shorter than %d bytes)\n", UG_PATH_MAX - 1);
		return 2;
	}
	libbpf_set_print(libbpf_quiet);
	struct unlinkguard_bpf *skel = unlinkguard_bpf__open();
	if (!skel) {
		fprintf(stderr, "unlinkguard: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	/* DIR/ and what follows: "/tmp/a" must not guard "/tmp/ab" */
	size_t n = strlen(dir);
	char p[UG_PATH_MAX] = {};
	memcpy(p, dir, n);
	if (p[n - 1] != '/')
		p[n++] = '/';
	memcpy((char *)skel->rodata->prefix, p, sizeof(p));
	skel->rodata->prefix_len = (__u32)n;
	int err = unlinkguard_bpf__load(skel);
	if (!err)
		err = unlinkguard_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "unlinkguard: cannot load or attach the program: %s (a kernel needs kprobes and "
				"CONFIG_BPF_KPROBE_OVERRIDE; under bpftime: bpftime load unlinkguard ...)\n", strerror(-err));
		unlinkguard_bpf__destroy(skel);
		return 1;
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "unlinkguard: cannot open the ring buffer: %s\n", strerror(errno));
		unlinkguard_bpf__destroy(skel);
		return 1;
	}
	printf("Guarding %s\n", p);
	fflush(stdout);
	exit_on_signals();
	double waited = 0;
	while (!exiting && (secs == 0 || waited < secs)) {
		int r = ring_buffer__poll(rb, 100);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "unlinkguard: ring buffer: %s\n", strerror(-r));
			break;
		}
		waited += 0.1;
	}
	printf("seen=%llu refused=%llu\n", (unsigned long long)skel->bss->seen, (unsigned long long)skel->bss->refused);
	ring_buffer__free(rb);
	unlinkguard_bpf__destroy(skel);
	return 0;
}
