/* bytes.h -- the echo example's /bytes/{n} route: a body of exactly n bytes,
 * whatever the request carried (the body benchmark's fixed-size answer). */
#ifndef ECHO_BYTES_H
#define ECHO_BYTES_H

#include <portico/portico.h>

/* The largest n /bytes/{n} answers (bytes); above it: 400. */
#define ECHO_BYTES_MAX (16 * 1024 * 1024)

/* Adds the route (any method) to svc. Returns as portico_service_route. */
int echo_bytes_route(portico_service *svc);

#endif
