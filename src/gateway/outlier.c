/* outlier.c -- passive outlier detection (see outlier.h). */
#include "outlier.h"

#include "config.h"
#include "gw.h"
#include "log.h"
#include "stats.h"

enum gw_outlier_state gw_outlier_state(const struct gw_outlier *o, uint64_t now_ms)
{
    if (o->ejected_until_ms == 0) return GW_OUTLIER_IN;
    if (o->ejected_until_ms <= now_ms && o->probes == 0) return GW_OUTLIER_PROBE;
    return GW_OUTLIER_OUT;
}

bool gw_outlier_sent(struct gw_outlier *o)
{
    if (o->ejected_until_ms == 0) return false;
    o->probes++;
    return true;
}

static void eject(struct gw_outlier *o, const char *id, uint64_t now_ms)
{
    uint64_t base = (uint64_t)gw.cfg->outlier_ejection_ms;

    if (o->factor < GW_OUTLIER_MAX_FACTOR) o->factor++;
    o->ejected_until_ms = now_ms + base * o->factor;
    o->ejections++;
    gw_stats->instance_ejections++;
    pc_log(PC_LOG_WARN, "outlier", "instance %s ejected for %llu ms (%u timeouts in a row)", id,
           (unsigned long long)(base * o->factor), o->consecutive_timeouts);
}

void gw_outlier_done(struct gw_outlier *o, const char *id, bool probe, enum gw_try_result res)
{
    uint64_t now;

    if (probe) o->probes--;
    if (res == GW_TRY_REPLIED) {
        o->consecutive_timeouts = 0;
        o->factor = 0;
        if (o->ejected_until_ms != 0) {
            o->ejected_until_ms = 0;
            pc_log(PC_LOG_INFO, "outlier", "instance %s answered: back in rotation", id);
        }
        return;
    }
    if (res != GW_TRY_TIMED_OUT) return;
    o->consecutive_timeouts++;
    if (gw.cfg->outlier_timeouts == 0) return; /* detection off: counted only */
    now = gw_now_mono_ms();
    if (o->ejected_until_ms == 0) {
        if (o->consecutive_timeouts >= (unsigned)gw.cfg->outlier_timeouts) eject(o, id, now);
    } else if (probe && o->ejected_until_ms <= now) {
        eject(o, id, now); /* the probe failed: again, for longer */
    }
}

void gw_outlier_render(pc_buf *out, const struct gw_outlier *o, uint64_t now_ms)
{
    uint64_t left = o->ejected_until_ms > now_ms ? o->ejected_until_ms - now_ms : 0;
    pc_buf_printf(out,
                  ",\"ejected\":%s,\"ejected_for_s\":%.3f,\"consecutive_timeouts\":%u,"
                  "\"ejections\":%llu",
                  o->ejected_until_ms != 0 ? "true" : "false", (double)left / 1000.0,
                  o->consecutive_timeouts, (unsigned long long)o->ejections);
}
