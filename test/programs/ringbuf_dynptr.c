/* Driver for ringbuf_dynptr.bpf.c (test/e2e/ringbuf-dynptr-differential.test.ts): runs the
 * SYSCALL program once with BPF_PROG_TEST_RUN, prints each helper answer it recorded and every
 * record a ring_buffer consumer then sees. The same binary runs on the kernel and under the shim;
 * the outputs must be identical.
 *
 * usage: ringbuf_dynptr OBJ */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int on_record(void *ctx, void *data, size_t size)
{
	const unsigned char *b = data;
	printf("record %zu:", size);
	for (size_t i = 0; i < size && i < 24; i++)
		printf("%s%02x", i % 8 ? "" : " ", b[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	printf("loaded\n");
	LIBBPF_OPTS(bpf_test_run_opts, o);
	int rc = bpf_prog_test_run_opts(bpf_program__fd(bpf_object__find_program_by_name(obj, "dynptr")), &o);
	printf("test run: %d retval=%d\n", rc < 0 ? -errno : rc, (int)o.retval);
	long long res[40] = { 0 };
	unsigned zero = 0;
	bpf_map_lookup_elem(bpf_object__find_map_fd_by_name(obj, "res"), &zero, res);
	for (int i = 0; i < (int)o.retval && i < 40; i++)
		printf("answer %d: %lld\n", i, res[i]);
	struct ring_buffer *rb = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "rb"), on_record, NULL, NULL);
	if (!rb) {
		printf("ring_buffer__new: %s\n", strerror(errno));
		return 1;
	}
	printf("consumed: %d\n", ring_buffer__consume(rb));
	ring_buffer__free(rb);
	return 0;
}
