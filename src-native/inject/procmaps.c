/* Which files the target has mapped, and where: /proc/PID/maps. */
#include "inject.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct map_line {
	uint64_t start, offset;
	unsigned dev_major, dev_minor;
	uint64_t ino;
	const char *path; /* "" for anonymous mappings */
};

/* Parses one line of /proc/PID/maps; the path is the rest of the line (it may hold spaces). */
static int parse(char *line, struct map_line *m)
{
	uint64_t end;
	char perms[8];
	int consumed = 0;
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &m->start, &end, perms,
		   &m->offset, &m->dev_major, &m->dev_minor, &m->ino, &consumed) < 7)
		return -1;
	char *p = line + consumed;
	p[strcspn(p, "\n")] = 0;
	m->path = p;
	return 0;
}

static FILE *open_maps(pid_t pid)
{
	char name[64];
	snprintf(name, sizeof(name), "/proc/%d/maps", (int)pid);
	return fopen(name, "re");
}

int inj_find_module(pid_t pid, const char *const *prefixes, struct inj_module *out)
{
	FILE *f = open_maps(pid);
	if (!f)
		return -errno;
	char line[4400];
	int rc = -ENOENT;
	while (rc == -ENOENT && fgets(line, sizeof(line), f)) {
		struct map_line m;
		if (parse(line, &m) < 0 || m.path[0] != '/' || m.offset != 0)
			continue;
		const char *base = strrchr(m.path, '/') + 1;
		for (const char *const *p = prefixes; *p; p++) {
			if (strncmp(base, *p, strlen(*p)) != 0)
				continue;
			snprintf(out->path, sizeof(out->path), "%s", m.path);
			out->base = m.start;
			/* The target may live in another mount namespace: read its file through its root. */
			snprintf(out->open_path, sizeof(out->open_path), "/proc/%d/root%s", (int)pid, m.path);
			struct stat st;
			if (stat(out->open_path, &st) < 0 || st.st_ino != m.ino)
				snprintf(out->open_path, sizeof(out->open_path), "%s", m.path);
			/* Replaced on disk since it was mapped (a libc upgrade): its symbols may differ. */
			out->stale = stat(out->open_path, &st) < 0 || st.st_ino != m.ino;
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

int inj_is_mapped(pid_t pid, dev_t dev, ino_t ino)
{
	FILE *f = open_maps(pid);
	if (!f)
		return -errno;
	char line[4400];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f)) {
		struct map_line m;
		if (parse(line, &m) == 0 && m.ino == (uint64_t)ino && m.dev_major == major(dev) && m.dev_minor == minor(dev))
			found = 1;
	}
	fclose(f);
	return found;
}
