/* cidr.c -- addresses and CIDR sets (see cidr.h). */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void gw_ip_from16(const unsigned char *b16, struct gw_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (memcmp(b16, v4_mapped, 12) == 0) {
        ip->len = 4;
        memcpy(ip->b, b16 + 12, 4);
    } else {
        ip->len = 16;
        memcpy(ip->b, b16, 16);
    }
}

bool gw_ip_parse(const char *s, size_t n, struct gw_ip *ip)
{
    char tmp[GW_IP_TEXT_MAX];
    unsigned char b[16];

    if (n == 0 || n >= sizeof tmp || memchr(s, '\0', n) != NULL) return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (memchr(tmp, ':', n) == NULL) {
        if (inet_pton(AF_INET, tmp, b) != 1) return false;
        memset(ip, 0, sizeof *ip);
        ip->len = 4;
        memcpy(ip->b, b, 4);
        return true;
    }
    if (inet_pton(AF_INET6, tmp, b) != 1) return false;
    gw_ip_from16(b, ip);
    return true;
}

void gw_ip_of_sockaddr(const struct sockaddr *sa, struct gw_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (sa->sa_family == AF_INET) {
        ip->len = 4;
        memcpy(ip->b, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        gw_ip_from16(((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr, ip);
    }
}

void gw_ip_format(const struct gw_ip *ip, char *out)
{
    if (ip->len == 4)
        inet_ntop(AF_INET, ip->b, out, GW_IP_TEXT_MAX);
    else if (ip->len == 16)
        inet_ntop(AF_INET6, ip->b, out, GW_IP_TEXT_MAX);
    else
        snprintf(out, GW_IP_TEXT_MAX, "unix");
}

/* Clears the bits of ip past the first `bits`. */
static void mask(struct gw_ip *ip, unsigned bits)
{
    for (unsigned i = 0; i < ip->len; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        ip->b[i] &= (unsigned char)(0xff00u >> keep);
    }
}

/* One block s[0..n): "addr" or "addr/bits". */
static bool cidr_parse(const char *s, size_t n, struct gw_cidr *c, char *why, size_t whylen)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    unsigned bits = 0, max;

    if (!gw_ip_parse(s, alen, &c->net)) {
        snprintf(why, whylen, "\"%.*s\" is not an IPv4 or IPv6 address",
                 (int)(alen > 60 ? 60 : alen), s);
        return false;
    }
    max = c->net.len == 4 ? 32 : 128;
    if (slash == NULL) {
        bits = max;
    } else {
        const char *d = slash + 1, *end = s + n;
        if (d == end || end - d > 3 || (*d == '0' && end - d > 1)) goto bad_bits;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9') goto bad_bits;
            bits = bits * 10 + (unsigned)(*d - '0');
        }
        /* ::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N-96); shorter
         * prefixes of the mapped range are not blocks of addresses. */
        if (c->net.len == 4 && memchr(s, ':', alen) != NULL) {
            if (bits < 96 || bits > 128) goto bad_bits;
            bits -= 96;
        }
        if (bits > max) goto bad_bits;
    }
    c->bits = (unsigned char)bits;
    mask(&c->net, bits);
    return true;
bad_bits:
    snprintf(why, whylen, "\"%.*s\" has a bad prefix length", (int)(n > 60 ? 60 : n), s);
    return false;
}

bool gw_cidr_set_parse(struct gw_cidr_set *s, const char *list, char *why, size_t whylen)
{
    const char *p = list;

    memset(s, 0, sizeof *s);
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0') return true;
    for (;;) {
        const char *start, *end;
        while (*p == ' ' || *p == '\t') p++;
        start = p;
        while (*p != '\0' && *p != ',') p++;
        end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if (end == start) {
            snprintf(why, whylen, "empty entry in the list");
            return false;
        }
        if (s->n == GW_CIDR_MAX) {
            snprintf(why, whylen, "more than %d blocks", GW_CIDR_MAX);
            return false;
        }
        if (!cidr_parse(start, (size_t)(end - start), &s->v[s->n], why, whylen)) return false;
        s->n++;
        if (*p == '\0') return true;
        p++; /* the comma */
    }
}

bool gw_cidr_set_has(const struct gw_cidr_set *s, const struct gw_ip *ip)
{
    for (unsigned i = 0; i < s->n; i++) {
        const struct gw_cidr *c = &s->v[i];
        unsigned full = c->bits / 8, rest = c->bits % 8;
        if (c->net.len != ip->len || ip->len == 0) continue;
        if (memcmp(c->net.b, ip->b, full) != 0) continue;
        if (rest != 0 && ((ip->b[full] ^ c->net.b[full]) & (unsigned char)(0xff00u >> rest)) != 0)
            continue;
        return true;
    }
    return false;
}
