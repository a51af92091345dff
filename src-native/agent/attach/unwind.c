/* C++ exceptions through functions with pending return probes.
 *
 * A pending return probe leaves a return address of ours in the function's frame
 * (bpftime_attach_ret_tramp, or the stub's call_ret on the return-only path) and the real one in
 * the thread's shadow stack. An unwinder walking the stack finds no unwind info for our address,
 * stops there, and the C++ runtime calls std::terminate: the process dies. It does on a kernel
 * too (its uretprobe trampoline has no unwind info either). Here it does not:
 *
 * - _Unwind_RaiseException and _Unwind_Resume_or_Rethrow (libgcc_s, called by libstdc++'s
 *   __cxa_throw, std::rethrow_exception and `throw;`) are interposed: before the real one walks,
 *   every pending frame of this stack gets its real return address back in its slot. The
 *   shadow frame stays, marked restored, with the value it replaced.
 * - __cxa_begin_catch (entered by every C++ handler, after the unwinder has removed the frames
 *   between the throw and the handler's) is interposed: restored frames below the handler's
 *   stack pointer were unwound; they are dropped, and their return probes never run (the
 *   function never returned, as after a longjmp). Frames at or above it are still live: our
 *   address goes back into their slot, so their return probes run when they return. While
 *   another exception is still in flight (a handler inside a destructor run by an unwind), the
 *   outer unwind has frames left to walk: nothing is put back until the outer one is caught.
 *
 * - _Unwind_ForcedUnwind (pthread_exit, cancellation) gets an entry probe of ours while return
 *   probes exist: glibc reaches it through a pointer of its own. Without it the unwind would stop
 *   at our address and skip the cleanups of the frames above (a kernel's uretprobe does that).
 *
 * Interposition needs the agent in the global symbol scope, i.e. preloaded (bpftime start). An
 * agent dlopen'ed (bpftime attach, a tool's own agent) is not: there, while return probes exist,
 * entry probes of our own on those three functions (wherever they are loaded) do the same work;
 * they go with the last return probe. Code that catches without __cxa_begin_catch (another
 * language's runtime) keeps the frames restored: their return probes are missed, nothing breaks. */
#include "attach_internal.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>

#define EXPORT __attribute__((visibility("default")))
#define barrier() __asm__ volatile("" ::: "memory")

struct _Unwind_Exception;
typedef int (*raise_fn)(struct _Unwind_Exception *);
typedef void *(*begin_catch_fn)(void *);
/* libstdc++'s per-thread exception globals (the Itanium C++ ABI's __cxa_eh_globals). */
struct cxa_eh_globals {
	void *caught;
	unsigned int uncaught;
};
typedef struct cxa_eh_globals *(*eh_globals_fn)(void);

/* Whether f is defined in this library (our own wrapper). */
static int ours(void *f)
{
	Dl_info a, b;
	return dladdr(f, &a) && dladdr((void *)ours, &b) && a.dli_fbase == b.dli_fbase;
}

#define MAX_OBJECTS 256
struct objects {
	const char *name[MAX_OBJECTS];
	unsigned n;
};

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct objects *o = arg;
	if (info->dlpi_name && info->dlpi_name[0] && o->n < MAX_OBJECTS)
		o->name[o->n++] = info->dlpi_name;
	return 0;
}

/* The definition our wrapper stands in front of. Usually the next one in the global scope; but
 * the C++ runtime may have come in with a library dlopen'ed RTLD_LOCAL (a C++ extension module
 * of Python), outside the global scope, while its code still binds to our wrapper (we are in
 * the global scope): then it is found in the library that has it, loaded (RTLD_NOLOAD). */
static void *find_real(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (f && !ours(f))
		return f;
	struct objects o = { .n = 0 };
	dl_iterate_phdr(collect, &o); /* names first: no dlopen under the iteration's lock */
	for (unsigned i = 0; i < o.n; i++) {
		void *h = dlopen(o.name[i], RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		f = dlsym(h, name);
		dlclose(h);
		if (f && !ours(f))
			return f;
	}
	return NULL;
}

static void *next_symbol(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!f) {
		f = find_real(name);
		if (f)
			__atomic_store_n(cache, f, __ATOMIC_RELEASE);
	}
	return f;
}

