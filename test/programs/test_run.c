/* BPF_PROG_TEST_RUN driver for the differential test (test/e2e/test-run-differential.test.ts):
 * loads test_run.bpf.o with libbpf, runs each program through bpf_prog_test_run_opts with good
 * and bad inputs, and prints what came back (return, errno, retval, sizes, data_out, ctx_out).
 * The same binary runs on the kernel and under the shim; the outputs must be identical.
 *
 * usage: test_run OBJ */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static struct bpf_object *obj;

static int prog(const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (!p) {
		fprintf(stderr, "no program %s\n", name);
		exit(1);
	}
	return bpf_program__fd(p);
}

/* Bytes as hex; long buffers as their first 64 bytes, length and FNV-1a hash. */
static void hex(const char *what, const void *p, size_t n)
{
	const unsigned char *b = p;
	printf(" %s=", what);
	for (size_t i = 0; i < n && i < 256; i++)
		printf("%02x", b[i]);
	if (n > 256) {
		unsigned long long h = 0xcbf29ce484222325ull;
		for (size_t i = 0; i < n; i++)
			h = (h ^ b[i]) * 0x100000001b3ull;
		printf("...(%zu bytes, fnv %016llx)", n, h);
	}
}

/* One call: prints the result; data_out/ctx_out buffers are shown up to what was asked. */
static void run(const char *name, int fd, struct bpf_test_run_opts *o)
{
	unsigned want_data = o->data_out ? (o->data_size_out ? o->data_size_out : 8192) : 0;
	unsigned want_ctx = o->ctx_out ? o->ctx_size_out : 0;
	if (o->data_out)
		memset(o->data_out, 0xee, want_data);
	if (o->ctx_out)
		memset(o->ctx_out, 0xee, want_ctx);
	o->retval = 0xdeadbeef;
	int ret = bpf_prog_test_run_opts(fd, o);
	int err = ret < 0 ? errno : 0;
	printf("%s: ret=%d errno=%d retval=0x%x data_size_out=%u ctx_size_out=%u", name, ret, err, o->retval,
	       o->data_size_out, o->ctx_size_out);
	if (o->data_out) {
		unsigned n = o->data_size_out < want_data ? o->data_size_out : want_data;
		hex("data", o->data_out, n);
	}
	if (o->ctx_out)
		hex("ctx", o->ctx_out, want_ctx);
	printf("\n");
}

#define OPTS(name, ...) LIBBPF_OPTS(bpf_test_run_opts, name, __VA_ARGS__)

struct sys_args {
	int a, b;
	int sum;
	int runs;
};

static unsigned char pkt_ipv4[64], pkt_ipv6[80], big[8000], out[8192];

static void packets(void)
{
	/* dst 02:..:01, src 02:..:02, IPv4, 10.0.0.1 -> 10.0.0.2 */
	unsigned char h4[] = { 2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00,
			       0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };
	memcpy(pkt_ipv4, h4, sizeof(h4));
	for (size_t i = sizeof(h4); i < sizeof(pkt_ipv4); i++)
		pkt_ipv4[i] = (unsigned char)i;
	unsigned char h6[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 2, 0x86, 0xdd, 0x60, 0, 0, 0, 0, 26, 17, 64 };
	memcpy(pkt_ipv6, h6, sizeof(h6));
	for (size_t i = sizeof(h6); i < sizeof(pkt_ipv6); i++)
		pkt_ipv6[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 13 + 1);
}

static void test_syscall(void)
{
	int fd = prog("sys_sum");
	struct sys_args a = { 3, 4, 0, 0 };
	OPTS(o, .ctx_in = &a, .ctx_size_in = sizeof(a));
	run("syscall", fd, &o);
	printf("  args: sum=%d runs=%d\n", a.sum, a.runs);
	OPTS(small, .ctx_in = &a, .ctx_size_in = 4);
	run("syscall ctx_size_in below what it reads", fd, &small);
	OPTS(rep, .ctx_in = &a, .ctx_size_in = sizeof(a), .repeat = 2);
	run("syscall repeat", fd, &rep);
	OPTS(fl, .ctx_in = &a, .ctx_size_in = sizeof(a), .flags = BPF_F_TEST_RUN_ON_CPU);
	run("syscall flags", fd, &fl);
	OPTS(din, .ctx_in = &a, .ctx_size_in = sizeof(a), .data_in = pkt_ipv4, .data_size_in = 14);
	run("syscall data_in", fd, &din);
	OPTS(cout, .ctx_in = &a, .ctx_size_in = sizeof(a), .ctx_out = out, .ctx_size_out = 16);
	run("syscall ctx_out", fd, &cout);
	OPTS(bad, .ctx_in = (void *)8, .ctx_size_in = sizeof(a));
	run("syscall ctx_in bad pointer", fd, &bad);
	OPTS(huge, .ctx_in = big, .ctx_size_in = 70000);
	run("syscall ctx_size_in above 65535", fd, &huge);
}

