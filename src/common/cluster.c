/* cluster.c -- the pure part of the Redis Cluster support (see cluster.h):
 * key slots, shard channels, the slot map, redirections. */
#include "cluster.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errf.h"

/* CRC16/XMODEM (poly 0x1021, init 0), as Redis' crc16.c: a byte at a time
 * from a table (it runs once per PUBLISH of a shard channel). */
static const uint16_t crc16_tab[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

static uint16_t crc16(const char *p, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = (uint16_t)((crc << 8) ^ crc16_tab[((crc >> 8) ^ (unsigned char)p[i]) & 0xff]);
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
