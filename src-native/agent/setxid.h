/* Keeps the agent's threads' credentials in step with the application's (see setxid.c). */
#ifndef BPFTIME_AGENT_SETXID_H
#define BPFTIME_AGENT_SETXID_H

/* Called by every agent thread when it starts (enter) and before it returns (leave). */
void agent_setxid_thread_enter(void);
void agent_setxid_thread_leave(void);
/* Once the process has threads (after the agent's pthread_create): takes over glibc's SIGSETXID
 * handler, chaining to it. */
void agent_setxid_install(void);
/* For a dlopen'ed agent (bpftime attach), which interposes nothing: probes on the C library's
 * set*id functions, capset and prctl do what the interposed wrappers do. */
void agent_setxid_probe_libc(void);
/* In a forked child: the agent's threads are not there (a new one registers). */
void agent_setxid_after_fork_child(void);

#endif