struct who_args {
	__u32 pid, tid_is_pid, uid, gid;
	char comm[16];
};

static void test_who(void)
{
	struct who_args a = { 0 };
	OPTS(o, .ctx_in = &a, .ctx_size_in = sizeof(a));
	run("who", prog("who"), &o);
	printf("  current: pid is mine %d, tid = pid %d, uid %u gid %u, comm %s\n", a.pid == (__u32)getpid(), a.tid_is_pid,
	       a.uid, a.gid, a.comm);
}

static void test_xdp(void)
{
	int fd = prog("xdp_swap");
	OPTS(o, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out, .data_size_out = sizeof(out));
	run("xdp", fd, &o);
	OPTS(nosz, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out);
	run("xdp data_size_out 0 (whole packet)", fd, &nosz);
	OPTS(rep, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .repeat = 101);
	run("xdp repeat 101 (odd: swapped back and forth)", fd, &rep);
	printf("  duration>0: %d\n", rep.duration > 0);
	OPTS(small, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out, .data_size_out = 10);
	run("xdp data_size_out too small", fd, &small);
	OPTS(noout, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4));
	run("xdp no data_out", fd, &noout);
	OPTS(short_, .data_in = pkt_ipv4, .data_size_in = 13);
	run("xdp data_size_in 13", fd, &short_);
	OPTS(bad, .data_in = (void *)8, .data_size_in = 64);
	run("xdp data_in bad pointer", fd, &bad);
	OPTS(badout, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = (void *)8, .data_size_out = 0);
	int r = bpf_prog_test_run_opts(fd, &badout);
	printf("xdp data_out bad pointer: ret=%d errno=%d\n", r, r < 0 ? errno : 0);
	OPTS(fl, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .flags = 4);
	run("xdp unknown flag", fd, &fl);
	OPTS(batch, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .batch_size = 4);
	run("xdp batch_size without live frames", fd, &batch);
	OPTS(livout, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out,
	     .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = 300);
	run("xdp live frames batch 300", fd, &livout);
	OPTS(cpu, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .cpu = 1);
	run("xdp cpu (ignored)", fd, &cpu);

	/* Metadata: the first 4 bytes of data_in, as ctx_in.data says. */
	struct xdp_md md = { .data = 4, .data_end = sizeof(pkt_ipv4) };
	unsigned char withmeta[64];
	memcpy(withmeta, pkt_ipv4, sizeof(withmeta));
	withmeta[0] = 0x11;
	OPTS(m, .data_in = withmeta, .data_size_in = sizeof(withmeta), .data_out = out, .data_size_out = sizeof(out),
	     .ctx_in = &md, .ctx_size_in = sizeof(md), .ctx_out = out + 4096, .ctx_size_out = sizeof(md));
	run("xdp metadata", fd, &m);
	hex("  ctx_out", out + 4096, sizeof(md));
	printf("\n");
	struct xdp_md md2 = { .data = 0, .data_end = 40 };
	OPTS(shortend, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out, .data_size_out = sizeof(out),
	     .ctx_in = &md2, .ctx_size_in = sizeof(md2), .ctx_out = out + 4096, .ctx_size_out = sizeof(md2));
	run("xdp ctx data_end shorter than data_in (rest in fragments)", fd, &shortend);
	OPTS(ctxsmall, .data_in = withmeta, .data_size_in = sizeof(withmeta), .ctx_in = &md, .ctx_size_in = sizeof(md),
	     .ctx_out = out, .ctx_size_out = 8);
	run("xdp ctx_size_out too small", fd, &ctxsmall);
	struct xdp_md bads[] = {
		{ .data_meta = 1, .data_end = 64 }, { .data = 3, .data_end = 64 }, { .data = 36, .data_end = 64 },
		{ .data = 48, .data_end = 64 }, { .data = 50, .data_end = 64 }, { .data = 52, .data_end = 64 },
		{ .data = 8, .data_end = 4 }, { .data_end = 65 }, { .data_end = 64, .egress_ifindex = 1 },
		{ .data_end = 64, .rx_queue_index = 1 }, { .data_end = 64, .ingress_ifindex = 99999 },
		{ .data_end = 64, .ingress_ifindex = 1, .rx_queue_index = 1 }, { .data_end = 64, .ingress_ifindex = 1 },
	};
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "xdp ctx %zu", i);
		OPTS(b, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .ctx_in = &bads[i], .ctx_size_in = sizeof(bads[i]));
		run(name, fd, &b);
	}
	unsigned char longctx[40] = { 0 };
	((struct xdp_md *)longctx)->data_end = 64;
	OPTS(lc, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .ctx_in = longctx, .ctx_size_in = sizeof(longctx));
	run("xdp ctx_size_in 40 zero tail", fd, &lc);
	longctx[39] = 1;
	run("xdp ctx_size_in 40 non-zero tail", fd, &lc);
	OPTS(cb, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .ctx_in = (void *)8, .ctx_size_in = sizeof(md));
	run("xdp ctx_in bad pointer", fd, &cb);
	OPTS(ob, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .ctx_out = out, .ctx_size_out = sizeof(md));
	run("xdp ctx_out only", fd, &ob);

	/* Beyond one page of linear data: fragments. */
	/* Metadata as large as the headroom allows. */
	static unsigned char bigmeta[400];
	memcpy(bigmeta + 256, pkt_ipv4, 64);
	unsigned metas[] = { 212, 216, 220, 252, 256 };
	for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		char name[64];
		struct xdp_md mm = { .data = metas[i], .data_end = metas[i] + 64 };
		snprintf(name, sizeof(name), "xdp metadata %u bytes", metas[i]);
		OPTS(b, .data_in = bigmeta + 256 - metas[i], .data_size_in = metas[i] + 64, .ctx_in = &mm, .ctx_size_in = sizeof(mm),
		     .data_out = out, .data_size_out = sizeof(out));
		run(name, fd, &b);
	}
	OPTS(l3520, .data_in = big, .data_size_in = 3520, .data_out = out, .data_size_out = sizeof(out));
	run("xdp 3520 bytes", fd, &l3520);
	OPTS(l3521, .data_in = big, .data_size_in = 3521, .data_out = out, .data_size_out = sizeof(out));
	run("xdp 3521 bytes", fd, &l3521);
	OPTS(frag, .data_in = big, .data_size_in = 5000, .data_out = out, .data_size_out = sizeof(out));
	run("xdp 5000 bytes (fragments)", fd, &frag);
	OPTS(fragsmall, .data_in = big, .data_size_in = 5000, .data_out = out, .data_size_out = 4000);
	run("xdp 5000 bytes into 4000", fd, &fragsmall);
	OPTS(fraglin, .data_in = big, .data_size_in = 5000, .data_out = out, .data_size_out = 100);
	run("xdp 5000 bytes into 100 (less than the linear part)", fd, &fraglin);
}

