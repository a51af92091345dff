/* Syscall tracepoints in this process. The interception engine (attach/syscall) lands
 * separately; until then attachments are answered with a clear refusal, which the server logs
 * and `bpftime status` shows. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>

int agent_syscall_tp_attach(const struct bpftime_attach *a, const char *path, struct agent_prog *prog, char *err,
			    size_t errlen)
{
	(void)a;
	(void)prog;
	snprintf(err, errlen, "syscall tracepoint %s: syscall interception is not available in this agent yet", path);
	return -EOPNOTSUPP;
}

void agent_syscall_tp_detach(uint32_t attach_id) { (void)attach_id; }
