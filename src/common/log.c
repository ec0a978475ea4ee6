/* log.c -- see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int pc_log_min = PC_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void pc_log_write(int lvl, const char *mod, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if (lvl < PC_LOG_DEBUG || lvl > PC_LOG_ERROR) lvl = PC_LOG_ERROR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s %s: ", ts.tv_nsec / 1000000L,
                          level_names[lvl], mod);
    if (n < sizeof line) {
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
        va_end(ap);
        if (m > 0) n += (size_t)m;
    }
    if (n > sizeof line - 2) n = sizeof line - 2;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

int pc_log_level_parse(const char *s)
{
    if (strcmp(s, "debug") == 0) return PC_LOG_DEBUG;
    if (strcmp(s, "info") == 0) return PC_LOG_INFO;
    if (strcmp(s, "warn") == 0) return PC_LOG_WARN;
    if (strcmp(s, "error") == 0) return PC_LOG_ERROR;
    return -1;
}

bool pc_ratelimit_allow(struct pc_ratelimit *rl, uint64_t now_ms)
{
    if (rl->last_ms != 0 && now_ms - rl->last_ms < rl->interval_ms) {
        rl->suppressed++;
        return false;
    }
    rl->last_ms = now_ms ? now_ms : 1;
    return true;
}
