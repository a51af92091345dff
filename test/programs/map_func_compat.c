/* Loads each program of map_func_compat.bpf.c on its own (libbpf, log level 1) and prints
 * whether it loaded, the errno, and the verifier's verdict line. The same binary runs on the
 * kernel and under the shim (test/e2e/map-func-compat-differential.test.ts).
 *
 * usage: map_func_compat OBJ */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>

static char log_buf[1 << 20];

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) { return 0; }

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	libbpf_set_print(quiet);
	struct bpf_object *probe = bpf_object__open_file(argv[1], NULL);
	if (!probe) {
		printf("open failed\n");
		return 1;
	}
	struct bpf_program *p;
	const char *names[64];
	int n = 0;
	bpf_object__for_each_program(p, probe)
		if (n < 64)
			names[n++] = strdup(bpf_program__name(p));
	bpf_object__close(probe);
	for (int i = 0; i < n; i++) {
		struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
		bpf_object__for_each_program(p, obj) {
			int mine = strcmp(bpf_program__name(p), names[i]) == 0;
			bpf_program__set_autoload(p, mine);
			if (mine) {
				log_buf[0] = 0;
				bpf_program__set_log_buf(p, log_buf, sizeof(log_buf));
				bpf_program__set_log_level(p, 1);
			}
		}
		int rc = bpf_object__load(obj);
		int err = rc ? errno : 0;
		/* The verdict: its line, or the words of one the kernel ends without a newline. */
		const char *verdict = strstr(log_buf, "cannot pass map_type");
		char line[256] = "";
		if (verdict)
			sscanf(verdict, "%255[^\n]", line);
		else if (strstr(log_buf, "expected prog array map for tail call"))
			strcpy(line, "expected prog array map for tail call");
		else if (strstr(log_buf, "callback function not allowed for map"))
			strcpy(line, "callback function not allowed for map");
		char errname[64];
		snprintf(errname, sizeof(errname), "%s", err == 524 ? "ENOTSUPP" : strerror(err));
		printf("%s: %s%s%s\n", names[i], rc ? errname : "loaded", line[0] ? ": " : "", line);
		bpf_object__close(obj);
	}
	return 0;
}
