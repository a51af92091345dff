/* The tool's process hosts an agent too: bpftrace's BEGIN and END are uprobes on bpftrace's own
 * binary, and a tool may probe itself like any process. The shim loads the agent library (its
 * sibling in build/lib) once the tool has talked to the server, so processes that merely inherit
 * LD_PRELOAD and never use bpf() cost nothing. BPFTIME_NO_TOOL_AGENT=1 turns it off. */
#include "shim.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void load(void)
{
	const char *off = getenv("BPFTIME_NO_TOOL_AGENT");
	if (off && *off && strcmp(off, "0") != 0)
		return;
	void (*start)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "bpftime_agent_start");
	if (start) {
		start(); /* preloaded beside the shim: its constructor left the start to us */
		return;
	}
	Dl_info info;
	if (!dladdr((void *)load, &info) || !info.dli_fname)
		return;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", info.dli_fname);
	char *slash = strrchr(path, '/');
	if (!slash)
		return;
	snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "libbpftime-agent.so");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	start = h ? (void (*)(void))dlsym(h, "bpftime_agent_start") : NULL;
	if (!start) {
		fprintf(stderr, "bpftime: no agent in this tool's process (%s): probes on the tool itself "
				"(bpftrace BEGIN/END) will not fire\n", h ? "bpftime_agent_start missing" : dlerror());
		return;
	}
	start(); /* after dlopen returned: the loader's lock is free again */
}

/* The agent looks for this to know it is in a tool's process. */
__attribute__((visibility("default"))) int bpftime_shim_present(void) { return 1; }

void shim_load_tool_agent(void)
{
	pthread_once(&g_once, load);
}