static void test_skb(const char *progname, const char *label)
{
	int fd = prog(progname);
	char name[128];
	struct __sk_buff skb = { .mark = 5, .priority = 3, .cb = { 1, 2, 3, 4, 5 }, .tstamp = 1000, .gso_segs = 2, .gso_size = 100 };
	unsigned char ctxout[sizeof(struct __sk_buff)];
	OPTS(o, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out, .data_size_out = sizeof(out),
	     .ctx_in = &skb, .ctx_size_in = sizeof(skb), .ctx_out = ctxout, .ctx_size_out = sizeof(ctxout));
	snprintf(name, sizeof(name), "%s ipv4", label);
	run(name, fd, &o);
	OPTS(v6, .data_in = pkt_ipv6, .data_size_in = sizeof(pkt_ipv6), .data_out = out, .data_size_out = sizeof(out),
	     .ctx_in = &skb, .ctx_size_in = sizeof(skb), .ctx_out = ctxout, .ctx_size_out = sizeof(ctxout));
	snprintf(name, sizeof(name), "%s ipv6 broadcast", label);
	run(name, fd, &v6);
	OPTS(noctx, .data_in = pkt_ipv4, .data_size_in = sizeof(pkt_ipv4), .data_out = out, .data_size_out = sizeof(out), .repeat = 3);
	snprintf(name, sizeof(name), "%s no ctx, repeat 3", label);
	run(name, fd, &noctx);
	unsigned char other[64];
	memcpy(other, pkt_ipv4, 64);
	other[12] = 0x01; /* h_proto below 0x600: 802.2, or 802.3 after 0xffff */
	other[14] = other[15] = 0xff;
	OPTS(raw, .data_in = other, .data_size_in = 64, .data_out = out, .ctx_out = ctxout, .ctx_size_out = sizeof(ctxout));
	snprintf(name, sizeof(name), "%s 802.3 frame, ctx_out only", label);
	run(name, fd, &raw);
	other[0] = 0;
	memset(other, 0, 6);
	other[14] = 0;
	run(name, fd, &raw);
	struct __sk_buff bad = { .len = 1 };
	OPTS(b1, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &bad, .ctx_size_in = sizeof(bad));
	snprintf(name, sizeof(name), "%s ctx with len set", label);
	run(name, fd, &b1);
	struct __sk_buff wl = { .wire_len = 10 };
	OPTS(b2, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &wl, .ctx_size_in = sizeof(wl));
	snprintf(name, sizeof(name), "%s wire_len below len", label);
	run(name, fd, &b2);
	struct __sk_buff wl2 = { .wire_len = 1500 };
	OPTS(b2b, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &wl2, .ctx_size_in = sizeof(wl2), .ctx_out = ctxout, .ctx_size_out = sizeof(ctxout));
	snprintf(name, sizeof(name), "%s wire_len 1500", label);
	run(name, fd, &b2b);
	struct __sk_buff ifx = { .ifindex = 99999 };
	OPTS(b3, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &ifx, .ctx_size_in = sizeof(ifx));
	snprintf(name, sizeof(name), "%s ifindex 99999", label);
	run(name, fd, &b3);
	struct __sk_buff lo = { .ifindex = 1 };
	OPTS(b4, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &lo, .ctx_size_in = sizeof(lo), .ctx_out = ctxout, .ctx_size_out = sizeof(ctxout));
	snprintf(name, sizeof(name), "%s ifindex 1", label);
	run(name, fd, &b4);
	OPTS(max, .data_in = big, .data_size_in = 3712, .data_out = out, .data_size_out = 32);
	snprintf(name, sizeof(name), "%s 3712 bytes into 32", label);
	run(name, fd, &max);
	OPTS(over, .data_in = big, .data_size_in = 3713);
	snprintf(name, sizeof(name), "%s 3713 bytes", label);
	run(name, fd, &over);
	OPTS(sh, .data_in = big, .data_size_in = 13);
	snprintf(name, sizeof(name), "%s 13 bytes", label);
	run(name, fd, &sh);
	OPTS(cs, .data_in = pkt_ipv4, .data_size_in = 64, .flags = BPF_F_TEST_SKB_CHECKSUM_COMPLETE);
	snprintf(name, sizeof(name), "%s checksum complete", label);
	run(name, fd, &cs);
	OPTS(fl, .data_in = pkt_ipv4, .data_size_in = 64, .flags = 1);
	snprintf(name, sizeof(name), "%s flag 1", label);
	run(name, fd, &fl);
	OPTS(cpu, .data_in = pkt_ipv4, .data_size_in = 64, .cpu = 1);
	snprintf(name, sizeof(name), "%s cpu", label);
	run(name, fd, &cpu);
	OPTS(cso, .data_in = pkt_ipv4, .data_size_in = 64, .ctx_in = &skb, .ctx_size_in = sizeof(skb), .ctx_out = ctxout, .ctx_size_out = 8);
	snprintf(name, sizeof(name), "%s ctx_size_out 8", label);
	run(name, fd, &cso);
	OPTS(bd, .data_in = (void *)8, .data_size_in = 64);
	snprintf(name, sizeof(name), "%s data_in bad pointer", label);
	run(name, fd, &bd);
}

