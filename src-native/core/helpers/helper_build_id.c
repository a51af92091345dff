/* User stack frames as (build id, file offset), the kernel's stack_map_get_build_id_offset: for
 * each address, the mapping that holds it; when that mapping is of a file whose ELF notes carry a
 * GNU build id, status VALID with the build id and the address's offset in the file
 * (pgoff + ip - start), otherwise status IP with the address and a zero build id.
 *
 * Used from probes and from the profile sampler's signal handler, so only async-signal-safe
 * calls: /proc/self/maps and the files are read with open/read/pread into stack buffers. */
#include <elf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/stack_trace.h"

struct mapping {
	uint64_t start, end, pgoff;
	char path[256];
};

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses one /proc/self/maps line: "start-end perms pgoff dev inode   path". */
static int parse_line(const char *l, size_t n, struct mapping *m)
{
	size_t i = 0;
	uint64_t v[3] = {0, 0, 0};
	for (int f = 0; f < 3; f++) {
		if (f == 2) { /* skip perms */
			while (i < n && l[i] != ' ')
				i++;
			i++;
		}
		int d, any = 0;
		while (i < n && (d = hexval(l[i])) >= 0) {
			v[f] = v[f] << 4 | (uint64_t)d;
			i++;
			any = 1;
		}
		if (!any)
			return 0;
		i++; /* '-' or ' ' */
	}
	m->start = v[0], m->end = v[1], m->pgoff = v[2];
	for (int f = 0; f < 2; f++) { /* dev, inode */
		while (i < n && l[i] != ' ')
			i++;
		while (i < n && l[i] == ' ')
			i++;
	}
	size_t len = n - i < sizeof(m->path) - 1 ? n - i : sizeof(m->path) - 1;
	memcpy(m->path, l + i, len);
	m->path[len] = 0;
	return 1;
}

/* The mapping holding `ip`, or 0. */
static int find_mapping(uint64_t ip, struct mapping *out)
{
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096], line[512];
	size_t ll = 0;
	int found = 0;
	ssize_t n;
	while (!found && (n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && !found; i++) {
			if (buf[i] != '\n') {
				if (ll < sizeof(line))
					line[ll++] = buf[i];
				continue;
			}
			if (parse_line(line, ll, out) && ip >= out->start && ip < out->end)
				found = 1;
			ll = 0;
		}
	}
	close(fd);
	return found;
}

/* The GNU build id in the ELF notes of `path` (zero-padded to 20 bytes), as build_id_parse. */
static int read_build_id(const char *path, unsigned char id[BPF_BUILD_ID_SIZE])
{
	if (path[0] != '/')
		return 0; /* anonymous, [heap], [stack], [vdso]...: no file */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int ok = 0;
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		goto out;
	for (int p = 0; p < eh.e_phnum && !ok; p++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)p * sizeof(ph))) != (ssize_t)sizeof(ph))
			goto out;
		if (ph.p_type != PT_NOTE || ph.p_filesz > 4096)
			continue;
		unsigned char notes[4096];
		if (pread(fd, notes, ph.p_filesz, (off_t)ph.p_offset) != (ssize_t)ph.p_filesz)
			continue;
		for (uint64_t o = 0; o + sizeof(Elf64_Nhdr) <= ph.p_filesz;) {
			Elf64_Nhdr nh;
			memcpy(&nh, notes + o, sizeof(nh));
			uint64_t name_off = o + sizeof(nh), desc_off = name_off + ((nh.n_namesz + 3u) & ~3u);
			uint64_t next = desc_off + ((nh.n_descsz + 3u) & ~3u);
			if (next > ph.p_filesz)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(notes + name_off, "GNU", 4) &&
			    nh.n_descsz > 0 && nh.n_descsz <= BPF_BUILD_ID_SIZE) {
				memset(id, 0, BPF_BUILD_ID_SIZE);
				memcpy(id, notes + desc_off, nh.n_descsz);
				ok = 1;
				break;
			}
			o = next;
		}
	}
out:
	close(fd);
	return ok;
}

void bpftime_stack_build_ids(struct bpf_stack_build_id *out, const uint64_t *ips, uint32_t nr)
{
	for (uint32_t i = 0; i < nr; i++) {
		struct mapping m;
		memset(&out[i], 0, sizeof(out[i]));
		if (find_mapping(ips[i], &m) && read_build_id(m.path, out[i].build_id)) {
			out[i].status = BPF_STACK_BUILD_ID_VALID;
			out[i].offset = m.pgoff + (ips[i] - m.start);
		} else {
			memset(out[i].build_id, 0, sizeof(out[i].build_id));
			out[i].status = BPF_STACK_BUILD_ID_IP;
			out[i].ip = ips[i];
		}
	}
}
