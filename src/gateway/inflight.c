/* inflight.c -- the requests in flight, by id (see inflight.h). */
#include "inflight.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "xalloc.h"

LIST_HEAD(inflight_bucket, gw_req);
static struct inflight_bucket *inflight;
static size_t inflight_bits, inflight_count;
#define GW_INFLIGHT_MIN_BITS 6 /* 64 buckets at first */


/* Requests in flight by id: buckets of lists linked through the requests
 * themselves, so putting one in and taking it out allocate nothing and hash
 * nothing but eight bytes. The ids are UUIDv4 we drew from getrandom, whose
 * first eight characters are random hex digits: a multiply of them spreads
 * them evenly (no keyed hash needed, as only our own ids are ever put in; an
 * id from the network is only looked up). At most one request per bucket on
 * average: the table doubles when the count reaches the bucket count. */

static size_t slot(const char *id, size_t bits)
{
    uint64_t v;
    memcpy(&v, id, 8);
    return (size_t)((v * 0x9e3779b97f4a7c15u) >> (64 - bits));
}

static void table_alloc(size_t bits)
{
    struct inflight_bucket *old = inflight;
    size_t old_n = inflight ? (size_t)1 << inflight_bits : 0;
    struct gw_req *r;

    inflight = pc_xcalloc((size_t)1 << bits, sizeof *inflight); /* all empty lists */
    inflight_bits = bits;
    for (size_t i = 0; i < old_n; i++) {
        while ((r = LIST_FIRST(&old[i])) != NULL) {
            LIST_REMOVE(r, inflight_link);
            LIST_INSERT_HEAD(&inflight[slot(r->id, bits)], r, inflight_link);
        }
    }
    free(old);
}

void gw_inflight_add(struct gw_req *r)
{
    if (inflight_count >= (size_t)1 << inflight_bits) table_alloc(inflight_bits + 1);
    LIST_INSERT_HEAD(&inflight[slot(r->id, inflight_bits)], r, inflight_link);
    inflight_count++;
    r->in_flight = true;
}

void gw_inflight_del(struct gw_req *r)
{
    LIST_REMOVE(r, inflight_link);
    inflight_count--;
    r->in_flight = false;
}

struct gw_req *gw_inflight_find(const char *id, size_t len)
{
    struct gw_req *r;

    if (len != PC_UUID_LEN) return NULL;
    LIST_FOREACH(r, &inflight[slot(id, inflight_bits)], inflight_link)
    if (memcmp(r->id, id, PC_UUID_LEN) == 0) return r;
    return NULL;
}

size_t gw_inflight_count(void) { return inflight_count; }

void gw_inflight_each_first(void (*fn)(struct gw_req *r))
{
    struct gw_req *r;

    /* fn takes r out of the table, and may close connections, which cancels
     * (takes out) other entries: so always take the first one left in a
     * bucket. */
    for (size_t i = 0; i < (size_t)1 << inflight_bits; i++)
        while ((r = LIST_FIRST(&inflight[i])) != NULL) fn(r);
}

void gw_inflight_init(void) { table_alloc(GW_INFLIGHT_MIN_BITS); }

void gw_inflight_deinit(void)
{
    free(inflight);
    inflight = NULL;
    inflight_bits = inflight_count = 0;
}
