/* outlier.h -- passive outlier detection: an instance that stops answering
 * is skipped ("ejected") for a while, then let back by one probe request.
 *
 * Only a try's deadline expiry counts as a failure; a reply of any status is
 * a success. After --outlier-timeouts consecutive timeouts the instance is
 * ejected for n x --outlier-ejection-ms (n: its ejections since its last
 * success, at most GW_OUTLIER_MAX_FACTOR). When that time is over, the next
 * pick sends it one probe: a reply ends the ejection and resets the counts,
 * a timeout ejects it again, for longer. The state lives in the instance
 * (struct gw_outlier); registry.c's pick asks gw_outlier_state. */
#ifndef GW_OUTLIER_H
#define GW_OUTLIER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

#define GW_OUTLIER_MAX_FACTOR 10 /* longest ejection: 10 x the base */

struct gw_outlier {
    uint64_t ejected_until_ms;     /* monotonic; 0 = not ejected */
    unsigned consecutive_timeouts; /* tries timed out since the last reply */
    unsigned factor;               /* ejections since the last reply */
    unsigned probes;               /* tries out that were sent while ejected */
    uint64_t ejections;            /* ever */
};

enum gw_outlier_state {
    GW_OUTLIER_IN,    /* not ejected: picked as usual */
    GW_OUTLIER_PROBE, /* ejection time over and no probe out: send one now */
    GW_OUTLIER_OUT,   /* ejected: skipped */
};

/* How a try sent to an instance ended. */
enum gw_try_result {
    GW_TRY_ABANDONED, /* client gone, bus lost, PUBLISH answered 0: says nothing */
    GW_TRY_REPLIED,   /* any reply, any status */
    GW_TRY_TIMED_OUT, /* its deadline (or per-try timeout) expired */
};

enum gw_outlier_state gw_outlier_state(const struct gw_outlier *o, uint64_t now_ms);
/* A try goes to the instance; returns whether it is a probe (sent while
 * ejected), to be handed back to _done. */
bool gw_outlier_sent(struct gw_outlier *o);
/* The try ended. id: the instance's, for the log. */
void gw_outlier_done(struct gw_outlier *o, const char *id, bool probe, enum gw_try_result res);
/* The /routes fields (",\"ejected\":...") of an instance. */
void gw_outlier_render(pc_buf *out, const struct gw_outlier *o, uint64_t now_ms);

#endif
