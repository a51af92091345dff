/* Where does the function around a syscall site start? Decoding x86 backwards is ambiguous, so
 * rewrite.c decodes forwards from a known instruction boundary: the start of the function, as the
 * unwind tables (.eh_frame_hdr, present in virtually every x86-64 ELF object: the ABI requires
 * unwind info) give it. Code without an ELF file (JIT output, the vDSO) has no answer here and
 * keeps trapping.
 *
 * Everything is read from the process's own mappings of the file, found in /proc/self/maps by
 * device and inode; every read is checked against those mappings first, since this runs in a signal
 * handler where a fault would kill the process. */
#include "syshook_internal.h"
#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_FILE_MAPS 512

struct filemaps {
	uintptr_t addr;
	struct syshook_map text; /* the mapping containing addr, then the executable run around it */
	int found;
	/* The file's mappings in address order. Each page rewritten (by us or the uprobe engine)
	 * becomes a VMA of its own, so a library soon has dozens; adjacent readable ones are merged
	 * afterwards into m[]. */
	struct syshook_map raw[MAX_FILE_MAPS];
	int nraw;
	struct syshook_map m[MAX_FILE_MAPS];
	int n;
	uintptr_t base; /* where offset 0 is mapped: the ELF header */
};

static int find_text(const struct syshook_map *m, void *arg)
{
	struct filemaps *f = arg;
	if (f->addr >= m->start && f->addr < m->end) {
		f->text = *m;
		f->found = 1;
		return 1;
	}
	return 0;
}

static int collect_file(const struct syshook_map *m, void *arg)
{
	struct filemaps *f = arg;
	if (m->dev == f->text.dev && m->inode == f->text.inode && f->nraw < MAX_FILE_MAPS)
		f->raw[f->nraw++] = *m;
	return 0;
}

static int contiguous(const struct syshook_map *a, const struct syshook_map *b)
{
	return a->end == b->start && a->offset + (a->end - a->start) == b->offset;
}

static void merge_file(struct filemaps *f)
{
	int t = -1;
	for (int i = 0; i < f->nraw; i++) {
		const struct syshook_map *r = &f->raw[i];
		if (f->addr >= r->start && f->addr < r->end)
			t = i;
		if (r->offset == 0 && (!f->base || r->start < f->base))
			f->base = r->start;
		if (!(r->prot & PROT_READ))
			continue;
		if (f->n > 0 && contiguous(&f->m[f->n - 1], r))
			f->m[f->n - 1].end = r->end;
		else
			f->m[f->n++] = *r;
	}
	if (t < 0)
		return;
	/* A function may span several VMAs: the executable run holding addr. */
	int lo = t, hi = t;
	while (lo > 0 && (f->raw[lo - 1].prot & PROT_EXEC) && contiguous(&f->raw[lo - 1], &f->raw[lo]))
		lo--;
	while (hi + 1 < f->nraw && (f->raw[hi + 1].prot & PROT_EXEC) && contiguous(&f->raw[hi], &f->raw[hi + 1]))
		hi++;
	f->text.start = f->raw[lo].start;
	f->text.end = f->raw[hi].end;
}

/* [a, a + n) lies in one readable range of the file. */
static int readable(const struct filemaps *f, uintptr_t a, size_t n)
{
	for (int i = 0; i < f->n; i++)
		if (a >= f->m[i].start && a + n >= a && a + n <= f->m[i].end)
			return 1;
	return 0;
}

static uint32_t rd32(uintptr_t a)
{
	uint32_t v;
	memcpy(&v, (const void *)a, 4);
	return v;
}
static uint64_t rd64(uintptr_t a)
{
	uint64_t v;
	memcpy(&v, (const void *)a, 8);
	return v;
}

