// libbpf's pinning on a bpf filesystem, one load per run: the LIBBPF_PIN_BY_NAME map of
// pin_by_name.bpf.o is pinned at <root>/shared by the first load and reused by the next (the
// value written by one run is read by the next), bpf_object__pin_maps pins every map under a
// directory (the pin root itself, where `shared` already is: libbpf refuses a map pinned
// elsewhere), bpf_object__unpin_maps removes them. test/e2e/bpffs-libbpf.test.ts runs it on the
// kernel (a private bpf mount) and under the shim (/sys/fs/bpf) and compares the lines.
//
// Usage: pin_by_name <object> <root dir on bpffs> first|second|cleanup
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static const char *exists(const char *p)
{
	struct stat st;
	if (stat(p, &st) < 0)
		return errno == ENOENT ? "absent" : strerror(errno);
	return S_ISREG(st.st_mode) ? "pin" : S_ISDIR(st.st_mode) ? "dir" : "other";
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(quiet);
	const char *rootdir = argv[2], *step = argv[3];
	char shared[512], plain[512];
	const char *dir = rootdir;
	snprintf(shared, sizeof(shared), "%s/shared", rootdir);
	snprintf(plain, sizeof(plain), "%s/plain", rootdir);
	printf("%s: shared before load: %s\n", step, exists(shared));

	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = rootdir);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("%s: open: %s\n", step, strerror(errno));
		return 1;
	}
	int err = bpf_object__load(obj);
	if (err) {
		printf("%s: load: %s\n", step, strerror(-err));
		return 1;
	}
	struct bpf_map *m = bpf_object__find_map_by_name(obj, "shared");
	printf("%s: shared pinned: %d at %s, now %s\n", step, bpf_map__is_pinned(m), bpf_map__pin_path(m) ? "root/shared" : "nowhere",
	       exists(shared));
	__u32 k = 0;
	__u64 v = 0;
	bpf_map__lookup_elem(m, &k, sizeof(k), &v, sizeof(v), 0);
	printf("%s: shared value found: %llu\n", step, (unsigned long long)v);
	v += 42;
	bpf_map__update_elem(m, &k, sizeof(k), &v, sizeof(v), 0);

	if (strcmp(step, "first") == 0) {
		err = bpf_object__pin_maps(obj, dir);
		printf("%s: pin_maps: %s; plain: %s, shared: %s\n", step, err ? strerror(-err) : "ok", exists(plain), exists(shared));
	} else if (strcmp(step, "second") == 0) {
		err = bpf_object__pin_maps(obj, dir);
		printf("%s: pin_maps again: %s\n", step, err ? strerror(-err) : "ok");
		struct bpf_map *pm = bpf_object__find_map_by_name(obj, "plain");
		printf("%s: plain pinned: %d, its pin opens: %d\n", step, bpf_map__is_pinned(pm),
		       bpf_obj_get(plain) >= 0);
	} else {
		err = bpf_object__unpin_maps(obj, dir);
		printf("%s: unpin_maps: %s; plain: %s, shared: %s\n", step, err ? strerror(-err) : "ok", exists(plain), exists(shared));
	}
	bpf_object__close(obj);
	return 0;
}
