/* log.c -- the log callback, error strings and the version. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

/* Formats one line and hands it to the service's callback; nothing is
 * formatted when the level is filtered out or no callback is set. */
void pt_log(portico_service *svc, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (svc == NULL || svc->log_fn == NULL || level < svc->log_min) return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    svc->log_fn(level, line, svc->log_ud);
}

PORTICO_API void portico_service_set_log(portico_service *svc, int min_level, portico_log_fn *fn,
                                         void *ud)
{
    if (svc == NULL) return;
    svc->log_fn = fn;
    svc->log_ud = ud;
    svc->log_min = min_level;
}

PORTICO_API const char *portico_version(void) { return PORTICO_VERSION_STRING; }

PORTICO_API const char *portico_strerror(int err)
{
    switch (err) {
    case PORTICO_OK:
        return "ok";
    case PORTICO_ERR_INVALID:
        return "invalid argument";
    case PORTICO_ERR_NOMEM:
        return "out of memory";
    case PORTICO_ERR_STATE:
        return "not allowed in this state";
    case PORTICO_ERR_BUS:
        return "bus_unavailable";
    case PORTICO_ERR_TIMEOUT:
        return "timeout";
    case PORTICO_ERR_NO_INSTANCE:
        return "no_instance";
    case PORTICO_ERR_BAD_REPLY:
        return "bad_reply";
    case PORTICO_ERR_NO_ROUTE:
        return "no_route";
    case PORTICO_ERR_DEADLINE:
        return "deadline passed";
    case PORTICO_ERR_REPLIED:
        return "already replied";
    case PORTICO_ERR_CANCELLED:
        return "cancelled";
    default:
        return "unknown";
    }
}