static void test_raw_tp(void)
{
	int fd = prog("rawtp_args");
	__u64 args[12] = { 5, 7 };
	OPTS(o, .ctx_in = args, .ctx_size_in = 16);
	run("raw_tp", fd, &o);
	OPTS(s, .ctx_in = args, .ctx_size_in = 8);
	run("raw_tp ctx_size_in 8", fd, &s);
	OPTS(all, .ctx_in = args, .ctx_size_in = 96);
	run("raw_tp ctx_size_in 96", fd, &all);
	OPTS(l, .ctx_in = big, .ctx_size_in = 104);
	run("raw_tp ctx_size_in 104", fd, &l);
	OPTS(rep, .ctx_in = args, .ctx_size_in = 16, .repeat = 2);
	run("raw_tp repeat", fd, &rep);
	OPTS(cpu, .ctx_in = args, .ctx_size_in = 16, .cpu = 1);
	run("raw_tp cpu without flag", fd, &cpu);
	OPTS(fl, .ctx_in = args, .ctx_size_in = 16, .flags = 6);
	run("raw_tp other flags", fd, &fl);
	OPTS(bad, .ctx_in = (void *)8, .ctx_size_in = 16);
	run("raw_tp ctx_in bad pointer", fd, &bad);
	int cfd = prog("rawtp_cpu");
	OPTS(on1, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 1);
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1)
		run("raw_tp on cpu 1", cfd, &on1);
	OPTS(on0, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 0);
	run("raw_tp on cpu 0", cfd, &on0);
	OPTS(onx, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 5000);
	run("raw_tp on cpu 5000", cfd, &onx);
}

