/* BPF_MAP_TYPE_ARRAY_OF_MAPS / HASH_OF_MAPS from the syscall side, one line per call: creation
 * with and without a usable template, updates with inner map fds (matching, mismatching, bad fds),
 * lookups answering inner map ids, deletes, get_next_key, an inner map kept alive by its slot.
 * test/e2e/map-of-maps.test.ts runs it on the kernel and under the shim and compares the output. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#include "bpf_calls_util.h"

#define SAY(what, rc) printf("%s: %s\n", what, (rc) < 0 ? strerror(errno) : "ok")

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int inner = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, 0);
	int inner2 = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0, 0);
	int other_size = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 8, 5, 0, 0);
	int other_value = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 4, 4, 0, 0);
	int hinner = create_map_of_maps(BPF_MAP_TYPE_HASH, 4, 4, 8, 0, 0);
	int hinner_big = create_map_of_maps(BPF_MAP_TYPE_HASH, 4, 4, 16, 0, 0);
	int pa = create_map_of_maps(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, 0, 0);
	int flex = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 8, 2, BPF_F_INNER_MAP, 0);
	int flex_big = create_map_of_maps(BPF_MAP_TYPE_ARRAY, 4, 8, 9, BPF_F_INNER_MAP, 0);
	if (inner < 0 || inner2 < 0 || hinner < 0 || pa < 0 || flex < 0) {
		printf("inner maps: %s\n", strerror(errno));
		return 0;
	}
	int aom = create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, inner);
	SAY("array_of_maps create", aom);
	SAY("create value_size 8", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 8, 3, 0, inner));
	SAY("create key_size 8", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 8, 4, 3, 0, inner));
	SAY("create no template", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, 0));
	SAY("create closed template fd", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, 999));
	SAY("create template not a map", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, 1));
	SAY("create nested template", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, aom));
	int r = create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 0, pa);
	printf("create prog array template: %s\n", r < 0 ? (errno == 524 ? "ENOTSUPP" : strerror(errno)) : "ok");
	SAY("create rdonly_prog", create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, BPF_F_RDONLY_PROG, inner));
	int hom = create_map_of_maps(BPF_MAP_TYPE_HASH_OF_MAPS, 8, 4, 2, 0, hinner);
	SAY("hash_of_maps create", hom);
	SAY("hash create value_size 8", create_map_of_maps(BPF_MAP_TYPE_HASH_OF_MAPS, 8, 8, 2, 0, hinner));
	SAY("hash create no_prealloc", create_map_of_maps(BPF_MAP_TYPE_HASH_OF_MAPS, 8, 4, 2, BPF_F_NO_PREALLOC, hinner));
	int aflex = create_map_of_maps(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 2, 0, flex);
	SAY("inner_map template create", aflex);

	uint32_t k = 1, v, got;
	v = inner;
	SAY("update", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	SAY("update noexist", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_NOEXIST));
	k = 3;
	SAY("update index 3", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	k = 2;
	v = other_size;
	SAY("update other max_entries", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	v = other_value;
	SAY("update other value_size", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	v = hinner;
	SAY("update other type", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	v = 999;
	SAY("update closed fd", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	v = 1;
	SAY("update fd not a map", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	SAY("update bad value pointer", elem(BPF_MAP_UPDATE_ELEM, aom, &k, (void *)8, BPF_ANY));
	k = 1;
	got = 0;
	long rc = elem(BPF_MAP_LOOKUP_ELEM, aom, &k, &got, 0);
	printf("lookup 1: %s\n", rc < 0 ? strerror(errno) : got == id_of_obj(inner) ? "id of inner" : "other id");
	k = 0;
	SAY("lookup 0", elem(BPF_MAP_LOOKUP_ELEM, aom, &k, &got, 0));
	uint32_t next = 77;
	rc = elem(BPF_MAP_GET_NEXT_KEY, aom, NULL, &next, 0);
	printf("next of none: %s %u\n", rc < 0 ? strerror(errno) : "ok", next);
	/* the slot keeps the inner map alive once its fd is gone */
	uint32_t inner2_id = id_of_obj(inner2);
	k = 2;
	v = inner2;
	SAY("update slot 2", elem(BPF_MAP_UPDATE_ELEM, aom, &k, &v, BPF_ANY));
	close(inner2);
	rc = elem(BPF_MAP_LOOKUP_ELEM, aom, &k, &got, 0);
	printf("slot 2 after close: %s\n", rc < 0 ? strerror(errno) : got == inner2_id ? "same id" : "other id");
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_id = inner2_id;
	int refd = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof(a));
	SAY("inner alive by id", refd);
	SAY("delete slot 2", elem(BPF_MAP_DELETE_ELEM, aom, &k, NULL, 0));
	SAY("delete slot 2 again", elem(BPF_MAP_DELETE_ELEM, aom, &k, NULL, 0));
	k = 7;
	SAY("delete index 7", elem(BPF_MAP_DELETE_ELEM, aom, &k, NULL, 0));
	SAY("lookup_and_delete", elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, aom, &k, &got, 0));

	k = 0;
	v = flex_big;
	SAY("inner_map template: other max_entries", elem(BPF_MAP_UPDATE_ELEM, aflex, &k, &v, BPF_ANY));

	uint64_t hk = 0x1234;
	v = hinner;
	SAY("hash update", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_ANY));
	SAY("hash update noexist", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_NOEXIST));
	v = hinner_big;
	SAY("hash update other max_entries", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_EXIST));
	v = inner;
	SAY("hash update other type", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_ANY));
	v = hinner;
	SAY("hash update flags 9", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, 9));
	hk = 5;
	SAY("hash update exist (absent)", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_EXIST));
	SAY("hash update 2nd", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_ANY));
	hk = 6;
	SAY("hash update full", elem(BPF_MAP_UPDATE_ELEM, hom, &hk, &v, BPF_ANY));
	hk = 0x1234;
	rc = elem(BPF_MAP_LOOKUP_ELEM, hom, &hk, &got, 0);
	printf("hash lookup: %s\n", rc < 0 ? strerror(errno) : got == id_of_obj(hinner) ? "id of inner" : "other id");
	SAY("hash delete", elem(BPF_MAP_DELETE_ELEM, hom, &hk, NULL, 0));
	SAY("hash delete again", elem(BPF_MAP_DELETE_ELEM, hom, &hk, NULL, 0));
	rc = elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, hom, &hk, &got, 0);
	printf("hash lookup_and_delete: %s\n", rc < 0 ? (errno == 524 ? "ENOTSUPP" : strerror(errno)) : "ok");
	return 0;
}