/* DWARF pointer encodings we accept: absptr/udata4/sdata4/udata8/sdata8, absolute or pcrel. */
#define PE_OMIT 0xff
static int pe_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x00: /* absptr */
	case 0x04: /* udata8 */
	case 0x0c: /* sdata8 */
		return 8;
	case 0x03: /* udata4 */
	case 0x0b: /* sdata4 */
		return 4;
	default:
		return -1;
	}
}

static int pe_read(const struct filemaps *f, uintptr_t at, uint8_t enc, int apply, uint64_t *out)
{
	int sz = pe_size(enc);
	if (sz < 0 || (enc & 0x70) > 0x10 || !readable(f, at, (size_t)sz))
		return -1;
	uint64_t v;
	if (sz == 4)
		v = (enc & 0x0f) == 0x0b ? (uint64_t)(int64_t)(int32_t)rd32(at) : rd32(at);
	else
		v = rd64(at);
	if (apply && (enc & 0x70) == 0x10)
		v += at;
	*out = v;
	return sz;
}

static uintptr_t uleb(const struct filemaps *f, uintptr_t p, uintptr_t end, uint64_t *out)
{
	uint64_t v = 0;
	for (int shift = 0; p < end && shift < 64; shift += 7) {
		uint8_t b = *(const uint8_t *)p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return p;
		}
	}
	return 0;
}

/* The FDE pointer encoding from a CIE's augmentation ("zR", "zPLR", ...), and whether it
 * describes a signal frame ('S'). */
static int cie_fde_encoding(const struct filemaps *f, uintptr_t cie, uint8_t *enc, int *signal_frame)
{
	*signal_frame = 0;
	if (!readable(f, cie, 9))
		return -1;
	uint32_t len = rd32(cie);
	if (len == 0 || len == 0xffffffffu || !readable(f, cie, 4 + (size_t)len) || rd32(cie + 4) != 0)
		return -1;
	uintptr_t p = cie + 8, end = cie + 4 + len;
	uint8_t version = *(const uint8_t *)p++;
	const char *aug = (const char *)p;
	while (p < end && *(const char *)p)
		p++;
	if (p >= end)
		return -1;
	p++;
	if (aug[0] == 'e' && aug[1] == 'h')
		return -1; /* ancient GCC 2.x form */
	uint64_t tmp;
	if (!(p = uleb(f, p, end, &tmp)) || !(p = uleb(f, p, end, &tmp))) /* code, data alignment */
		return -1;
	if (version == 1)
		p++;
	else if (!(p = uleb(f, p, end, &tmp))) /* return address register */
		return -1;
	*enc = 0x00; /* absptr when there is no 'R' */
	if (aug[0] != 'z')
		return 0;
	if (!(p = uleb(f, p, end, &tmp)))
		return -1;
	for (const char *a = aug + 1; *a && p < end; a++) {
		if (*a == 'R') {
			*enc = *(const uint8_t *)p++;
		} else if (*a == 'S') {
			*signal_frame = 1;
		} else if (*a == 'L') {
			p++;
		} else if (*a == 'P') {
			uint8_t penc = *(const uint8_t *)p++;
			int sz = pe_size(penc);
			if (sz < 0)
				return -1;
			p += (uintptr_t)sz;
		} else if (*a != 'B') {
			return -1;
		}
	}
	return 0;
}

