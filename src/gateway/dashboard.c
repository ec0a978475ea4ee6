/* dashboard.c -- serves the dashboard page on the admin listener.
 *
 * The bytes are compiled in (dashboard_page.c, generated from dashboard.html);
 * this file adds the headers: a CSP that allows only the page's own inline
 * blocks and requests to its own origin, no framing, no sniffing, and an
 * ETag so that a reload of the page costs a 304. */
#include "dashboard.h"

#include <string.h>

#include "req.h"

/* True when the If-None-Match value v (n bytes) names etag or is "*". */
static bool etag_matches(const char *v, size_t n, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;

    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',') i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        const char *t = v + start;
        size_t tlen = end - start;
        if (tlen == 1 && t[0] == '*') return true;
        if (tlen >= 2 && t[0] == 'W' && t[1] == '/') { /* weak comparison (RFC 9110 13.1.2) */
            t += 2;
            tlen -= 2;
        }
        if (tlen == elen && memcmp(t, etag, elen) == 0) return true;
    }
    return false;
}

void gw_dashboard_serve(struct gw_req *r)
{
    static const char nosniff[] = "nosniff", deny[] = "DENY", noref[] = "no-referrer";
    static const char cache[] = "no-cache";
    struct pc_kv h[] = {
        {"content-security-policy", 23, gw_dashboard_csp, strlen(gw_dashboard_csp)},
        {"x-content-type-options", 22, nosniff, sizeof nosniff - 1},
        {"x-frame-options", 15, deny, sizeof deny - 1},
        {"referrer-policy", 15, noref, sizeof noref - 1},
        {"cache-control", 13, cache, sizeof cache - 1},
        {"etag", 4, gw_dashboard_etag, strlen(gw_dashboard_etag)},
    };
    size_t n;
    const char *inm = gw_req_header(r, "if-none-match", &n);

    if (inm != NULL && etag_matches(inm, n, gw_dashboard_etag)) {
        gw_req_respond(r, 304, NULL, h, sizeof h / sizeof h[0], NULL, 0);
        return;
    }
    gw_req_respond(r, 200, "text/html; charset=utf-8", h, sizeof h / sizeof h[0], gw_dashboard_page,
                   gw_dashboard_page_len);
}
