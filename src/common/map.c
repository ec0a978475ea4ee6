/* map.c -- hash map from byte-string keys to pointers (see map.h).
 *
 * Layout: a power-of-two array of slots {hash, entry}. An entry is one
 * allocation holding the value and the key bytes (NUL-terminated for
 * convenience), so key pointers survive a grow. Collisions are resolved by
 * linear probing; a deleted slot becomes a tombstone, so probe chains stay
 * intact and an iteration may delete the entry it stands on. The table is
 * rebuilt only by a put, when live entries plus tombstones pass 70%.
 *
 * Keys may come from the network, so the hash is SipHash-1-3 (as in Redis)
 * with a 128-bit key drawn from getrandom(2) once per process. */
#include "map.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PC_MAP_MIN_CAP 16 /* slots; a power of two */
#define PC_MAP_LOAD_NUM 7 /* grow when (live + tombstones) / cap > 7/10 */
#define PC_MAP_LOAD_DEN 10

struct pc_map_ent {
    void *val;
    size_t klen;
    char key[]; /* klen bytes + NUL */
};

struct pc_map_slot {
    uint64_t hash;
    struct pc_map_ent *ent; /* NULL: empty; &tombstone: deleted */
};

struct pc_map {
    struct pc_map_slot *slots;
    size_t cap;   /* power of two */
    size_t count; /* live entries */
    size_t used;  /* live entries + tombstones */
};

static struct pc_map_ent tombstone;
#define TOMB (&tombstone)

/* ---------------------------------------------------------------- hashing */

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

/* Draws the process-wide hash key. If the kernel gives nothing (very old
 * kernel, seccomp), fall back to weaker entropy rather than failing. */
static void sip_seed(void)
{
    uint64_t k[2];
    size_t got = 0;
    while (got < sizeof k) {
        ssize_t r = getrandom((char *)k + got, sizeof k - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
        k[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&got;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

/* Little-endian 64-bit load from an unaligned pointer. */
static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* SipHash-1-3 of key[0..n) under the process key. */
static uint64_t map_hash(const void *key, size_t n)
{
    const unsigned char *p = key;
    uint64_t v0 = 0x736f6d6570736575ULL ^ sip_k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ sip_k0;
    uint64_t v3 = 0x7465646279746573ULL ^ sip_k1;
    uint64_t b = (uint64_t)n << 56;
    size_t whole = n & ~(size_t)7;

    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load64(p + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t i = 0; i < (n & 7); i++) b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ----------------------------------------------------------------- table */

/* Creates an empty map. */
pc_map *pc_map_new(void)
{
    pthread_once(&sip_once, sip_seed);
    pc_map *m = calloc(1, sizeof *m);
    if (m == NULL) return NULL;
    m->slots = calloc(PC_MAP_MIN_CAP, sizeof *m->slots);
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    m->cap = PC_MAP_MIN_CAP;
    return m;
}

/* Frees the map and its key copies; values are the caller's. */
void pc_map_free(pc_map *m)
{
    if (m == NULL) return;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].ent != NULL && m->slots[i].ent != TOMB) free(m->slots[i].ent);
    }
    free(m->slots);
    free(m);
}

/* Number of live entries. */
size_t pc_map_count(const pc_map *m) { return m->count; }

/* Returns the slot index holding key, or SIZE_MAX when absent. */
static size_t map_find(const pc_map *m, uint64_t h, const void *key, size_t klen)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const struct pc_map_slot *s = &m->slots[i];
        if (s->ent == NULL) return SIZE_MAX;
        if (s->ent != TOMB && s->hash == h && s->ent->klen == klen &&
            (klen == 0 || memcmp(s->ent->key, key, klen) == 0))
            return i;
    }
}

/* Returns the value stored under key, or NULL. */
void *pc_map_get(const pc_map *m, const void *key, size_t klen)
{
    size_t i = map_find(m, map_hash(key, klen), key, klen);
    return i == SIZE_MAX ? NULL : m->slots[i].ent->val;
}

/* Rebuilds the table with ncap slots, dropping tombstones. Entries move by
 * pointer, so nothing but the slot array is allocated. Returns 0 or -1. */
static int map_rehash(pc_map *m, size_t ncap)
{
    struct pc_map_slot *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL) return -1;
    size_t mask = ncap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        struct pc_map_slot *s = &m->slots[i];
        if (s->ent == NULL || s->ent == TOMB) continue;
        size_t j = (size_t)s->hash & mask;
        while (ns[j].ent != NULL) j = (j + 1) & mask;
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->count;
    return 0;
}

/* Makes room for one more entry: doubles when live entries alone are past
 * half the limit, otherwise rebuilds at the same size to clear tombstones. */
static int map_make_room(pc_map *m)
{
    if ((m->used + 1) * PC_MAP_LOAD_DEN <= m->cap * PC_MAP_LOAD_NUM) return 0;
    size_t ncap = m->cap;
    if ((m->count + 1) * PC_MAP_LOAD_DEN * 2 > m->cap * PC_MAP_LOAD_NUM) {
        if (ncap > SIZE_MAX / 2 / sizeof(struct pc_map_slot)) return -1;
        ncap *= 2;
    }
    return map_rehash(m, ncap);
}

/* Inserts key -> val or replaces the value of an existing key. */
int pc_map_put(pc_map *m, const void *key, size_t klen, void *val)
{
    uint64_t h = map_hash(key, klen);
    size_t i = map_find(m, h, key, klen);
    if (i != SIZE_MAX) {
        m->slots[i].ent->val = val;
        return 0;
    }

    if (klen > SIZE_MAX - sizeof(struct pc_map_ent) - 1) return -1;
    struct pc_map_ent *e = malloc(sizeof *e + klen + 1);
    if (e == NULL) return -1;
    if (map_make_room(m) != 0) {
        free(e);
        return -1;
    }
    e->val = val;
    e->klen = klen;
    if (klen > 0) memcpy(e->key, key, klen);
    e->key[klen] = '\0';

    /* Reuse the first tombstone on the probe chain, if any. */
    size_t mask = m->cap - 1;
    for (i = (size_t)h & mask; m->slots[i].ent != NULL && m->slots[i].ent != TOMB;
         i = (i + 1) & mask)
        ;
    if (m->slots[i].ent == NULL) m->used++;
    m->slots[i].hash = h;
    m->slots[i].ent = e;
    m->count++;
    return 0;
}

/* Removes key and returns its value (NULL when absent). Leaves a tombstone;
 * never moves other entries, so iterations stay valid. */
void *pc_map_del(pc_map *m, const void *key, size_t klen)
{
    size_t i = map_find(m, map_hash(key, klen), key, klen);
    if (i == SIZE_MAX) return NULL;
    struct pc_map_ent *e = m->slots[i].ent;
    void *val = e->val;
    free(e);
    m->slots[i].ent = TOMB;
    m->count--;
    return val;
}

/* Yields the next live entry at or after *pos. */
bool pc_map_next(const pc_map *m, size_t *pos, const char **key, size_t *klen, void **val)
{
    for (size_t i = *pos; i < m->cap; i++) {
        const struct pc_map_ent *e = m->slots[i].ent;
        if (e == NULL || e == TOMB) continue;
        *pos = i + 1;
        if (key) *key = e->key;
        if (klen) *klen = e->klen;
        if (val) *val = e->val;
        return true;
    }
    *pos = m->cap;
    return false;
}
