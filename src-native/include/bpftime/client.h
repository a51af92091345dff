/* The client side of the control-plane protocol (proto.h), shared by the shim and the agent:
 * finding the runtime directory, starting the embedded server when none runs, framing. */
#ifndef BPFTIME_CLIENT_H
#define BPFTIME_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include "bpftime/proto.h"

/* $BPFTIME_RUNTIME_DIR, else $XDG_RUNTIME_DIR/bpftime, else /tmp/bpftime-<uid>; created 0700. */
const char *bpftime_runtime_dir(void);

/* Connects to the server, starting it first when none answers and autostart is set.
 * Returns a connected, close-on-exec socket fd, or -errno. */
int bpftime_client_connect(int autostart);

/* The process at the other end of a connected socket (SO_PEERCRED) as a pidfd, moved high in the
 * fd table like the socket, for noticing when the server dies; *pid gets its pid. -errno if
 * none (a pidfd becomes readable once the process has exited, zombie or reaped). */
int bpftime_client_peer_pidfd(int sock, int *pid);

/* Grows this process's fd table to hold the slot the connection's socket will move to, then
 * frees the slot. Call while the process is single-threaded: growing a table that threads share
 * waits for an RCU grace period (synchronize_rcu in expand_fdtable, ~10 ms), which a connection
 * made later from another thread then does not pay. */
void bpftime_client_prepare_fd_slot(void);

/* Sends one frame (header + payload, fds riding on the header). 0 or -errno. */
int bpftime_send_frame(int sock, uint16_t type, uint32_t seq, const void *payload, uint32_t len,
		       const int *fds, int nfds);

/* Receives one whole frame. *payload is malloc'd (caller frees); fds land in fds[0..*nfds).
 * Extra fds beyond max_fds are closed. Returns 0, -EPIPE at EOF, or -errno. */
int bpftime_recv_frame(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
		       int *nfds);

/* bpftime_recv_frame for a socket with SO_RCVTIMEO set, which a signal handler interrupts even
 * under SA_RESTART: on_intr(arg) runs each time one does before the frame has begun to arrive,
 * and the wait goes on (as it does when the timeout passes). *between_frames (when given) is 1
 * while nothing of the frame has been taken from the socket, so that a signal handler on this
 * thread knows whether it may read frames itself. */
int bpftime_recv_frame_intr(int sock, struct bpftime_frame *hdr, void **payload, int *fds, int max_fds,
			    int *nfds, void (*on_intr)(void *), void *arg, volatile int *between_frames);

/* A growable byte buffer for building payloads. */
struct bpftime_buf {
	uint8_t *data;
	size_t len, cap;
};
int bpftime_buf_put(struct bpftime_buf *b, const void *p, size_t n);
int bpftime_buf_pad8(struct bpftime_buf *b);
void bpftime_buf_free(struct bpftime_buf *b);

/* Raw syscall that bypasses any interposed libc wrapper (the shim interposes syscall()). */
long bpftime_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);

#endif