int syshook_find_function(uintptr_t addr, struct syshook_func *fn)
{
	static struct filemaps f; /* large; used under the rewrite lock only */
	memset(&f, 0, sizeof(f));
	f.addr = addr;
	if (syshook_maps_foreach(find_text, &f) < 0 || !f.found || !f.text.inode || !(f.text.prot & PROT_EXEC))
		return -ENOENT;
	if (syshook_maps_foreach(collect_file, &f) < 0)
		return -ENOENT;
	merge_file(&f);
	/* The ELF header is at the start of the file's mapping at offset 0. */
	uintptr_t base = f.base;
	if (!base || !readable(&f, base, sizeof(Elf64_Ehdr)))
		return -ENOENT;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !readable(&f, base + eh->e_phoff, (size_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return -ENOENT;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	uintptr_t bias = 0, hdr = 0;
	size_t hdr_len = 0;
	int have_bias = 0;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_bias && (ph[i].p_offset & ~0xfffUL) == 0) {
			bias = base - (ph[i].p_vaddr & ~0xfffUL);
			have_bias = 1;
		}
	}
	for (int i = 0; i < eh->e_phnum && have_bias; i++) {
		if (ph[i].p_type == PT_GNU_EH_FRAME) {
			hdr = bias + ph[i].p_vaddr;
			hdr_len = ph[i].p_memsz;
		}
	}
	if (!hdr || hdr_len < 12 || !readable(&f, hdr, hdr_len))
		return -ENOENT;
	const uint8_t *h = (const uint8_t *)hdr;
	/* version, eh_frame_ptr encoding, fde_count encoding, table encoding */
	int ptr_sz = pe_size(h[1]);
	if (h[0] != 1 || ptr_sz < 0 || h[2] != 0x03 /* udata4 */ || h[3] != 0x3b /* datarel sdata4 */)
		return -ENOENT;
	uintptr_t p = hdr + 4 + (uintptr_t)ptr_sz;
	if (p + 4 > hdr + hdr_len)
		return -ENOENT;
	uint32_t count = rd32(p);
	uintptr_t table = p + 4;
	if (count == 0 || table + (uint64_t)count * 8 > hdr + hdr_len)
		return -ENOENT;
	/* Last entry whose initial location is <= addr. */
	int64_t want = (int64_t)(addr - hdr);
	uint32_t lo = 0, hi = count;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if ((int64_t)(int32_t)rd32(table + mid * 8ULL) <= want)
			lo = mid;
		else
			hi = mid;
	}
	int64_t loc = (int32_t)rd32(table + lo * 8ULL);
	if (loc > want)
		return -ENOENT;
	uintptr_t fde = hdr + (uintptr_t)(int64_t)(int32_t)rd32(table + lo * 8ULL + 4);
	if (!readable(&f, fde, 8))
		return -ENOENT;
	uint32_t flen = rd32(fde);
	if (flen == 0 || flen == 0xffffffffu || !readable(&f, fde, 4 + (size_t)flen))
		return -ENOENT;
	uintptr_t cie = fde + 4 - rd32(fde + 4);
	uint8_t enc;
	int signal_frame;
	if (cie_fde_encoding(&f, cie, &enc, &signal_frame) < 0 || enc == PE_OMIT)
		return -ENOENT;
	uint64_t pc_begin, pc_range;
	int sz = pe_read(&f, fde + 8, enc, 1, &pc_begin);
	if (sz < 0 || pe_read(&f, fde + 8 + (uintptr_t)sz, enc & 0x0f, 0, &pc_range) < 0)
		return -ENOENT;
	if (pc_begin != hdr + (uint64_t)loc || addr < pc_begin || addr - pc_begin >= pc_range)
		return -ENOENT;
	if (pc_begin < f.text.start || pc_begin + pc_range > f.text.end)
		return -ENOENT;
	/* A signal trampoline's FDE starts one byte early, so that unwinders looking up "return
	 * address - 1" find it: the code starts after that byte (glibc's __restore_rt). */
	fn->start = pc_begin + (signal_frame && pc_range > 1 ? 1 : 0);
	fn->end = pc_begin + pc_range;
	fn->signal_frame = signal_frame;
	/* Where the next function starts: bytes in between belong to no function (padding). */
	fn->next_start = fn->end;
	if (lo + 1 < count) {
		uintptr_t next = hdr + (uintptr_t)(int64_t)(int32_t)rd32(table + (lo + 1) * 8ULL);
		if (next >= fn->end && next <= f.text.end)
			fn->next_start = next;
	}
	fn->text = f.text;
	return 0;
}
