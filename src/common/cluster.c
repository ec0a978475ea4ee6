/* cluster.c -- the pure part of the Redis Cluster support (see cluster.h):
 * key slots, shard channels, the slot map, redirections. */
#include "cluster.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errf.h"

/* CRC16/XMODEM (poly 0x1021, init 0), as Redis' crc16.c, bit by bit: keys
 * are short and this runs once per command. */
static uint16_t crc16(const char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned pc_cluster_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        if (close != NULL && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (PC_CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (PC_CLUSTER_SLOTS - 1);
}

bool pc_cluster_channel_sharded(const char *ch, size_t len)
{
    const char *c1 = memchr(ch, ':', len);
    if (c1 == NULL || c1 == ch) return false;
    size_t rest = len - (size_t)(c1 + 1 - ch);
    const char *kind = c1 + 1;
    if (rest > 4 && memcmp(kind, "svc:", 4) == 0) return true;
    if (rest > 6 && memcmp(kind, "reply:", 6) == 0) return true;
    return false;
}

int pc_cluster_map_find(const struct pc_cluster_map *m, const char *host, int port)
{
    for (size_t i = 0; i < m->nnodes; i++)
        if (m->node[i].port == port && strcmp(m->node[i].host, host) == 0) return (int)i;
    return -1;
}

int pc_cluster_map_parse(const redisReply *r, const char *asked_host, struct pc_cluster_map *m,
                         char *err, size_t errlen)
{
    m->nnodes = 0;
    memset(m->owner, PC_CLUSTER_NO_NODE, sizeof m->owner);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return pc_errf(err, errlen, "CLUSTER SLOTS: not an array");
    if (r->elements == 0) return pc_errf(err, errlen, "CLUSTER SLOTS: no slot is served");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER || e->element[2]->type != REDIS_REPLY_ARRAY)
            return pc_errf(err, errlen, "CLUSTER SLOTS: range %zu malformed", i);
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        if (lo < 0 || hi < lo || hi >= PC_CLUSTER_SLOTS)
            return pc_errf(err, errlen, "CLUSTER SLOTS: bad range %lld-%lld", lo, hi);
        const redisReply *n = e->element[2];
        if (n->elements < 2 || n->element[0]->type != REDIS_REPLY_STRING ||
            n->element[1]->type != REDIS_REPLY_INTEGER)
            return pc_errf(err, errlen, "CLUSTER SLOTS: range %zu: bad primary", i);
        const char *host = n->element[0]->str;
        if (host[0] == '\0' || strcmp(host, "?") == 0) host = asked_host;
        long long port = n->element[1]->integer;
        if (port < 1 || port > 65535 || strlen(host) >= sizeof m->node[0].host)
            return pc_errf(err, errlen, "CLUSTER SLOTS: range %zu: bad address", i);
        int idx = pc_cluster_map_find(m, host, (int)port);
        if (idx < 0) {
            if (m->nnodes == PC_CLUSTER_MAX_NODES)
                return pc_errf(err, errlen, "CLUSTER SLOTS: more than %d primaries",
                               PC_CLUSTER_MAX_NODES);
            idx = (int)m->nnodes++;
            strcpy(m->node[idx].host, host);
            m->node[idx].port = (int)port;
        }
        memset(m->owner + lo, idx, (size_t)(hi - lo + 1));
    }
    return 0;
}

int pc_cluster_redirect_parse(const char *s, size_t len, bool *ask, unsigned *slot, char *host,
                              size_t cap, int *port)
{
    char buf[320];
    char *p, *end, *colon;
    unsigned long v;

    if (len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strncmp(buf, "MOVED ", 6) == 0) {
        *ask = false;
        p = buf + 6;
    } else if (strncmp(buf, "ASK ", 4) == 0) {
        *ask = true;
        p = buf + 4;
    } else {
        return -1;
    }
    if (*p < '0' || *p > '9') return -1;
    v = strtoul(p, &end, 10);
    if (*end != ' ' || v >= PC_CLUSTER_SLOTS) return -1;
    p = end + 1;
    colon = strrchr(p, ':'); /* the last ':' ends an IPv6 address */
    if (colon == NULL || colon == p || colon[1] < '0' || colon[1] > '9') return -1;
    *colon = '\0';
    unsigned long pt = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || pt < 1 || pt > 65535) return -1;
    if (p[0] == '[' && colon[-1] == ']') {
        p++;
        colon[-1] = '\0';
    }
    if (p[0] == '\0' || strlen(p) >= cap || strchr(p, ' ') != NULL) return -1;
    strcpy(host, p);
    *slot = (unsigned)v;
    *port = (int)pt;
    return 0;
}
