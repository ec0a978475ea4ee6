/* clientaddr.c -- the client's address (see clientaddr.h). */
#include "clientaddr.h"

#include <string.h>

#include "headers.h"

void gw_clientaddr_init(struct gw_clientaddr *ca, const struct sockaddr *sa, bool proxied)
{
    gw_ip_of_sockaddr(sa, &ca->ip);
    gw_ip_format(&ca->ip, ca->text);
    ca->proxied = proxied;
}

enum gw_pp_result gw_clientaddr_proxy_bytes(struct gw_clientaddr *ca, const unsigned char *p,
                                            size_t n, size_t *used, const char **why)
{
    struct gw_pp_header h;
    enum gw_pp_result rc;

    if (n > GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN) n = GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN;
    rc = gw_pp_parse(p, n, &h);
    if (rc == GW_PP_ERROR) *why = h.why;
    if (rc != GW_PP_DONE) return rc;
    *used = h.len;
    if (h.src.len != 0) {
        ca->ip = h.src;
        gw_ip_format(&ca->ip, ca->text);
    }
    ca->proxied = true; /* the header is the whole truth: X-Forwarded-For is not read */
    return GW_PP_DONE;
}

enum gw_pp_result gw_clientaddr_proxy(struct gw_clientaddr *ca, struct evbuffer *in,
                                      const char **why)
{
    size_t n = evbuffer_get_length(in), used = 0;
    enum gw_pp_result rc;

    if (n > GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN) n = GW_PP_V2_HEAD + GW_PP_V2_MAX_LEN;
    rc = gw_clientaddr_proxy_bytes(ca, evbuffer_pullup(in, (ev_ssize_t)n), n, &used, why);
    if (rc == GW_PP_DONE) evbuffer_drain(in, used);
    return rc;
}

/* One X-Forwarded-For entry as an address: "a.b.c.d", an IPv6 address,
 * "[v6]", and either with a port ("a.b.c.d:p", "[v6]:p", as some proxies
 * write them). Anything else ("unknown", an obfuscated node) is malformed. */
static bool xff_ip(const char *e, size_t n, struct gw_ip *ip)
{
    const char *colon = memchr(e, ':', n);

    if (n > 0 && e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (close == NULL || close == e + 1) return false;
        if (close + 1 != e + n) { /* a port after it */
            const char *q = close + 2;
            if (close[1] != ':' || q == e + n || e + n - q > 5) return false;
            for (; q < e + n; q++)
                if (*q < '0' || *q > '9') return false;
        }
        return gw_ip_parse(e + 1, (size_t)(close - e - 1), ip);
    }
    if (colon != NULL && memchr(colon + 1, ':', (size_t)(e + n - colon - 1)) == NULL) {
        /* one colon: IPv4 with a port */
        const char *q = colon + 1;
        if (q == e + n || e + n - q > 5) return false;
        for (; q < e + n; q++)
            if (*q < '0' || *q > '9') return false;
        return gw_ip_parse(e, (size_t)(colon - e), ip) && ip->len == 4;
    }
    return gw_ip_parse(e, n, ip);
}

void gw_clientaddr_resolve(const struct gw_clientaddr *ca, const struct gw_cidr_set *trusted,
                           const char *head, const struct gw_hdr *hdrs, uint32_t nhdrs,
                           char addr[GW_ADDR_MAX])
{
    struct gw_ip ip, first = {0}, untrusted = {0};
    size_t index = 0;
    bool have_untrusted = false, malformed_after = false;

    memcpy(addr, ca->text, GW_ADDR_MAX);
    /* Asked per request, of the table in force: a reload takes effect on
     * open connections too (one scan of at most GW_CIDR_MAX blocks). */
    if (ca->proxied || !gw_cidr_set_has(trusted, &ca->ip)) return;

    /* Left to right, as the entries arrived: the answer walking from the
     * right is the last untrusted entry, unless a malformed one lies to its
     * right (then the peer); all trusted: the first. */
    for (uint32_t i = 0; i < nhdrs; i++) {
        const char *v = head + hdrs[i].value_off, *e;
        size_t vn = hdrs[i].value_len, pos = 0, en;
        if (hdrs[i].name_len != 15 || memcmp(head + hdrs[i].name_off, "x-forwarded-for", 15) != 0)
            continue;
        while (gw_list_next(v, vn, &pos, &e, &en)) {
            if (!xff_ip(e, en, &ip)) {
                malformed_after = true;
            } else {
                if (index == 0) first = ip;
                if (!gw_cidr_set_has(trusted, &ip)) {
                    untrusted = ip;
                    have_untrusted = true;
                    malformed_after = false;
                }
            }
            index++;
        }
    }
    if (malformed_after || index == 0) return; /* the peer */
    gw_ip_format(have_untrusted ? &untrusted : &first, addr);
}