/* A program the kernel's verifier refuses (it loads from address 16): the kernel says so at
 * load; where it loads anyway, a test run must fail cleanly and the next one still work. */
static void fault_case(void)
{
	struct bpf_insn bad[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 16 },
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 0, .src_reg = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct bpf_insn good[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 42 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "bad", "GPL", bad, 3, NULL);
	printf("fault: load %s\n", fd < 0 ? strerror(errno) : "ok");
	int gfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "good", "GPL", good, 2, NULL);
	OPTS(o, .data_in = pkt_ipv4, .data_size_in = 64);
	if (fd >= 0)
		run("fault: run", fd, &o);
	run("fault: next run", gfd, &o);
}

static void show_stats(const char *when, int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int e = bpf_obj_get_info_by_fd(fd, &info, &len);
	printf("%s: info %d run_cnt=%llu run_time_ns>0: %d\n", when, e, (unsigned long long)info.run_cnt,
	       info.run_time_ns > 0);
}

/* BPF_ENABLE_STATS: programs count runs (test runs included) while a stats fd is open. With
 * --hold, waits for a line on stdin before closing it (for bpftool prog show meanwhile). */
static void stats_case(int hold)
{
	int fd = prog("xdp_swap"), sfd = prog("sys_sum");
	OPTS(o, .data_in = pkt_ipv4, .data_size_in = 64, .repeat = 100);
	show_stats("stats: at load", fd);
	bpf_prog_test_run_opts(fd, &o);
	show_stats("stats: 100 runs without stats", fd);
	int st = bpf_enable_stats(BPF_STATS_RUN_TIME);
	printf("stats: enable %s\n", st >= 0 ? "ok" : strerror(errno));
	int bad = bpf_enable_stats(1);
	printf("stats: enable type 1: %d %s\n", bad, bad < 0 ? strerror(errno) : "");
	o.repeat = 1000;
	bpf_prog_test_run_opts(fd, &o);
	show_stats("stats: 1000 runs with stats", fd);
	struct sys_args a = { 1, 2 };
	OPTS(s, .ctx_in = &a, .ctx_size_in = sizeof(a));
	bpf_prog_test_run_opts(sfd, &s);
	show_stats("stats: syscall program run once", sfd);
	int st2 = dup(st);
	close(st);
	o.repeat = 10;
	bpf_prog_test_run_opts(fd, &o);
	show_stats("stats: 10 more with a dup still open", fd);
	if (hold) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		bpf_obj_get_info_by_fd(fd, &info, &len);
		printf("holding id=%u\n", info.id);
		fflush(stdout);
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return;
	}
	close(st2);
	bpf_prog_test_run_opts(fd, &o);
	show_stats("stats: 10 more after the last close", fd);
}

