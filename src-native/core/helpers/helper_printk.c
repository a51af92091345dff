/* bpf_trace_printk, bpf_trace_vprintk, bpf_snprintf and the formatter they share.
 *
 * The format rules are the kernel's bpf_bprintf_prepare: a format is rejected (-EINVAL) unless
 * every conversion is one of
 *   %[flags][width]{d,i,u,x,X} with optional l / ll   (int, long, long long)
 *   %s  %c  %%
 *   %p (followed by end/space/punctuation), %pK %px %ps %pS %pB   (the pointer value)
 *   %pks %pus                                          (string from kernel/user memory)
 *   %pi4 %pI4 %pi6 %pI6                                (IP address read from the pointer)
 * with flags from "0+- " and a decimal width, the format is printable ASCII (bytes >= 0x80 pass
 * as text), there are at most nargs conversions, and %s is followed by end/space/punctuation.
 * Strings and IP addresses are read with the fault-safe copy: an unreadable %s prints nothing,
 * as in the kernel. All arguments travel in a 512-byte area (MAX_BPRINTF_BIN_ARGS): strings are
 * truncated to what is left, -ENOSPC when none is.
 * Differences: %p prints the raw pointer (the kernel hashes it); %ps/%pS/%pB print the address
 * in hex instead of a symbol name.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers_internal.h"

#define MAX_BPRINTF_BUF 1024
#define MAX_BPRINTF_BIN_ARGS 512
#define MAX_TRACE_PRINTK_VARARGS 3
#define MAX_BPRINTF_VARARGS 12

/* ---- host output ---- */

static struct bpftime_helper_host g_host;

const struct bpftime_helper_host *bpftime_helpers_host(void)
{
	return &g_host;
}

void bpftime_helpers_set_host(const struct bpftime_helper_host *host)
{
	if (host)
		g_host = *host;
	else
		memset(&g_host, 0, sizeof(g_host));
}

static void emit_trace(const char *text, size_t len)
{
	void (*fn)(const char *, size_t) = g_host.trace_printk;
	if (fn) {
		fn(text, len);
		return;
	}
	while (len) {
		ssize_t w = write(STDERR_FILENO, text, len);
		if (w <= 0)
			break;
		text += w;
		len -= (size_t)w;
	}
}

/* ---- output accumulation: snprintf semantics (count everything, store what fits) ---- */

struct outbuf {
	char *buf;
	size_t size, len;
};

static void put_bytes(struct outbuf *o, const char *s, size_t n)
{
	if (o->len < o->size) {
		size_t room = o->size - o->len, k = n < room ? n : room;
		memcpy(o->buf + o->len, s, k);
	}
	o->len += n;
}