/* The value a pending frame put in its return-address slot, if the slot still holds it. */
static uintptr_t ours_in_slot(const struct shadow_frame *f)
{
	uintptr_t v = *(const uintptr_t *)f->entry_sp;
	return v == (uintptr_t)bpftime_attach_ret_tramp || v == f->site->call_ret ? v : 0;
}

/* Puts the real return address back in every pending frame of this stack above sp (where the
 * unwind will pass) and remembers what was there. Newest first: a frame's return-address slot
 * lies above those of the calls it made, so a frame at or below a newer one's slot is a leftover
 * (unwound earlier, its slot reused since) and is left alone. */
static void restore_frames(struct thread_state *t, uintptr_t sp)
{
	if (!t || !t->frames || !t->top)
		return;
	if (!t->restored) {
		void *m = mmap(NULL, SHADOW_CAP * sizeof(uintptr_t), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return; /* the unwinder stops at our address, as on a kernel */
		t->restored = m;
	}
	uintptr_t floor = sp;
	for (unsigned i = t->top; i-- > 0;) {
		struct shadow_frame *f = &t->frames[i];
		if (f->entry_sp <= floor)
			continue;
		floor = f->entry_sp;
		uintptr_t v = ours_in_slot(f);
		if (v) {
			t->restored[i] = v;
			*(uintptr_t *)f->entry_sp = f->ret_addr;
		}
	}
}

/* In a handler whose stack pointer was sp when it called __cxa_begin_catch: every frame below
 * it is gone, so the restored ones there are dropped; restored ones at or above it are live and
 * get their return probes back. Frames no unwind restored are left as they are (another
 * stack's, for all we know). */
static void resume_frames(struct thread_state *t, uintptr_t sp)
{
	if (!t || !t->frames || !t->restored)
		return;
	unsigned keep = 0;
	for (unsigned i = 0; i < t->top; i++) {
		struct shadow_frame f = t->frames[i];
		uintptr_t v = t->restored[i];
		t->restored[i] = 0;
		if (v && f.entry_sp < sp) {
			__atomic_fetch_add(&attach_stats.ret_missed, 1, __ATOMIC_RELAXED);
			continue; /* unwound: the function never returns */
		}
		if (v && *(const uintptr_t *)f.entry_sp == f.ret_addr)
			*(uintptr_t *)f.entry_sp = v;
		t->frames[keep++] = f;
	}
	barrier();
	t->top = keep;
	barrier();
}

/* Runs fn on this thread's state from our wrappers, on the application's side: the thread's
 * sequence counter is odd meanwhile, so that a signal handler's probes leave the shadow stack
 * alone. (The hooks below run inside a dispatcher, where it is odd already.) */
static void outside_dispatcher(void (*fn)(struct thread_state *, uintptr_t), uintptr_t sp)
{
	struct thread_state *t = attach_tls;
	if (!t || !t->frames)
		return;
	t->seq++;
	barrier();
	fn(t, sp);
	barrier();
	t->seq++;
}

static void *real_raise, *real_rethrow, *real_begin_catch, *eh_globals;

EXPORT int _Unwind_RaiseException(struct _Unwind_Exception *e)
{
	raise_fn next = (raise_fn)next_symbol(&real_raise, "_Unwind_RaiseException");
	if (!next)
		return 9; /* _URC_FAILURE: no unwinder in this process */
	outside_dispatcher(restore_frames, (uintptr_t)__builtin_frame_address(0));
	return next(e);
}

EXPORT int _Unwind_Resume_or_Rethrow(struct _Unwind_Exception *e)
{
	raise_fn next = (raise_fn)next_symbol(&real_rethrow, "_Unwind_Resume_or_Rethrow");
	if (!next)
		return 9;
	outside_dispatcher(restore_frames, (uintptr_t)__builtin_frame_address(0));
	return next(e);
}

EXPORT void *__cxa_begin_catch(void *e)
{
	begin_catch_fn next = (begin_catch_fn)next_symbol(&real_begin_catch, "__cxa_begin_catch");
	void *r = next ? next(e) : NULL;
	struct thread_state *t = attach_tls;
	if (t && t->restored) {
		eh_globals_fn g = (eh_globals_fn)next_symbol(&eh_globals, "__cxa_get_globals");
		/* The handler's frame: its stack pointer when it called us. Frames it called that the
		 * unwind removed had their return-address slots below it. */
		if (g && g()->uncaught == 0)
			outside_dispatcher(resume_frames, (uintptr_t)__builtin_dwarf_cfa());
	}
	return r;
}

/* ---- Without interposition: entry probes on the real functions ----
 * An agent dlopen'ed (bpftime attach, or a tool's own agent) is outside the global scope, so the
 * process's code calls the unwinder directly. Once a return probe is attached, the same work is
 * done by entry probes of our own on the functions themselves, wherever they are loaded. */
static int uncaught_now(void)
{
	eh_globals_fn g = (eh_globals_fn)next_symbol(&eh_globals, "__cxa_get_globals");
	return g ? (int)g()->uncaught : -1;
}

static int on_unwind_start(void *data, struct pt_regs *regs)
{
	restore_frames(attach_tls, regs->rsp);
	return BPFTIME_PROBE_CONTINUE;
}

static int on_begin_catch(void *data, struct pt_regs *regs)
{
	/* At its entry the exception being caught still counts as uncaught. The handler's stack
	 * pointer at the call is just above the return address. */
	if (uncaught_now() == 1)
		resume_frames(attach_tls, regs->rsp + 8);
	return BPFTIME_PROBE_CONTINUE;
}

static struct {
	const char *name;
	bpftime_probe_handler h;
	int always; /* also where the wrappers interpose */
	struct bpftime_probe *probe;
} hooks[] = {
	{ "_Unwind_RaiseException", on_unwind_start, 0, NULL },
	{ "_Unwind_Resume_or_Rethrow", on_unwind_start, 0, NULL },
	{ "__cxa_begin_catch", on_begin_catch, 0, NULL },
	/* pthread_exit and cancellation: glibc calls it through a pointer of its own (dlsym on
	 * libgcc_s), which no wrapper sees. The unwind runs to the thread's end: every frame goes. */
	{ "_Unwind_ForcedUnwind", on_unwind_start, 1, NULL },
};
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether the process's calls reach our wrappers (the agent was preloaded). */
static int interposed(void)
{
	void *f = dlsym(RTLD_DEFAULT, "_Unwind_RaiseException");
	return f && ours(f);
}

static unsigned long long loads_seen;

static int count_loads(struct dl_phdr_info *info, size_t size, void *arg)
{
	*(unsigned long long *)arg = info->dlpi_adds;
	return 1;
}

void attach_unwind_hooks_install(void)
{
	int wrapped = interposed();
	pthread_mutex_lock(&hooks_lock);
	/* Look again only when objects were loaded since (the C++ runtime may come later). */
	unsigned long long adds = 0;
	dl_iterate_phdr(count_loads, &adds);
	int missing = 0;
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
		missing |= !hooks[i].probe && (hooks[i].always || !wrapped);
	if (!missing || adds == loads_seen) {
		pthread_mutex_unlock(&hooks_lock);
		return;
	}
	loads_seen = adds;
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (hooks[i].probe || (!hooks[i].always && wrapped))
			continue;
		void *f = find_real(hooks[i].name); /* not loaded yet: tried again at the next attach */
		if (f)
			bpftime_probe_attach(f, 0, hooks[i].h, NULL, &hooks[i].probe, NULL, 0);
	}
	pthread_mutex_unlock(&hooks_lock);
}

void attach_unwind_hooks_remove(void)
{
	pthread_mutex_lock(&hooks_lock);
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++) {
		if (hooks[i].probe && bpftime_probe_detach(hooks[i].probe) >= 0)
			hooks[i].probe = NULL;
	}
	loads_seen = 0;
	pthread_mutex_unlock(&hooks_lock);
}
