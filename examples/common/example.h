/* example.h -- the few lines every example service shares: command line
 * (--redis URL, else $PORTICO_REDIS, else redis://127.0.0.1:6379; --prefix P,
 * else $PORTICO_PREFIX; the claim-check threshold from $PORTICO_CLAIM_CHECK_BYTES,
 * else the SDK's default), a log callback printing to stderr, one "ready" line
 * once registered, and a clean stop (deregister) on SIGTERM / SIGINT. */
#ifndef EXAMPLE_H
#define EXAMPLE_H

#include <event2/event.h>
#include <portico/portico.h>

struct example {
    struct event_base *base;
    portico_service *svc;
    struct event *sigterm, *sigint;
    int ready_count;
};

/* Creates the event base and the service from argv. Returns 0, or prints a
 * reason and returns -1. */
int example_init(struct example *ex, int argc, char **argv, const char *service);
/* Starts the service, runs the loop until a signal has stopped the service,
 * frees everything. Returns the process exit code. */
int example_run(struct example *ex);

#endif