/* One conversion through libc's snprintf, written in place when it fits. */
static void put_fmt(struct outbuf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct outbuf *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	/* o->size leaves one byte for the final NUL, so room + 1 bytes are writable here. */
	char *dst = o->len < o->size ? o->buf + o->len : NULL;
	size_t room = o->len < o->size ? o->size - o->len + 1 : 0;
	int n = vsnprintf(dst, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n;
}

static int is_end_of_spec(char c) { return c == 0 || isspace((unsigned char)c) || ispunct((unsigned char)c); }

static void format_ip(char *out, size_t out_size, char kind, char ver, const uint8_t *ip)
{
	if (ver == '4') {
		snprintf(out, out_size, kind == 'i' ? "%03u.%03u.%03u.%03u" : "%u.%u.%u.%u", ip[0], ip[1],
			 ip[2], ip[3]);
		return;
	}
	size_t len = 0;
	for (int i = 0; i < 16; i += 2) {
		const char *sep = (kind == 'I' && i) ? ":" : "";
		len += (size_t)snprintf(out + len, out_size - len, "%s%02x%02x", sep, ip[i], ip[i + 1]);
	}
}

long bpftime_bprintf(char *out, size_t out_size, const char *fmt, uint32_t fmt_size,
		     const uint64_t *args, uint32_t nargs)
{
	const char *end = memchr(fmt, 0, fmt_size);
	if (!end)
		return -EINVAL;
	size_t n = (size_t)(end - fmt);
	struct outbuf o = {.buf = out, .size = out_size ? out_size - 1 : 0, .len = 0};
	size_t bin_left = MAX_BPRINTF_BIN_ARGS, bin_used = 0;
	uint32_t num_spec = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)fmt[i];
		if (isascii(c) && !isprint(c) && !isspace(c))
			return -EINVAL;
		if (c != '%') {
			put_bytes(&o, (const char *)&c, 1);
			continue;
		}
		if (fmt[i + 1] == '%') {
			put_bytes(&o, "%", 1);
			i++;
			continue;
		}
		if (num_spec >= nargs)
			return -EINVAL;
		uint64_t arg = args[num_spec];

		/* "[0 +-][width]": copied into the sub-format handed to snprintf. */
		char sub[32];
		size_t sl = 0;
		sub[sl++] = '%';
		i++;
		while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ') {
			if (sl < 8)
				sub[sl++] = fmt[i];
			i++;
		}
		if (fmt[i] >= '1' && fmt[i] <= '9') {
			while (fmt[i] >= '0' && fmt[i] <= '9') {
				if (sl < 16)
					sub[sl++] = fmt[i];
				i++;
			}
		}
		if (!isascii((unsigned char)fmt[i]))
			return -EINVAL;

		char ptype = 0; /* 's' string, 'k'/'u' %pks/%pus */
		if (fmt[i] == 'p') {
			char nx = fmt[i + 1];
			if (is_end_of_spec(nx) || nx == 'K' || nx == 'x' || nx == 's' || nx == 'S' ||
			    nx == 'B') {
				if (!is_end_of_spec(nx))
					i++;
				/* the pointer as %px prints it: 16 hex digits */
				put_fmt(&o, "%016llx", (unsigned long long)arg);
				bin_used = (bin_used + 3) & ~(size_t)3;
				bin_used += 8;
			} else if ((nx == 'k' || nx == 'u') && fmt[i + 2] == 's') {
				ptype = nx;
				i += 2;
			} else if ((nx == 'i' || nx == 'I') && (fmt[i + 2] == '4' || fmt[i + 2] == '6')) {
				char ver = fmt[i + 2];
				uint8_t ip[16] = {0};
				char text[48];
				i += 2;
				if (bpftime_copy_from_user(ip, (const void *)(uintptr_t)arg, ver == '4' ? 4 : 16))
					memset(ip, 0, sizeof(ip));
				format_ip(text, sizeof(text), nx, ver, ip);
				size_t tl = strlen(text);
				if (bin_left - bin_used < (ver == '4' ? 4u : 16u))
					return -ENOSPC;
				bin_used += tl + 1;
				put_bytes(&o, text, tl);
			} else {
				return -EINVAL;
			}
			if (!ptype) {
				num_spec++;
				continue;
			}
		} else if (fmt[i] == 's') {
			ptype = 's';
		}

		if (ptype) {
			if (!is_end_of_spec(fmt[i + 1]))
				return -EINVAL;
			if (bin_used >= bin_left)
				return -ENOSPC;
			char str[MAX_BPRINTF_BIN_ARGS];
			size_t room = bin_left - bin_used;
			long got = ptype == 'k' ? -EFAULT /* no kernel memory here */
						: bpftime_strncpy_from_user(str, (const void *)(uintptr_t)arg, room);
			if (got < 0) {
				str[0] = 0;
				got = 1;
			}
			bin_used += (size_t)got;
			sub[sl++] = 's';
			sub[sl] = 0;
			put_fmt(&o, sub, str);
			num_spec++;
			continue;
		}

		if (fmt[i] == 'c') {
			if (bin_used >= bin_left)
				return -ENOSPC;
			bin_used += 1;
			sub[sl++] = 'c';
			sub[sl] = 0;
			put_fmt(&o, sub, (int)(unsigned char)arg);
			num_spec++;
			continue;
		}

		int size = 4;
		if (fmt[i] == 'l') {
			size = 8;
			sub[sl++] = 'l';
			i++;
		}
		if (fmt[i] == 'l') {
			sub[sl++] = 'l';
			i++;
		}
		char conv = fmt[i];
		if (conv != 'i' && conv != 'd' && conv != 'u' && conv != 'x' && conv != 'X')
			return -EINVAL;
		bin_used = (bin_used + 3) & ~(size_t)3;
		if (bin_left - bin_used < (size_t)size)
			return -ENOSPC;
		bin_used += (size_t)size;
		sub[sl++] = conv;
		sub[sl] = 0;
		int is_signed = conv == 'd' || conv == 'i';
		/* The kernel passes 32 bits for int conversions: (u32)arg, read back as int. */
		if (size == 4) {
			if (is_signed)
				put_fmt(&o, sub, (int)(uint32_t)arg);
			else
				put_fmt(&o, sub, (unsigned)(uint32_t)arg);
		} else if (is_signed) {
			put_fmt(&o, sub, (long long)arg); /* %ld and %lld: both 64-bit here */
		} else {
			put_fmt(&o, sub, (unsigned long long)arg);
		}
		num_spec++;
	}
	if (out_size)
		out[o.len < o.size ? o.len : o.size] = 0;
	return (long)o.len;
}

/* bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3) -> bytes of text, or -errno. */
BPFTIME_HELPER(trace_printk)
{
	uint64_t args[MAX_TRACE_PRINTK_VARARGS] = {r3, r4, r5};
	char buf[MAX_BPRINTF_BUF];
	long n = bpftime_bprintf(buf, sizeof(buf), (const char *)(uintptr_t)r1, (uint32_t)r2, args,
				 MAX_TRACE_PRINTK_VARARGS);
	if (n < 0)
		return (uint64_t)n;
	emit_trace(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return (uint64_t)n;
}

/* bpf_trace_vprintk(fmt, fmt_size, args, data_len): up to 12 u64 arguments in an array. */
BPFTIME_HELPER(trace_vprintk)
{
	const uint64_t *args = (const uint64_t *)(uintptr_t)r3;
	uint32_t data_len = (uint32_t)r4;
	if ((data_len & 7) || data_len > MAX_BPRINTF_VARARGS * 8 || (data_len && !args))
		return (uint64_t)-EINVAL;
	char buf[MAX_BPRINTF_BUF];
	long n = bpftime_bprintf(buf, sizeof(buf), (const char *)(uintptr_t)r1, (uint32_t)r2, args,
				 data_len / 8);
	if (n < 0)
		return (uint64_t)n;
	emit_trace(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return (uint64_t)n;
}

/* bpf_snprintf(str, str_size, fmt, args, data_len) -> bytes including the NUL, or -errno. The
 * verifier guarantees fmt is a NUL-terminated constant string. */
BPFTIME_HELPER(snprintf)
{
	char *str = (char *)(uintptr_t)r1;
	uint32_t str_size = (uint32_t)r2;
	const uint64_t *args = (const uint64_t *)(uintptr_t)r4;
	uint32_t data_len = (uint32_t)r5;
	if ((data_len & 7) || data_len > MAX_BPRINTF_VARARGS * 8 || (data_len && !args))
		return (uint64_t)-EINVAL;
	long n = bpftime_bprintf(str, str_size, (const char *)(uintptr_t)r3, 0xffffffffu, args,
				 data_len / 8);
	if (n < 0)
		return (uint64_t)n;
	return (uint64_t)(n + 1);
}
