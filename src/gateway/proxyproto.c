/* proxyproto.c -- PROXY protocol v1 and v2 headers (see proxyproto.h). */
#include "proxyproto.h"

#include <string.h>

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[6] = "PROXY ";

static enum gw_pp_result fail(struct gw_pp_header *h, const char *why)
{
    h->why = why;
    return GW_PP_ERROR;
}

/* ------------------------------------------------------------------ v1 */

/* Cuts the next space-separated field of line[*pos..end) (single spaces). */
static bool v1_field(const char *line, size_t end, size_t *pos, const char **f, size_t *fn,
                     bool last)
{
    size_t s = *pos, i = s;
    while (i < end && line[i] != ' ') i++;
    if (i == s || (last ? i != end : i == end)) return false;
    *f = line + s;
    *fn = i - s;
    *pos = last ? i : i + 1;
    return true;
}

static bool v1_port(const char *f, size_t n, uint16_t *port)
{
    unsigned v = 0;
    if (n == 0 || n > 5 || (f[0] == '0' && n > 1)) return false;
    for (size_t i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9') return false;
        v = v * 10 + (unsigned)(f[i] - '0');
    }
    if (v > 65535) return false;
    *port = (uint16_t)v;
    return true;
}

/* An address of the family named by the line: IPv4 text for TCP4, IPv6 text
 * for TCP6 (an IPv4-mapped one is reduced to IPv4, cidr.h). */
static bool v1_addr(const char *f, size_t n, bool tcp6, struct gw_ip *ip)
{
    if ((memchr(f, ':', n) != NULL) != tcp6) return false;
    return gw_ip_parse(f, n, ip);
}

static enum gw_pp_result v1_parse(const unsigned char *p, size_t n, struct gw_pp_header *h)
{
    const char *line = (const char *)p;
    size_t end, pos = 6, fn;
    const char *f;
    bool tcp6;

    size_t lim = n < GW_PP_V1_MAX ? n : GW_PP_V1_MAX;
    for (end = 0; end < lim && p[end] != '\n'; end++)
        if (p[end] == '\r' && end + 1 < n && p[end + 1] != '\n')
            return fail(h, "v1: CR not followed by LF");
    if (end == lim)
        return n >= GW_PP_V1_MAX ? fail(h, "v1: line longer than 107 bytes") : GW_PP_MORE;
    if (end < 7 || line[end - 1] != '\r') return fail(h, "v1: line does not end with CRLF");
    end--; /* the CR */
    if (memchr(line, '\r', end) != NULL) return fail(h, "v1: CR inside the line");
    h->len = end + 2;
    if (end - pos >= 7 && memcmp(line + pos, "UNKNOWN", 7) == 0 &&
        (end == pos + 7 || line[pos + 7] == ' '))
        return GW_PP_DONE; /* anything after it is ignored */
    if (end - pos < 5 ||
        (memcmp(line + pos, "TCP4 ", 5) != 0 && memcmp(line + pos, "TCP6 ", 5) != 0))
        return fail(h, "v1: protocol is not TCP4, TCP6 or UNKNOWN");
    tcp6 = line[pos + 3] == '6';
    pos += 5;
    if (!v1_field(line, end, &pos, &f, &fn, false) || !v1_addr(f, fn, tcp6, &h->src))
        return fail(h, "v1: bad source address");
    if (!v1_field(line, end, &pos, &f, &fn, false) || !v1_addr(f, fn, tcp6, &h->dst))
        return fail(h, "v1: bad destination address");
    if (!v1_field(line, end, &pos, &f, &fn, false) || !v1_port(f, fn, &h->src_port))
        return fail(h, "v1: bad source port");
    if (!v1_field(line, end, &pos, &f, &fn, true) || !v1_port(f, fn, &h->dst_port))
        return fail(h, "v1: bad destination port");
    return GW_PP_DONE;
}

/* ------------------------------------------------------------------ v2 */

static enum gw_pp_result v2_parse(const unsigned char *p, size_t n, struct gw_pp_header *h)
{
    size_t len;
    unsigned char cmd, fam;

    if (n < GW_PP_V2_HEAD) {
        /* Refuse as early as the bytes allow. */
        if (n > 12 && (p[12] >> 4) != 2) return fail(h, "v2: version is not 2");
        if (n > 12 && (p[12] & 0x0f) > 1) return fail(h, "v2: command is not LOCAL or PROXY");
        return GW_PP_MORE;
    }
    cmd = p[12];
    fam = p[13];
    len = (size_t)p[14] << 8 | p[15];
    if ((cmd >> 4) != 2) return fail(h, "v2: version is not 2");
    if ((cmd & 0x0f) > 1) return fail(h, "v2: command is not LOCAL or PROXY");
    if (len > GW_PP_V2_MAX_LEN) return fail(h, "v2: header too long");
    if ((cmd & 0x0f) == 1) { /* PROXY: the family must be known, its block fit */
        if (fam == 0x11 && len < 12) return fail(h, "v2: address block too short for IPv4");
        if (fam == 0x21 && len < 36) return fail(h, "v2: address block too short for IPv6");
        if ((fam == 0x31 || fam == 0x32) && len < 216)
            return fail(h, "v2: address block too short for unix");
        if (fam != 0x00 && fam != 0x11 && fam != 0x21 && fam != 0x31 && fam != 0x32)
            return fail(h, "v2: unsupported address family or transport");
    }
    if (n < GW_PP_V2_HEAD + len) return GW_PP_MORE;
    h->len = GW_PP_V2_HEAD + len;
    if ((cmd & 0x0f) == 0) return GW_PP_DONE; /* LOCAL: the proxy's own connection */
    p += GW_PP_V2_HEAD;
    if (fam == 0x11) {
        h->src.len = h->dst.len = 4;
        memcpy(h->src.b, p, 4);
        memcpy(h->dst.b, p + 4, 4);
        h->src_port = (uint16_t)(p[8] << 8 | p[9]);
        h->dst_port = (uint16_t)(p[10] << 8 | p[11]);
    } else if (fam == 0x21) {
        gw_ip_from16(p, &h->src);
        gw_ip_from16(p + 16, &h->dst);
        h->src_port = (uint16_t)(p[32] << 8 | p[33]);
        h->dst_port = (uint16_t)(p[34] << 8 | p[35]);
    }
    return GW_PP_DONE;
}

enum gw_pp_result gw_pp_parse(const unsigned char *p, size_t n, struct gw_pp_header *h)
{
    size_t k;

    memset(h, 0, sizeof *h);
    if (n == 0) return GW_PP_MORE;
    if (p[0] == 'P') {
        k = n < sizeof v1_sig ? n : sizeof v1_sig;
        if (memcmp(p, v1_sig, k) != 0) return fail(h, "not a PROXY protocol header");
        h->version = 1;
        return n < sizeof v1_sig ? GW_PP_MORE : v1_parse(p, n, h);
    }
    k = n < sizeof v2_sig ? n : sizeof v2_sig;
    if (memcmp(p, v2_sig, k) != 0) return fail(h, "not a PROXY protocol header");
    h->version = 2;
    return n < sizeof v2_sig ? GW_PP_MORE : v2_parse(p, n, h);
}
