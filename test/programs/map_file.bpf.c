// Maps with BTF of the kinds a kernel prints when their pins are read as files (array, hash,
// per-CPU array and hash, LRU hash), with values of ints, enums, char arrays, nested structs and
// unions, bitfields, pointers (printed hashed), floats, 128-bit integers and _Bool (a queue has
// no text form):
// test/e2e/bpffs-map-read.test.ts pins them with bpftool and reads them with cat.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum colour { RED = 1, GREEN = 2, BLUE = -3 };
struct inner { short s; unsigned char u8; enum colour c; };
struct val {
	int a;
	char name[8];
	unsigned long long c;
	struct inner in[2];
	signed char sc;
	long l;
};
typedef const volatile unsigned int u32_t;
struct outer { struct inner i; int x; union { int y; char z[4]; } u; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, int); __type(value, struct val); } h SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 3); __type(key, __u32); __type(value, long); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, u32_t); } pca SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 4); __type(key, struct inner); __type(value, __u16); } pch SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4); __type(key, __u64); __type(value, enum colour); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct outer); } ns SEC(".maps");
struct bits { unsigned int a:3, b:5; int c:4; unsigned short d:9; };
struct odd {
	struct bits bf;
	void *p;
	float f;
	double d;
	__int128 s128;
	unsigned __int128 u128;
	_Bool flag;
	char tail[3];
	int *ip;
	void *ptrs[2];
};
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, struct odd); } odd SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 4); __type(value, int); } q SEC(".maps");

SEC("socket") int touch(void *ctx)
{
	int k = 0;
	__u32 z = 0;
	struct inner i = {};
	__u64 x = 0;
	int v = 0;
	bpf_map_lookup_elem(&h, &k);
	bpf_map_lookup_elem(&arr, &z);
	bpf_map_lookup_elem(&pca, &z);
	bpf_map_lookup_elem(&pch, &i);
	bpf_map_lookup_elem(&lru, &x);
	bpf_map_push_elem(&q, &v, 0);
	bpf_map_lookup_elem(&ns, &z);
	bpf_map_lookup_elem(&odd, &z);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
