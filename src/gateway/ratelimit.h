/* ratelimit.h -- request limits per client identity and route.
 *
 *   route matched --> rule for the route pattern (exact > longest prefix > default)
 *     --> identity: auth subject / API key id when present, else the client IP
 *     --> local token bucket[route, identity]                        (default)
 *         or GCRA on Redis, key P:rl:<route>:<identity>   (--ratelimit-redis)
 *            no answer / error --> the local bucket (fallback)
 *     --> allowed: forwarding goes on;  denied: 429 + Retry-After + RateLimit-*
 *
 * The local table is bounded (GW_RL_MAX_BUCKETS, least recently used evicted
 * when full) and swept every GW_RL_SWEEP_MS of buckets that have refilled:
 * a full bucket is the same as no bucket. Time is the loop's cached clock.
 *
 * While a Redis call is outstanding the request is marked rl_pending: if its
 * client goes away meanwhile the request is orphaned (conn = NULL, see
 * gw_req_release) and the reply callback frees it. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "req.h"

#define GW_RL_MAX_BUCKETS 100000     /* local buckets (identity x route) kept */
#define GW_RL_SWEEP_MS 10000         /* period of the idle-bucket sweep, ms */
#define GW_RL_MAX_RULES 1024         /* rules in --ratelimit-file */
#define GW_RL_FILE_MAX (1024 * 1024) /* bytes of --ratelimit-file */
#define GW_RL_IDENTITY_MAX 256       /* bytes of an identity (longer: truncated) */
#define GW_RL_RATE_MAX 1000000       /* rate and burst limits */

/* One limit: `burst` requests at once, then one every interval_us. */
struct gw_rl_rule {
    char *pattern;        /* exact pattern or prefix (owned); NULL for the default */
    bool prefix;          /* pattern is a prefix of route patterns */
    bool unlimited;       /* matching routes are not limited */
    size_t spec;          /* segments of a prefix (path.h): more wins */
    uint32_t burst;       /* bucket size, 1..GW_RL_RATE_MAX */
    uint64_t interval_us; /* time to earn one token, >= 1 */
    uint32_t window_s;    /* RateLimit-Policy window: burst * interval, seconds */
};

/* A token bucket in integer time units: credit_us / interval_us tokens. */
struct gw_rl_bucket {
    uint64_t credit_us; /* 0..burst * interval_us */
    uint64_t last_ms;   /* when credit_us was last brought up to date */
};

struct gw_rl_result {
    bool allowed;
    uint32_t limit;          /* burst */
    uint32_t remaining;      /* whole tokens left after this request */
    uint64_t retry_after_ms; /* denied: until one token is back; 0 when allowed */
    uint64_t reset_ms;       /* until the bucket is full again */
};

/* Loads the rules from cfg (--ratelimit-file, --ratelimit-rps/-burst). On
 * failure returns -1 with one line in err. Idempotent with deinit. */
int gw_ratelimit_init(const struct gw_config *cfg, char *err, size_t errlen);
void gw_ratelimit_deinit(void);
/* A reload (reload.h) in two steps: prepare loads cfg's rules aside (-1 with
 * one line in err; nothing changes); commit installs them and takes
 * --ratelimit-redis from cfg. Local buckets of a rule that is unchanged
 * (same pattern, rate, burst) keep their state; those of a changed or
 * removed rule start over (full). A request waiting for the shared limiter
 * is decided by the rule it started with. */
struct gw_rl_ruleset;
int gw_ratelimit_prepare(const struct gw_config *cfg, struct gw_rl_ruleset **out, char *err,
                         size_t errlen);
void gw_ratelimit_commit(struct gw_rl_ruleset *rs, const struct gw_config *cfg);
void gw_ratelimit_discard(struct gw_rl_ruleset *rs);
/* The bus came up: (re)load the shared-limit script on Redis. */
void gw_ratelimit_on_bus_up(void);

/* Continuation after an asynchronous (Redis) decision allowed r. */
typedef void gw_ratelimit_cont(struct gw_req *r);

enum gw_rl_verdict {
    GW_RL_CONTINUE = 0, /* allowed (or not limited): go on forwarding now */
    GW_RL_HANDLED,      /* answered 429, or cont(r) follows later */
};

/* Checks r against the limit of its route pattern (borrowed, copied when
 * needed). With the shared limiter, cont(r) is called later if r is allowed
 * and its client is still there; it is never called from inside this call. */
enum gw_rl_verdict gw_ratelimit_check(struct gw_req *r, const char *route, gw_ratelimit_cont *cont);

/* One event (a request) against the local table: takes a token from the
 * bucket of (route, identity), both borrowed, made full when new. */
void gw_ratelimit_local(const struct gw_rl_rule *rule, const char *route, const char *identity,
                        uint64_t now_ms, struct gw_rl_result *res);
/* The same without taking a token: res says whether the bucket has one (no
 * bucket is a full one; nothing is created). With gw_ratelimit_local this
 * also counts events other than requests: auth.c takes a token per failed
 * credential (under a route key no pattern can be) and peeks before
 * checking one. */
void gw_ratelimit_local_peek(const struct gw_rl_rule *rule, const char *route, const char *identity,
                             uint64_t now_ms, struct gw_rl_result *res);

/* Answers r 429 rate_limited with message and Retry-After: retry_after_ms
 * in whole seconds, rounded up, at least 1 (the one 429 of the gateway). */
void gw_ratelimit_refuse(struct gw_req *r, uint64_t retry_after_ms, const char *message);

/* ---- exposed for the unit tests ---- */

/* The rule for a route pattern, or NULL when it is not limited
 * (ratelimit_rules.c). */
const struct gw_rl_rule *gw_ratelimit_rule_for(const char *route);
/* A full bucket. */
void gw_rl_bucket_init(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms);
/* Refills up to now_ms, then takes one token if there is one. */
void gw_rl_bucket_take(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms,
                       struct gw_rl_result *res);
/* Whether the bucket will have refilled completely at now_ms. */
bool gw_rl_bucket_is_full(const struct gw_rl_bucket *b, const struct gw_rl_rule *rule,
                          uint64_t now_ms);
/* Drops every local bucket that is full at now_ms; returns how many. */
size_t gw_ratelimit_sweep(uint64_t now_ms);
size_t gw_ratelimit_bucket_count(void);

#endif
