/* What trampoline.S needs to know of the engine's C structures (attach_internal.h; attach.c checks
 * the offsets at compile time). */
#ifndef BPFTIME_ATTACH_ASM_H
#define BPFTIME_ATTACH_ASM_H
#define SHADOW_CAP 4096 /* shadow frames per thread */
#define SITE_ENTRY_VEC 0 /* struct site */
#define SITE_RET_VEC 8
#define SITE_RET_ONLY 16
#define TS_SEQ 0 /* struct thread_state */
#define TS_EXCLUDED 8
#define TS_TOP 12
#define TS_FRAMES 16
#define SHADOW_FRAME_SIZE 24 /* struct shadow_frame: ret_addr, entry_sp, site */
#endif
