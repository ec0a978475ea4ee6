/* redisurl.c -- parse the Redis address forms of SPEC §7 (see redisurl.h).
 *
 *   redis://[[user]:password@]host[:port][/db]
 *   unix:///absolute/path[?db=N]
 *   redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/name[/db]
 *   redis-cluster://[[user]:password@]host[:port][,host[:port]...]
 *
 * As in redis-cli, a userinfo without ':' is a password alone
 * ("redis://secret@host"). The user and password are percent-decoded; the
 * host, port and db are not (they have no reason to be escaped). Nothing is
 * written to *out unless the whole URL is valid, and no error message ever
 * repeats the password. */
#include "redisurl.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errf.h"
#include "names.h"

#define REDIS_DEFAULT_PORT 6379
#define SENTINEL_DEFAULT_PORT 26379
#define REDIS_URL_MAX 4096 /* bytes; longer input is refused before parsing */

/* Percent-decodes s[0..n) into dst (cap bytes including the NUL). Returns 0,
 * -1 for a bad escape or a decoded NUL, -2 when the result does not fit. */
static int pct_decode(const char *s, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int hi = pc_hex_value((unsigned char)s[i + 1]),
                lo = pc_hex_value((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (unsigned char)(hi * 16 + lo);
            if (c == 0) return -1;
            i += 2;
        }
        if (o + 1 >= cap) return -2;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return 0;
}

/* Parses a decimal in s[0..n) within [min, max]; digits only, no sign. */
static bool parse_uint(const char *s, size_t n, long min, long max, long *out)
{
    long v = 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
        if (v > max) return false;
    }
    if (v < min) return false;
    *out = v;
    return true;
}

#define DB_MAX 2147483647L

/* A host name or IPv4 address: letters, digits, '.', '-', '_'. */
static bool hostname_is_valid(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Copies the inside of "[...]" to dst (cap bytes with the NUL): hex
 * digits, ':' and '.', at least one ':', and an optional zone written
 * "%25zone" as RFC 6874 has it, stored as "%zone" for getaddrinfo.
 * The resolver has the last word on the address itself. */
static bool ipv6_copy(const char *s, size_t n, char *dst, size_t cap)
{
    size_t i = 0;
    bool colon = false;
    for (; i < n && s[i] != '%'; i++) {
        if (s[i] == ':')
            colon = true;
        else if (pc_hex_value((unsigned char)s[i]) < 0 && s[i] != '.')
            return false;
    }
    if (!colon || i >= cap) return false;
    memcpy(dst, s, i);
    dst[i] = '\0';
    if (i == n) return true;
    if (n - i < 4 || memcmp(s + i, "%25", 3) != 0) return false;
    const char *zone = s + i + 3;
    size_t zlen = n - i - 3;
    if (!hostname_is_valid(zone, zlen) || i + 1 + zlen >= cap) return false;
    dst[i] = '%';
    memcpy(dst + i + 1, zone, zlen);
    dst[i + 1 + zlen] = '\0';
    return true;
}

/* One "host[:port]" or "[ipv6][:port]" in h[0..hlen) into host (cap bytes)
 * and *port (default_port when absent). Returns 0 or -1 with err. */
static int parse_hostport(const char *h, size_t hlen, char *host, size_t cap, int *port_out,
                          int default_port, char *err, size_t errlen)
{
    const char *port = NULL;
    size_t portlen = 0;

    if (hlen > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', hlen);
        if (close == NULL) return pc_errf(err, errlen, "missing ']' after IPv6 address");
        size_t n = (size_t)(close - h - 1);
        if (!ipv6_copy(h + 1, n, host, cap))
            return pc_errf(err, errlen, "bad IPv6 address \"%.*s\"", (int)n, h + 1);
        const char *after = close + 1;
        size_t left = hlen - (size_t)(after - h);
        if (left > 0) {
            if (after[0] != ':') return pc_errf(err, errlen, "unexpected text after ']'");
            port = after + 1;
            portlen = left - 1;
        }
    } else {
        const char *colon = memchr(h, ':', hlen);
        size_t n = colon ? (size_t)(colon - h) : hlen;
        if (n == 0) return pc_errf(err, errlen, "empty host");
        if (!hostname_is_valid(h, n))
            return pc_errf(err, errlen, "bad host \"%.*s\" (IPv6 needs [brackets])", (int)n, h);
        if (n >= cap) return pc_errf(err, errlen, "host too long (max %zu bytes)", cap - 1);
        memcpy(host, h, n);
        host[n] = '\0';
        if (colon != NULL) {
            port = colon + 1;
            portlen = hlen - n - 1;
        }
    }

    *port_out = default_port;
    if (port != NULL) {
        long p;
        if (!parse_uint(port, portlen, 1, 65535, &p))
            return pc_errf(err, errlen, "bad port \"%.*s\" (must be 1..65535)", (int)portlen, port);
        *port_out = (int)p;
    }
    return 0;
}

/* unix:///path[?db=N] -- rest points after "unix://". */
static int parse_unix(const char *rest, struct pc_redis_addr *a, char *err, size_t errlen)
{
    if (rest[0] != '/')
        return pc_errf(err, errlen, "unix socket URL must be unix:///absolute/path");
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 1) return pc_errf(err, errlen, "empty unix socket path");
    if (plen >= sizeof(a->path))
        return pc_errf(err, errlen, "unix socket path too long (%zu bytes, max %zu)", plen,
                       sizeof(a->path) - 1);
    if (memchr(rest, '#', plen) != NULL)
        return pc_errf(err, errlen, "unix socket path may not contain '#'");
    memcpy(a->path, rest, plen);
    a->path[plen] = '\0';

    if (q != NULL) {
        const char *v = q + 1;
        long db;
        if (strncmp(v, "db=", 3) != 0)
            return pc_errf(err, errlen, "unix socket URL: only ?db=N is supported");
        v += 3;
        if (!parse_uint(v, strlen(v), 0, DB_MAX, &db))
            return pc_errf(err, errlen, "bad db \"%s\" (must be a number 0..%ld)", v, DB_MAX);
        a->db = (int)db;
    }
    a->is_unix = true;
    return 0;
}

