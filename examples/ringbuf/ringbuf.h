/* One malloc() call, as the program sends it to user space through the ring buffer. */
#ifndef RINGBUF_EXAMPLE_H
#define RINGBUF_EXAMPLE_H
struct event {
	unsigned int pid;
	unsigned int tid;
	unsigned long long size;
	char comm[16];
};
#endif
