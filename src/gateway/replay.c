/* replay.c -- replay records for signed registration (see replay.h). */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "sign.h"
#include "xalloc.h"

/* Replay defence for signed registration (docs/security.md).
 * A signed message is refused ("stale") when its ts_ms is more than
 * PC_SIGN_WINDOW_MS from our clock. Inside the window, anyone who can read
 * the register channel could replay what they saw, so per instance id we
 * keep the ts_ms of the last accepted message and refuse ("replayed") any
 * message older than it:
 *  - an old register cannot roll an instance back to an earlier route set;
 *  - a deregister older than the last register cannot knock out an instance
 *    that has heartbeated since (a newer or same-age one is the real thing);
 *  - once an instance is dropped (deregister, TTL, gone), its record stays
 *    until its ts_ms leaves the window, and a register no newer than it is
 *    refused, so a captured announcement cannot bring the instance back.
 * An exact replay of an instance's latest register is accepted: it is a
 * heartbeat, idempotent, and changes nothing. */
struct seen {
    int64_t ts_ms;         /* ts_ms of the last accepted message */
    uint64_t forget_at_ms; /* unix ms; 0 while the instance is live */
};
static pc_map *seen;           /* instance id -> struct seen; signed mode only */
static uint64_t next_sweep_ms; /* unix ms of the next sweep of forgotten records */
#define GW_REG_SWEEP_MS 1000   /* at most one sweep of `seen` per second */

/* ------------------------------------------------------------------------ */

/* The instance is gone: keep its record until its ts_ms leaves the window. */
void gw_replay_forget(const char *id)
{
    struct seen *r = seen ? pc_map_get(seen, id, strlen(id)) : NULL;
    if (r == NULL) return;
    r->forget_at_ms = (uint64_t)(r->ts_ms > 0 ? r->ts_ms : 0) + PC_SIGN_WINDOW_MS + 1;
}

/* Frees the records of dropped instances whose window is over. */
void gw_replay_sweep(uint64_t now)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;

    if (seen == NULL || now < next_sweep_ms) return;
    next_sweep_ms = now + GW_REG_SWEEP_MS;
    while (pc_map_next(seen, &pos, &key, &klen, &val)) {
        struct seen *r = val;
        if (r->forget_at_ms != 0 && r->forget_at_ms <= now) {
            pc_map_del(seen, key, klen);
            free(r);
        }
    }
}

/* Whether a signed message with ts_ms for instance id may be applied (see
 * `seen` above). */
bool gw_replay_is_fresh(const char *id, enum pc_reg_type type, int64_t ts_ms)
{
    const struct seen *r = seen ? pc_map_get(seen, id, strlen(id)) : NULL;
    if (r == NULL) return true;
    /* A dropped instance comes back only with a newer register; a deregister
     * of it is a no-op either way. */
    if (r->forget_at_ms != 0 && type == PC_MSG_REGISTER) return ts_ms > r->ts_ms;
    return ts_ms >= r->ts_ms;
}

/* An accepted signed message: remember its ts_ms (never moves back). */
void gw_replay_accept(const char *id, enum pc_reg_type type, int64_t ts_ms)
{
    struct seen *r;

    if (seen == NULL) return;
    r = pc_map_get(seen, id, strlen(id));
    if (r == NULL) {
        if (type != PC_MSG_REGISTER) return;
        r = pc_xcalloc(1, sizeof *r);
        pc_check(pc_map_put(seen, id, strlen(id), r) == 0);
    }
    if (ts_ms > r->ts_ms) r->ts_ms = ts_ms;
    if (type == PC_MSG_REGISTER) r->forget_at_ms = 0;
}

void gw_replay_init(void)
{
    if (seen != NULL) return; /* already keeping records (a reload) */
    seen = pc_map_new();
    pc_check(seen != NULL);
}

void gw_replay_deinit(void)
{
    size_t pos = 0, klen;
    const char *key;
    void *val;

    while (seen != NULL && pc_map_next(seen, &pos, &key, &klen, &val)) free(val);
    pc_map_free(seen);
    seen = NULL;
    next_sweep_ms = 0;
}