/* Splits and decodes "[[user]:password@]" at the start of the authority
 * auth[0..n); returns the number of bytes consumed, or -1. */
static long parse_userinfo(const char *auth, size_t n, struct pc_redis_addr *a, char *err,
                           size_t errlen)
{
    const char *at = NULL;
    for (size_t i = n; i > 0; i--) /* the last '@': a stray one in a password is tolerated */
        if (auth[i - 1] == '@') {
            at = auth + i - 1;
            break;
        }
    if (at == NULL) return 0;

    size_t ulen = (size_t)(at - auth);
    const char *colon = memchr(auth, ':', ulen);
    const char *pw = auth;
    size_t pwlen = ulen;
    if (colon != NULL) {
        int rc = pct_decode(auth, (size_t)(colon - auth), a->user, sizeof(a->user));
        if (rc == -1) return pc_errf(err, errlen, "bad %%-escape in user name");
        if (rc == -2)
            return pc_errf(err, errlen, "user name too long (max %zu bytes)", sizeof(a->user) - 1);
        pw = colon + 1;
        pwlen = (size_t)(at - pw);
    }
    int rc = pct_decode(pw, pwlen, a->password, sizeof(a->password));
    if (rc == -1) return pc_errf(err, errlen, "bad %%-escape in password");
    if (rc == -2)
        return pc_errf(err, errlen, "password too long (max %zu bytes)", sizeof(a->password) - 1);
    if (a->password[0] == '\0')
        return pc_errf(err, errlen, "empty password in URL (leave out the '@' part for none)");
    return (long)(ulen + 1);
}

/* redis://... -- rest points after "redis://". */
static int parse_tcp(const char *rest, struct pc_redis_addr *a, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *tail = rest + alen;

    if (*tail == '?' || *tail == '#')
        return pc_errf(err, errlen, "query and fragment are not supported in redis:// URLs");

    long used = parse_userinfo(rest, alen, a, err, errlen);
    if (used < 0) return -1;
    if (parse_hostport(rest + used, alen - (size_t)used, a->host, sizeof(a->host), &a->port,
                       REDIS_DEFAULT_PORT, err, errlen) != 0)
        return -1;

    if (*tail == '/' && tail[1] != '\0') {
        long db;
        if (!parse_uint(tail + 1, strlen(tail + 1), 0, DB_MAX, &db))
            return pc_errf(err, errlen, "bad db \"%s\" (must be a number 0..%ld)", tail + 1,
                           DB_MAX);
        a->db = (int)db;
    }
    return 0;
}

/* The "[userinfo@]host[:port][,host[:port]...]" authority of a
 * redis-sentinel:// or redis-cluster:// URL, rest[0..alen), into a->user,
 * a->password and a->nodes[] (at most max, each port default_port when
 * absent; what names the nodes in messages). host/port get the first node,
 * for messages only. */
static int parse_nodes(const char *rest, size_t alen, struct pc_redis_addr *a, size_t max,
                       int default_port, const char *what, char *err, size_t errlen)
{
    long used = parse_userinfo(rest, alen, a, err, errlen);
    if (used < 0) return -1;

    const char *h = rest + used, *end = rest + alen;
    for (;;) {
        const char *comma = memchr(h, ',', (size_t)(end - h));
        const char *stop = comma ? comma : end;
        if (a->nnodes == max) return pc_errf(err, errlen, "too many %s (max %zu)", what, max);
        struct pc_redis_node *n = &a->nodes[a->nnodes];
        if (stop == h) return pc_errf(err, errlen, "empty host in the list of %s", what);
        if (parse_hostport(h, (size_t)(stop - h), n->host, sizeof(n->host), &n->port, default_port,
                           err, errlen) != 0)
            return -1;
        a->nnodes++;
        if (comma == NULL) break;
        h = comma + 1;
    }
    memcpy(a->host, a->nodes[0].host, sizeof(a->host));
    a->port = a->nodes[0].port;
    return 0;
}

/* redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/name[/db]
 * -- rest points after "redis-sentinel://". The user and password are the
 * primary's; the sentinels are asked without them. host/port get the first
 * sentinel (for messages and the loopback check), never connected to as a
 * data node. */
static int parse_sentinel(const char *rest, struct pc_redis_addr *a, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *tail = rest + alen;

    if (*tail == '?' || *tail == '#')
        return pc_errf(err, errlen,
                       "query and fragment are not supported in redis-sentinel:// URLs");
    if (parse_nodes(rest, alen, a, PC_REDIS_SENTINELS_MAX, SENTINEL_DEFAULT_PORT, "sentinels", err,
                    errlen) != 0)
        return -1;

    if (*tail != '/' || tail[1] == '\0' || tail[1] == '/')
        return pc_errf(err, errlen, "redis-sentinel:// needs the master name: .../<master-name>");
    const char *name = tail + 1;
    size_t nlen = strcspn(name, "/");
    if (!hostname_is_valid(name, nlen))
        return pc_errf(err, errlen, "bad master name \"%.*s\" (letters, digits, '.', '-', '_')",
                       (int)nlen, name);
    if (nlen >= sizeof(a->master))
        return pc_errf(err, errlen, "master name too long (max %zu bytes)", sizeof(a->master) - 1);
    memcpy(a->master, name, nlen);
    a->master[nlen] = '\0';
    if (name[nlen] == '/' && name[nlen + 1] != '\0') {
        long db;
        const char *d = name + nlen + 1;
        if (!parse_uint(d, strlen(d), 0, DB_MAX, &db))
            return pc_errf(err, errlen, "bad db \"%s\" (must be a number 0..%ld)", d, DB_MAX);
        a->db = (int)db;
    }
    a->mode = PC_REDIS_SENTINEL;
    return 0;
}

/* redis-cluster://[userinfo@]seed[,seed...] -- rest points after the
 * scheme. A cluster has database 0 only: no path but an empty one. */
static int parse_cluster(const char *rest, struct pc_redis_addr *a, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *tail = rest + alen;

    if (*tail == '?' || *tail == '#')
        return pc_errf(err, errlen,
                       "query and fragment are not supported in redis-cluster:// URLs");
    if (*tail == '/' && tail[1] != '\0')
        return pc_errf(err, errlen, "redis-cluster:// takes no database (a cluster has db 0 only)");
    if (parse_nodes(rest, alen, a, PC_REDIS_SEEDS_MAX, REDIS_DEFAULT_PORT, "seed nodes", err,
                    errlen) != 0)
        return -1;
    a->mode = PC_REDIS_CLUSTER;
    return 0;
}

/* Returns 0 with *out filled, or -1 with a one-line reason in err (out is
 * then untouched). */
int pc_redis_url_parse(const char *url, struct pc_redis_addr *out, char *err, size_t errlen)
{
    struct pc_redis_addr a;

    if (err != NULL && errlen > 0) err[0] = '\0';
    if (url == NULL || url[0] == '\0') return pc_errf(err, errlen, "empty Redis URL");
    size_t len = strlen(url);
    if (len > REDIS_URL_MAX)
        return pc_errf(err, errlen, "Redis URL too long (max %d bytes)", REDIS_URL_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f)
            return pc_errf(err, errlen, "Redis URL contains a space, control or non-ASCII byte");
    }

    memset(&a, 0, sizeof(a));
    int rc;
    if (strncasecmp(url, "redis://", 8) == 0)
        rc = parse_tcp(url + 8, &a, err, errlen);
    else if (strncasecmp(url, "unix://", 7) == 0)
        rc = parse_unix(url + 7, &a, err, errlen);
    else if (strncasecmp(url, "redis-sentinel://", 17) == 0)
        rc = parse_sentinel(url + 17, &a, err, errlen);
    else if (strncasecmp(url, "redis-cluster://", 16) == 0)
        rc = parse_cluster(url + 16, &a, err, errlen);
    else if (strncasecmp(url, "rediss://", 9) == 0)
        rc = pc_errf(err, errlen, "rediss:// (TLS) is not supported");
    else
        rc = pc_errf(
            err, errlen,
            "bad scheme (expected redis://, unix://, redis-sentinel:// or redis-cluster://)");
    if (rc != 0) return -1;
    *out = a;
    return 0;
}
