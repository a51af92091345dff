/* One malloc() call, as the program sends it to user space. */
#ifndef PERFBUF_H
#define PERFBUF_H
struct event {
	unsigned int pid;
	unsigned int tid;
	unsigned long long size;
	char comm[16];
};
#endif