/* Which helpers each type may call: loads of `call N; r0 = 0; exit` (the kernel refuses an
 * unavailable helper before looking at its arguments). */
static void helper_cases(void)
{
	static const struct { const char *name; int type; } types[] = {
		{ "xdp", BPF_PROG_TYPE_XDP }, { "tc", BPF_PROG_TYPE_SCHED_CLS },
		{ "socket", BPF_PROG_TYPE_SOCKET_FILTER }, { "syscall", BPF_PROG_TYPE_SYSCALL },
	};
	static const int ids[] = { BPF_FUNC_ktime_get_ns, BPF_FUNC_get_prandom_u32, BPF_FUNC_get_smp_processor_id,
				   BPF_FUNC_probe_read, BPF_FUNC_probe_read_str, BPF_FUNC_get_stackid, BPF_FUNC_get_stack,
				   BPF_FUNC_get_func_ip, BPF_FUNC_get_attach_cookie, BPF_FUNC_jiffies64 };
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
			struct bpf_insn insns[] = {
				{ .code = BPF_JMP | BPF_CALL, .imm = ids[i] },
				{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
				{ .code = BPF_JMP | BPF_EXIT },
			};
			/* Tracing helpers in a syscall program: the kernel then judges the (absent) arguments,
			 * which our load-time checks do not; not compared. */
			if (types[t].type == BPF_PROG_TYPE_SYSCALL && ids[i] != BPF_FUNC_get_attach_cookie &&
			    ids[i] != BPF_FUNC_ktime_get_ns && ids[i] != BPF_FUNC_get_prandom_u32 &&
			    ids[i] != BPF_FUNC_get_smp_processor_id && ids[i] != BPF_FUNC_jiffies64)
				continue;
			char log[4096] = "";
			LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1,
				    .prog_flags = types[t].type == BPF_PROG_TYPE_SYSCALL ? BPF_F_SLEEPABLE : 0);
			int fd = bpf_prog_load(types[t].type, NULL, "GPL", insns, 3, &o);
			const char *why = strstr(log, "program of this type cannot use helper");
			printf("helper %d in %s: %s", ids[i], types[t].name, fd >= 0 ? "ok" : strerror(errno));
			if (why)
				printf(" (%.*s)", (int)strcspn(why, "\n"), why);
			printf("\n");
			if (fd >= 0)
				close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_run OBJ | test_run --fault\n");
		return 2;
	}
	if (argc >= 3 && strcmp(argv[1], "--stats") == 0) {
		packets();
		obj = bpf_object__open_file(argv[2], NULL);
		if (!obj || bpf_object__load(obj)) {
			printf("load failed: %s\n", strerror(errno));
			return 1;
		}
		stats_case(argc >= 4 && strcmp(argv[3], "--hold") == 0);
		return 0;
	}
	if (strcmp(argv[1], "--fault") == 0) {
		packets();
		fault_case();
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	libbpf_set_print(NULL);
	packets();
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	printf("loaded\n");
	test_syscall();
	test_who();
	test_xdp();
	test_skb("tc_fields", "tc");
	test_skb("sock_fields", "socket");
	test_raw_tp();
	helper_cases();

	OPTS(none, .ctx_in = big, .ctx_size_in = 8);
	run("tracepoint (no test run)", prog("tp_no_test_run"), &none);
	struct bpf_map *bss = bpf_object__find_map_by_name(obj, "test_run.bss");
	run("map fd as prog fd", bpf_map__fd(bss), &none);
	run("closed fd", 1000, &none);
	OPTS(nosz, .ctx_in = big);
	run("ctx_in without ctx_size_in", prog("sys_sum"), &nosz);
	OPTS(nout, .ctx_out = out);
	run("ctx_out without ctx_size_out", prog("xdp_swap"), &nout);
	__u32 zero = 0;
	__u64 runs = 0;
	int e = bpf_map_lookup_elem(bpf_map__fd(bss), &zero, &runs);
	printf("runs counted in .bss: %d %llu\n", e, (unsigned long long)runs);
	return 0;
}
