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

/* A stop's progress: once the last open stream is over, the instance
 * channel kept for their cancels goes (service.c, portico_service_stop);
 * the stop completes from the loop (service.c's stop event) once the
 * deregister is confirmed and nothing is in flight. */
void pt_svc_check_drained(portico_service *svc)
{
    if (svc->state != PT_SVC_STOPPING) return;
    if (svc->ch_svc_kept && svc->streams_open == 0) {
        svc->ch_svc_kept = false;
        pt_bus_unsubscribe(svc->bus, svc->ch_svc);
    }
    if (svc->dereg_done && pt_svc_is_drained(svc)) event_active(svc->stop_ev, 0, 0);
}
