// A deterministic workload for bcc's tools: each stdin line runs one batch of calls whose count
// and arguments the tests know exactly, then prints "done <line>".
//
//   add N        bcc_add(i, 10*i) for i = 0..N-1 (returns 11*i)
//   sub N        other_sub(i, 3*i) for i = 0..N-1 (returns -2*i)
//   alloc N S    N blocks of S bytes with malloc, kept (a leak memleak should report)
//   free         frees every kept block
//   open N PATH  openat(AT_FDCWD, PATH, O_RDONLY) N times (closing each fd that opened)
//   nap MS       sleeps MS milliseconds (nanosleep)
//   q / EOF      exit
//
// Prints "ready pid=<pid>" first. Output is by write(2) and a hand-made formatter, so nothing
// allocates or opens behind the counts' back.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline, used)) int bcc_add(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

/* A second function, outside the bcc_* names funccount tests match (uprobe_events tests append a
 * probe here to an event at bcc_add). */
__attribute__((noinline, used)) int other_sub(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a - b;
}

/* Through volatile pointers: the compiler can neither elide nor merge the calls. */
static int (*volatile do_add)(int, int) = bcc_add;
static int (*volatile do_sub)(int, int) = other_sub;
static void *(*volatile do_malloc)(size_t) = malloc;

static void put(const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t n = write(STDOUT_FILENO, s, len);
		if (n <= 0)
			_exit(1);
		s += n;
		len -= (size_t)n;
	}
}

static void put_num(unsigned long v)
{
	char buf[24];
	char *p = buf + sizeof(buf) - 1;
	*p = 0;
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	put(p);
}

static int read_line(char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);
		if (r <= 0)
			return n ? (int)n : -1;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = 0;
	return (int)n;
}

static unsigned long word_num(char **s)
{
	while (**s == ' ')
		(*s)++;
	unsigned long v = 0;
	while (**s >= '0' && **s <= '9')
		v = v * 10 + (unsigned long)(*(*s)++ - '0');
	return v;
}

static void *kept[4096];
static unsigned long nkept;

int main(void)
{
	char line[512];
	put("ready pid=");
	put_num((unsigned long)getpid());
	put("\n");
	while (read_line(line, sizeof(line)) >= 0) {
		char *s = line;
		if (strncmp(s, "add ", 4) == 0) {
			s += 4;
			unsigned long n = word_num(&s);
			for (unsigned long i = 0; i < n; i++)
				do_add((int)i, (int)(10 * i));
		} else if (strncmp(s, "sub ", 4) == 0) {
			s += 4;
			unsigned long n = word_num(&s);
			for (unsigned long i = 0; i < n; i++)
				do_sub((int)i, (int)(3 * i));
		} else if (strncmp(s, "alloc ", 6) == 0) {
			s += 6;
			unsigned long n = word_num(&s), size = word_num(&s);
			for (unsigned long i = 0; i < n && nkept < sizeof(kept) / sizeof(kept[0]); i++)
				kept[nkept++] = do_malloc(size);
		} else if (strcmp(s, "free") == 0) {
			while (nkept)
				free(kept[--nkept]);
		} else if (strncmp(s, "open ", 5) == 0) {
			s += 5;
			unsigned long n = word_num(&s);
			while (*s == ' ')
				s++;
			for (unsigned long i = 0; i < n; i++) {
				int fd = openat(AT_FDCWD, s, O_RDONLY);
				if (fd >= 0)
					close(fd);
			}
		} else if (strncmp(s, "nap ", 4) == 0) {
			s += 4;
			unsigned long ms = word_num(&s);
			struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		} else if (strcmp(s, "q") == 0) {
			break;
		}
		put("done ");
		put(line);
		put("\n");
	}
	return 0;
}
