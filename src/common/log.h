/* log.h -- leveled logging to stderr.
 *
 * One line per call: "2026-11-22T03:07:31.123Z INFO  module: message".
 * The level is checked before anything is formatted. */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum pc_log_level { PC_LOG_DEBUG = 0, PC_LOG_INFO, PC_LOG_WARN, PC_LOG_ERROR };

extern int pc_log_min; /* lines below this level are skipped; default INFO */

#define pc_log(lvl, mod, ...)                                                                      \
    do {                                                                                           \
        if ((int)(lvl) >= pc_log_min) pc_log_write((lvl), (mod), __VA_ARGS__);                     \
    } while (0)

void pc_log_write(int lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "debug", "info", "warn", "error" -> level, or -1. */
int pc_log_level_parse(const char *s);

/* At most one line per interval per limiter; counts what it suppressed. */
struct pc_ratelimit {
    uint64_t interval_ms;
    uint64_t last_ms;
    uint64_t suppressed;
};
/* True if a line may be written now (and the caller should mention
 * rl->suppressed, which this resets on the next allowed call). */
bool pc_ratelimit_allow(struct pc_ratelimit *rl, uint64_t now_ms);

#endif
