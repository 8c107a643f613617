/* process.c - the library's constructor and destructor, and the two calls
 * of the program besides the allocator that we stand in front of:
 * pthread_create (a thread's start and its creation stack) and dlclose (the
 * stacks recorded while an object was loaded are written before it goes).
 * Mechanical, like hooks.c: guard -> record -> real call; the sequencing is
 * lifecycle.c's, the recording record.c's and threads.c's, the writing
 * schedule.c's. The constructor also finds the next definitions of what this
 * directory exports besides the allocator (dlclose, and pipe2/read for
 * unwind_guard.c). Nothing here is linked into the unit tests. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "export.h"
#include "lifecycle.h"
#include "real.h"
#include "record.h"
#include "schedule.h"
#include "threads.h"
#include "unwind.h"
#include "unwind_guard.h"

/* dlclose: the stacks recorded while the object was loaded are written
 * first, with the mappings they belong to (schedule.c, snapshot.c). */
static int (*next_dlclose)(void *);

HS_EXPORT int dlclose(void *handle)
{
    if (!next_dlclose)
        next_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    if (!next_dlclose)
        return -1; /* impossible: libc has one */
    hs_tls_t *t = &hs_tls;
    if (atomic_load_explicit(&hs_state, memory_order_acquire) == HS_STATE_READY && !t->in_hook &&
        t->attached != HS_THREAD_UNTRACKED) {
        t->in_hook++;
        hs_schedule_before_unload();
        t->in_hook--;
    }
    int rc = next_dlclose(handle);
    /* Other code may now be mapped where the object's was: the stack
     * walker's rules for its return addresses must go. */
    hs_unwind_forget();
    return rc;
}

/* The new thread runs hs_threads_trampoline, which records its start (tid,
 * creator, creation stack, start routine) and then the program's routine.
 * The argument block comes from the real allocator (not recorded) and is
 * freed by the new thread. */
HS_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    hs_tls_t *t = &hs_tls;
    if (atomic_load_explicit(&hs_state, memory_order_acquire) != HS_STATE_READY || t->in_hook ||
        t->attached == HS_THREAD_UNTRACKED)
        return hs_real.pthread_create(th, attr, fn, arg);
    hs_thread_start_t *a = hs_real.malloc(sizeof(*a));
    if (!a)
        return hs_real.pthread_create(th, attr, fn, arg);
    if (t->attached == HS_THREAD_NEW)
        hs_threads_attach(t);
    int saved_errno = errno;
    t->in_hook = 1;
    a->fn = fn;
    a->arg = arg;
    a->parent_tid = t->tid;
    a->stack_id = hs_record_creation_stack(t);
    a->site = hs_threads_site(a->stack_id, (uintptr_t)fn);
    t->in_hook = 0;
    errno = saved_errno;
    int rc = hs_real.pthread_create(th, attr, hs_threads_trampoline, a);
    if (rc != 0)
        hs_real.free(a);
    return rc;
}

/* The order is lifecycle.h's: the hooks forward without recording until
 * hs_lifecycle_start says READY. */
__attribute__((constructor)) static void hs_init(void)
{
    if (!hs_lifecycle_begin())
        return;             /* a pass-through: nothing below is needed */
    hs_unwind_guard_init(); /* before the first unwind (hs_capture_init) */
    hs_lifecycle_prepare();
    /* Last of our dl calls: a successful dlsym clears the error that the
     * failed look-ups in hs_heapstats_init left for the program's dlerror(). */
    next_dlclose = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    hs_lifecycle_start();
}

__attribute__((destructor)) static void hs_fini(void) { hs_lifecycle_at_exit(); }
