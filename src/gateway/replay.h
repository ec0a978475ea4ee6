/* replay.h -- replay records for signed registration: per instance id, the
 * ts_ms of the last accepted signed message, so that a captured message
 * cannot be played back inside the signature window (replay.c says how).
 * Kept only when signatures are wanted (gw_replay_init); every call is a
 * no-op before it. */
#ifndef GW_REPLAY_H
#define GW_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

void gw_replay_init(void);
void gw_replay_deinit(void);
/* Whether a signed message with ts_ms for instance id may be applied. */
bool gw_replay_is_fresh(const char *id, enum pc_reg_type type, int64_t ts_ms);
/* An accepted signed message: remember its ts_ms (never moves back). */
void gw_replay_accept(const char *id, enum pc_reg_type type, int64_t ts_ms);
/* The instance is gone: keep its record until its ts_ms leaves the window. */
void gw_replay_forget(const char *id);
/* Frees the records of dropped instances whose window is over (at most one
 * sweep a second; now in unix ms). */
void gw_replay_sweep(uint64_t now);

#endif
