/* TEMPORARY (not to be committed): weak placeholders until the handler modules land. */
#include "live.h"
#define STUB(n) __attribute__((weak)) void n(const hs_live_req_t *req, hs_live_resp_t *resp) { (void)req; hs_live_error(resp, 501, "not yet"); }
STUB(hs_live_heap)
STUB(hs_live_allocs)
STUB(hs_live_threadcreate)
STUB(hs_live_symbol)
STUB(hs_live_cpu_profile)
STUB(hs_live_goroutine)
STUB(hs_live_metrics)
STUB(hs_live_health)
STUB(hs_live_leaks)
__attribute__((weak)) void hs_live_cpu_abort(void) {}
