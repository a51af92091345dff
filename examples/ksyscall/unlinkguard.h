// SPDX-License-Identifier: GPL-2.0
// What unlinkguard's BPF program reports for each refused deletion.
#ifndef UNLINKGUARD_H
#define UNLINKGUARD_H
#define UG_PATH_MAX 256
#define UG_COMM_LEN 16
struct ug_event {
	unsigned int pid;
	char comm[UG_COMM_LEN];
	char path[UG_PATH_MAX];
};
#endif
