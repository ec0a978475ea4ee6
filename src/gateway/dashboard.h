/* dashboard.h -- the admin listener's dashboard page (GET /).
 *
 * The page is dashboard.html, turned into a byte array at build time by
 * dashboard_embed.py (meson custom_target): one self-contained file, inline
 * CSS and JavaScript, no external asset. It reads /routes and /stats every
 * two seconds (docs/operations.md, Dashboard). */
#ifndef GW_DASHBOARD_H
#define GW_DASHBOARD_H

#include <stddef.h>

struct gw_req;

/* Generated (dashboard_page.c): the page, its ETag (quoted) and the
 * Content-Security-Policy that allows its inline blocks by hash. */
extern const unsigned char gw_dashboard_page[];
extern const size_t gw_dashboard_page_len;
extern const char gw_dashboard_etag[];
extern const char gw_dashboard_csp[];

/* Answers r with the page (200), or 304 when If-None-Match names its ETag. */
void gw_dashboard_serve(struct gw_req *r);

#endif
