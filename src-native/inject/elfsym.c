/* Symbol values from a shared object's dynamic symbol table, read from the file itself. The
 * target's dlopen is found this way: its libc file's .dynsym gives the offset, /proc/PID/maps the
 * base. Everything read from the file is bounds-checked: it is whatever the target mapped. */
#include "inject.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether [off, off + len) lies inside a file of `size` bytes (no overflow). */
static int in_file(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

static int lookup(const uint8_t *f, uint64_t size, const char *const *names, uint64_t *values, size_t n,
		  uint64_t *load_vaddr)
{
	if (size < sizeof(Elf64_Ehdr) || memcmp(f, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return -ENOEXEC;

	/* The base in /proc/PID/maps is where the first PT_LOAD's page went. */
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || !in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
		return -ENOEXEC;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(f + eh->e_phoff);
	int have_load = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			*load_vaddr = ph[i].p_vaddr & ~(uint64_t)0xfff;
			have_load = 1;
			break;
		}
	if (!have_load)
		return -ENOEXEC;

	if (eh->e_shentsize != sizeof(Elf64_Shdr) || !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), size))
		return -ENOEXEC;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
	const Elf64_Shdr *dynsym = NULL, *versym = NULL;
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type == SHT_DYNSYM)
			dynsym = &sh[i];
		else if (sh[i].sh_type == SHT_GNU_versym)
			versym = &sh[i];
	}
	if (!dynsym || dynsym->sh_link >= eh->e_shnum || dynsym->sh_entsize != sizeof(Elf64_Sym) ||
	    !in_file(dynsym->sh_offset, dynsym->sh_size, size))
		return -ENOEXEC;
	const Elf64_Shdr *strtab = &sh[dynsym->sh_link];
	if (!in_file(strtab->sh_offset, strtab->sh_size, size))
		return -ENOEXEC;
	const Elf64_Sym *syms = (const Elf64_Sym *)(f + dynsym->sh_offset);
	uint64_t nsyms = dynsym->sh_size / sizeof(Elf64_Sym);
	const char *strs = (const char *)(f + strtab->sh_offset);
	const Elf64_Half *vers = NULL;
	if (versym && in_file(versym->sh_offset, nsyms * sizeof(Elf64_Half), size))
		vers = (const Elf64_Half *)(f + versym->sh_offset);

	for (uint64_t i = 0; i < nsyms; i++) {
		const Elf64_Sym *s = &syms[i];
		if (s->st_shndx == SHN_UNDEF || s->st_name >= strtab->sh_size || s->st_value == 0)
			continue;
		int type = ELF64_ST_TYPE(s->st_info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		const char *name = strs + s->st_name;
		size_t room = strtab->sh_size - s->st_name;
		/* A symbol can exist in several versions (dlopen@GLIBC_2.2.5 and dlopen@@GLIBC_2.34):
		 * the default one (hidden bit clear) is what a program linked today would call. */
		int is_default = !vers || !(vers[i] & 0x8000);
		for (size_t k = 0; k < n; k++) {
			size_t len = strlen(names[k]);
			if (len < room && memcmp(name, names[k], len + 1) == 0 && (values[k] == 0 || is_default)) {
				/* IFUNCs would need their resolver run: not something we call remotely. */
				values[k] = type == STT_FUNC ? s->st_value : 0;
			}
		}
	}
	return 0;
}

int inj_elf_symbols(const char *path, const char *const *names, uint64_t *values, size_t n, uint64_t *load_vaddr)
{
	for (size_t k = 0; k < n; k++)
		values[k] = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return -ENOEXEC;
	}
	void *f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (f == MAP_FAILED)
		return -errno;
	int rc = lookup(f, (uint64_t)st.st_size, names, values, n, load_vaddr);
	munmap(f, (size_t)st.st_size);
	return rc;
}
