/* Keeps the agent's threads' credentials in step with the application's (see setxid.c). */
#ifndef BPFTIME_AGENT_SETXID_H
#define BPFTIME_AGENT_SETXID_H

/* Called by every agent thread when it starts (enter) and before it returns (leave). */
void agent_setxid_thread_enter(void);
void agent_setxid_thread_leave(void);
/* Once the process has threads (after the agent's pthread_create): takes over glibc's SIGSETXID
 * handler, chaining to it. */
void agent_setxid_install(void);

#endif
