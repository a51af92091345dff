/* The checks every native test counts with: CHECK(cond) and EQ(a, b) record a pass or print
 * the failing line; a test ends with printf("%d passed, %d failed\n", passed, failed). */
#ifndef BPFTIME_TEST_CHECK_H
#define BPFTIME_TEST_CHECK_H
#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (cond) {                                                             \
			passed++;                                                       \
		} else {                                                                \
			failed++;                                                       \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                       \
	} while (0)

#define EQ(a, b)                                                                            \
	do {                                                                                \
		long long _a = (long long)(a), _b = (long long)(b);                         \
		if (_a == _b) {                                                             \
			passed++;                                                           \
		} else {                                                                    \
			failed++;                                                           \
			fprintf(stderr, "FAIL %s:%d: %s == %s (%lld != %lld)\n", __FILE__, \
				__LINE__, #a, #b, _a, _b);                                  \
		}                                                                           \
	} while (0)

#endif
