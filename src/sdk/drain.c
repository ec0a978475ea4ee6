/* drain.c -- the service's bookkeeping that requests, calls and events
 * report to: how deep in user callbacks we are (a free asked for inside one
 * is deferred), and whether a stop can complete (nothing pending).
 *
 * Its own file so that request.c, call.c and event.c depend on these few
 * lines, not on service.c, which depends on them: no loop between them. */
#include <event2/event.h>

#include "internal.h"

void pt_svc_enter(portico_service *svc) { svc->depth++; }

void pt_svc_leave(portico_service *svc) { svc->depth--; }

bool pt_svc_is_drained(const portico_service *svc)
{
    return svc->reqs_pending == 0 && (svc->calls == NULL || pc_map_count(svc->calls) == 0);
}

/* Completes a stop from the loop (service.c's stop event) once the
 * deregister is confirmed and nothing is in flight. */
void pt_svc_check_drained(portico_service *svc)
{
    if (svc->state != PT_SVC_STOPPING || !svc->dereg_done) return;
    if (pt_svc_is_drained(svc)) event_active(svc->stop_ev, 0, 0);
}
