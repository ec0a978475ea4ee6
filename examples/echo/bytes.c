/* bytes.c -- see bytes.h. GET /bytes/4096 answers 4096 bytes of text; a POST
 * with a body answers the same, so one route gives the benchmark its three
 * shapes: a large answer (GET /bytes/N), a large request with a small answer
 * (POST N bytes to /bytes/128) and both large (POST N bytes to /bytes/N).
 * The bytes repeat "abcdefghijklmnopqrstuvwxyz01234\n" from the first one,
 * the text scripts/bench/wrk.lua sends and the nginx origin serves. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "bytes.h"

#define PATTERN "abcdefghijklmnopqrstuvwxyz01234\n" /* 32 bytes */
#define BLOCK 4096                                  /* a multiple of 32 */

/* n from the path segment: decimal digits only, at most ECHO_BYTES_MAX. */
static bool parse_size(const char *s, size_t *n)
{
    size_t v = 0;

    if (s == NULL || *s == '\0' || strlen(s) > 9) return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    if (v > ECHO_BYTES_MAX) return false;
    *n = v;
    return true;
}

static void on_bytes(portico_request *req, void *ud)
{
    static const char *const text[] = {"content-type", "text/plain", NULL};
    static char block[BLOCK];
    portico_writer *w;
    size_t n;

    (void)ud;
    if (!parse_size(portico_request_param(req, "n"), &n)) {
        portico_reply_error(req, 400, "bad_size",
                            "/bytes/{n}: n must be 0 to 16777216, in decimal digits");
        return;
    }
    if (block[0] == '\0')
        for (size_t i = 0; i < BLOCK; i += 32) memcpy(block + i, PATTERN, 32);
    w = portico_reply_begin(req);
    for (; n > BLOCK; n -= BLOCK) portico_write(w, block, BLOCK);
    portico_write(w, block, n);
    portico_reply_end(w, 200, text);
}

int echo_bytes_route(portico_service *svc)
{
    return portico_service_route(svc, "*", "/bytes/{n}", on_bytes, NULL);
}
