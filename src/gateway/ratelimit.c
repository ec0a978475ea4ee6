/* ratelimit.c -- the limiters: request limits per identity and route (see
 * ratelimit.h). Which rule applies to a route is ratelimit_rules.c's.
 *
 * Local: a token bucket per (route pattern, identity) in a hash map, with an
 * LRU list so that a full table evicts the least recently used bucket in
 * O(1), and a periodic sweep that drops buckets which have refilled. auth.c
 * keeps its failed-credentials counts in the same table (its own route key).
 *
 * Shared (--ratelimit-redis): GCRA in one Lua script, so that the read, the
 * decision and the write are atomic on Redis and every gateway sees the same
 * state. The script uses Redis' clock (TIME), so gateway clocks need not
 * agree. It is loaded with SCRIPT LOAD when the bus comes up and called with
 * EVALSHA; until the SHA is known, or when Redis says NOSCRIPT (restart,
 * SCRIPT FLUSH), the call goes out as EVAL with the text. Any failure (bus
 * down, error reply, unexpected reply) decides on the local bucket instead. */
#include "ratelimit.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "bus.h"
#include "conn.h"
#include "gw.h"
#include "log.h"
#include "map.h"
#include "ratelimit_rules.h"
#include "stats.h"
#include "xalloc.h"

/* GCRA. KEYS[1]: the bucket; ARGV[1]: emission interval (us); ARGV[2]: burst.
 * Returns {allowed 0|1, remaining, retry_after_us, reset_us}. The stored
 * value is the theoretical arrival time (us, Redis clock); it expires once it
 * is in the past, when it means the same as no key. */
static const char gcra_script[] =
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local T = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
    "if tat < now then tat = now end\n"
    "local new_tat = tat + T\n"
    "local allow_at = new_tat - T * burst\n"
    "if now < allow_at then return {0, 0, allow_at - now, tat - now} end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',\n"
    "           math.ceil((new_tat - now) / 1000) + 1000)\n"
    "return {1, math.floor((T * burst - (new_tat - now)) / T), 0, new_tat - now}\n";

/* ------------------------------------------------------------------------ */
/* State                                                                     */
/* ------------------------------------------------------------------------ */

static bool shared;         /* --ratelimit-redis */
static char key_prefix[80]; /* "<prefix>:rl:" */

struct bucket {
    TAILQ_ENTRY(bucket) lru; /* head: least recently used */
    const struct gw_rl_rule *rule;
    struct gw_rl_bucket b;
    size_t klen;
    char key[]; /* route '\0' identity */
};
static TAILQ_HEAD(bucket_list, bucket) lru = TAILQ_HEAD_INITIALIZER(lru);
static pc_map *buckets; /* key -> struct bucket */
static struct event *sweep_ev;
static pc_buf scratch; /* keys being built */
static uint64_t evictions;
static struct pc_ratelimit evict_log = {.interval_ms = 10000};

static char script_sha[41]; /* "" until SCRIPT LOAD answered */
static bool script_loading;
static struct pc_ratelimit fallback_log = {.interval_ms = 10000};

/* ------------------------------------------------------------------------ */
/* Bucket math                                                               */
/* ------------------------------------------------------------------------ */

static uint64_t capacity_us(const struct gw_rl_rule *rule)
{
    return (uint64_t)rule->burst * rule->interval_us;
}

void gw_rl_bucket_init(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms)
{
    b->credit_us = capacity_us(rule);
    b->last_ms = now_ms;
}

/* Brings the credit up to now. A clock that went backwards earns nothing and
 * restarts from now (one lost interval at worst, never a long lock-out). */
static void refill(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms)
{
    uint64_t cap = capacity_us(rule);
    if (now_ms > b->last_ms) {
        uint64_t add = (now_ms - b->last_ms) * 1000u;
        b->credit_us = (add >= cap || cap - add < b->credit_us) ? cap : b->credit_us + add;
    }
    b->last_ms = now_ms;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* Refills b up to now_ms, takes one token if take and there is one, and
 * describes the outcome in res (allowed: there was a token). */
static void bucket_use(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms,
                       bool take, struct gw_rl_result *res)
{
    refill(b, rule, now_ms);
    res->limit = rule->burst;
    if (b->credit_us >= rule->interval_us) {
        if (take) b->credit_us -= rule->interval_us;
        res->allowed = true;
        res->retry_after_ms = 0;
    } else {
        res->allowed = false;
        res->retry_after_ms = ceil_div(rule->interval_us - b->credit_us, 1000);
    }
    res->remaining = (uint32_t)(b->credit_us / rule->interval_us);
    res->reset_ms = ceil_div(capacity_us(rule) - b->credit_us, 1000);
}

void gw_rl_bucket_take(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms,
                       struct gw_rl_result *res)
{
    bucket_use(b, rule, now_ms, true, res);
}

bool gw_rl_bucket_is_full(const struct gw_rl_bucket *b, const struct gw_rl_rule *rule,
                          uint64_t now_ms)
{
    uint64_t cap = capacity_us(rule);
    if (b->credit_us >= cap) return true;
    return now_ms > b->last_ms && (now_ms - b->last_ms) * 1000u >= cap - b->credit_us;
}

/* ------------------------------------------------------------------------ */
/* Local table                                                               */
/* ------------------------------------------------------------------------ */

static void bucket_drop(struct bucket *bk)
{
    pc_map_del(buckets, bk->key, bk->klen);
    TAILQ_REMOVE(&lru, bk, lru);
    free(bk);
}

size_t gw_ratelimit_sweep(uint64_t now_ms)
{
    struct bucket *bk, *next;
    size_t n = 0;

    for (bk = TAILQ_FIRST(&lru); bk != NULL; bk = next) {
        next = TAILQ_NEXT(bk, lru);
        if (gw_rl_bucket_is_full(&bk->b, bk->rule, now_ms)) {
            bucket_drop(bk);
            n++;
        }
    }
    return n;
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    size_t n = gw_ratelimit_sweep(gw_now_unix_ms());
    (void)fd;
    (void)what;
    (void)arg;
    if (n)
        pc_log(PC_LOG_DEBUG, "ratelimit", "swept %zu idle buckets, %zu left", n,
               pc_map_count(buckets));
}

/* The bucket of (route, identity) for rule, or NULL; its key is left in
 * scratch. A found bucket becomes the most recently used. */
static struct bucket *bucket_find(const struct gw_rl_rule *rule, const char *route,
                                  const char *identity)
{
    struct bucket *bk;

    if (buckets == NULL) pc_check((buckets = pc_map_new()) != NULL);
    pc_buf_reset(&scratch);
    pc_buf_puts(&scratch, route);
    pc_buf_append(&scratch, "", 1);
    pc_buf_puts(&scratch, identity);
    pc_check(!scratch.oom);

    bk = pc_map_get(buckets, scratch.data, scratch.len);
    if (bk != NULL && bk->rule != rule) { /* its rule changed (a reload): start over */
        bucket_drop(bk);
        bk = NULL;
    }
    if (bk != NULL) {
        TAILQ_REMOVE(&lru, bk, lru);
        TAILQ_INSERT_TAIL(&lru, bk, lru);
    }
    return bk;
}

void gw_ratelimit_local_peek(const struct gw_rl_rule *rule, const char *route, const char *identity,
                             uint64_t now_ms, struct gw_rl_result *res)
{
    struct bucket *bk = bucket_find(rule, route, identity);
    struct gw_rl_bucket full;

    if (bk == NULL) { /* no bucket is a full one */
        gw_rl_bucket_init(&full, rule, now_ms);
        bucket_use(&full, rule, now_ms, false, res);
        return;
    }
    bucket_use(&bk->b, rule, now_ms, false, res);
}

void gw_ratelimit_local(const struct gw_rl_rule *rule, const char *route, const char *identity,
                        uint64_t now_ms, struct gw_rl_result *res)
{
    struct bucket *bk = bucket_find(rule, route, identity);

    if (bk == NULL) {
        if (pc_map_count(buckets) >= GW_RL_MAX_BUCKETS) {
            evictions++;
            if (pc_ratelimit_allow(&evict_log, gw_now_mono_ms()))
                pc_log(PC_LOG_WARN, "ratelimit",
                       "bucket table full (%d): evicting least recently used (%llu so far)",
                       GW_RL_MAX_BUCKETS, (unsigned long long)evictions);
            bucket_drop(TAILQ_FIRST(&lru));
        }
        bk = pc_xmalloc(sizeof *bk + scratch.len);
        bk->rule = rule;
        bk->klen = scratch.len;
        memcpy(bk->key, scratch.data, scratch.len);
        gw_rl_bucket_init(&bk->b, rule, now_ms);
        pc_check(pc_map_put(buckets, bk->key, bk->klen, bk) == 0);
        TAILQ_INSERT_TAIL(&lru, bk, lru);
        if (sweep_ev == NULL && gw.base != NULL) {
            struct timeval tv = {GW_RL_SWEEP_MS / 1000, (GW_RL_SWEEP_MS % 1000) * 1000};
            sweep_ev = event_new(gw.base, -1, EV_PERSIST, on_sweep, NULL);
            pc_check(sweep_ev != NULL);
            event_add(sweep_ev, &tv);
        }
    }
    gw_rl_bucket_take(&bk->b, rule, now_ms, res);
}

size_t gw_ratelimit_bucket_count(void) { return buckets ? pc_map_count(buckets) : 0; }

/* ------------------------------------------------------------------------ */
/* Decisions                                                                 */
/* ------------------------------------------------------------------------ */

/* The identity a request is counted against: the verified API key id or JWT
 * subject that auth.c stored on the request, else the client IP. Each kind
 * has its own tag ("key:", "sub:", "ip:") so that no identity can collide
 * with another kind. Writes a NUL-terminated string (truncated to cap - 1
 * bytes; auth identities are shorter than GW_RL_IDENTITY_MAX anyway). */
static void ratelimit_identity(const struct gw_req *r, char *out, size_t cap)
{
    const char *ip;

    const char *tag = "ip:", *id;
    size_t tl = 3, n;

    if (r->auth_key_id[0] != '\0') {
        tag = "key:";
        tl = 4;
        id = r->auth_key_id;
    } else if (r->auth_subject[0] != '\0') {
        tag = "sub:";
        tl = 4;
        id = r->auth_subject;
    } else {
        ip = r->conn ? r->remote_addr : NULL;
        id = ip ? ip : "unknown";
    }
    n = strlen(id);
    if (tl + n + 1 > cap) n = cap - tl - 1;
    memcpy(out, tag, tl);
    memcpy(out + tl, id, n);
    out[tl + n] = '\0';
}

/* Records the outcome on r (its response will carry RateLimit-*); answers
 * 429 when denied. Returns whether r may go on. */
void gw_ratelimit_refuse(struct gw_req *r, uint64_t retry_after_ms, const char *message)
{
    char retry[24];
    struct pc_kv hdr;
    uint64_t retry_s = ceil_div(retry_after_ms, 1000);

    if (retry_s == 0) retry_s = 1;
    hdr =
        (struct pc_kv){"retry-after", 11, retry,
                       (size_t)snprintf(retry, sizeof retry, "%llu", (unsigned long long)retry_s)};
    gw_req_error_hdr(r, 429, "rate_limited", message, &hdr);
}

static bool decide(struct gw_req *r, const struct gw_rl_result *res)
{
    r->rl_known = true;
    r->rl_limit = res->limit;
    r->rl_remaining = res->remaining;
    r->rl_reset_s = (uint32_t)ceil_div(res->reset_ms, 1000);
    if (res->allowed) return true;
    gw_stats->ratelimit_rejections++;
    gw_ratelimit_refuse(r, res->retry_after_ms, "too many requests for this route; retry later");
    return false;
}

/* Same as decide, knowing the rule (for the policy window). */
static bool decide_rule(struct gw_req *r, const struct gw_rl_rule *rule,
                        const struct gw_rl_result *res)
{
    r->rl_window_s = rule->window_s;
    return decide(r, res);
}

/* ------------------------------------------------------------------------ */
/* Shared limiter (Redis)                                                    */
/* ------------------------------------------------------------------------ */

struct rl_call {
    struct gw_req *r;              /* kept alive by r->rl_pending */
    struct gw_rl_ruleset *set;     /* referenced: a reload does not free rule */
    const struct gw_rl_rule *rule; /* the rule the request started with */
    gw_ratelimit_cont *cont;
    bool eval; /* sent with the script text */
    size_t route_len;
    char data[]; /* route '\0' identity '\0' */
};

static void on_script_loaded(void *priv, const struct gw_bus_reply *rep)
{
    (void)priv;
    script_loading = false;
    if (rep != NULL && rep->type == GW_BUS_REPLY_STRING && rep->len == 40) {
        memcpy(script_sha, rep->str, 40);
        script_sha[40] = '\0';
    } else if (rep != NULL) {
        pc_log(PC_LOG_WARN, "ratelimit", "SCRIPT LOAD failed: %.*s",
               rep->str ? (int)(rep->len > 200 ? 200 : rep->len) : 0, rep->str ? rep->str : "");
    }
}

static void script_load(void)
{
    const char *argv[3] = {"SCRIPT", "LOAD", gcra_script};
    size_t lens[3] = {6, 4, sizeof gcra_script - 1};

    if (!shared || !gw_rl_rules_any() || script_loading || gw.bus == NULL) return;
    if (gw_bus_command(gw.bus, on_script_loaded, NULL, 3, argv, lens) == 0) script_loading = true;
}

void gw_ratelimit_on_bus_up(void)
{
    script_sha[0] = '\0';   /* a new server may not have it */
    script_loading = false; /* an old load's callback already ran (NULL) */
    script_load();
}

static void on_call_reply(void *priv, const struct gw_bus_reply *rep);

static int call_send(struct rl_call *c)
{
    char interval[24], burst[24];
    const char *argv[6];
    size_t lens[6];
    const char *ident = c->data + c->route_len + 1;

    if (script_sha[0] == '\0') c->eval = true;
    pc_buf_reset(&scratch);
    pc_buf_puts(&scratch, key_prefix);
    pc_buf_append(&scratch, c->data, c->route_len);
    pc_buf_puts(&scratch, ":");
    pc_buf_puts(&scratch, ident);
    pc_check(!scratch.oom);
    argv[0] = c->eval ? "EVAL" : "EVALSHA";
    argv[1] = c->eval ? gcra_script : script_sha;
    argv[2] = "1";
    argv[3] = scratch.data;
    argv[4] = interval;
    argv[5] = burst;
    lens[0] = strlen(argv[0]);
    lens[1] = c->eval ? sizeof gcra_script - 1 : 40;
    lens[2] = 1;
    lens[3] = scratch.len;
    lens[4] = (size_t)snprintf(interval, sizeof interval, "%llu",
                               (unsigned long long)c->rule->interval_us);
    lens[5] = (size_t)snprintf(burst, sizeof burst, "%u", (unsigned)c->rule->burst);
    return gw_bus_command(gw.bus, on_call_reply, c, 6, argv, lens);
}

/* {allowed, remaining, retry_after_us, reset_us}, all integers >= 0. */
static bool parse_reply(const struct gw_bus_reply *rep, const struct gw_rl_rule *rule,
                        struct gw_rl_result *res)
{
    if (rep == NULL || rep->type != GW_BUS_REPLY_ARRAY || rep->elements != 4) return false;
    for (size_t i = 0; i < 4; i++)
        if (rep->element[i].type != GW_BUS_REPLY_INTEGER || rep->element[i].integer < 0)
            return false;
    res->allowed = rep->element[0].integer == 1;
    res->limit = rule->burst;
    res->remaining = rep->element[1].integer > (long long)rule->burst
                         ? rule->burst
                         : (uint32_t)rep->element[1].integer;
    res->retry_after_ms = ceil_div((uint64_t)rep->element[2].integer, 1000);
    res->reset_ms = ceil_div((uint64_t)rep->element[3].integer, 1000);
    return true;
}

/* The local decision when Redis cannot decide. The local table holds the
 * installed rules only: after a reload that changed this request's rule
 * meanwhile, the bucket of the installed rule decides (none: allowed). */
static void local_fallback(const struct rl_call *c, struct gw_rl_result *res)
{
    const char *route = c->data, *ident = c->data + c->route_len + 1;
    const struct gw_rl_rule *rule = c->rule;

    if (c->set != gw_rl_rules_current()) rule = gw_ratelimit_rule_for(route);
    if (rule == NULL) {
        memset(res, 0, sizeof *res);
        res->allowed = true;
        res->limit = res->remaining = c->rule->burst;
        return;
    }
    gw_ratelimit_local(rule, route, ident, gw_now_unix_ms(), res);
}

static void on_call_reply(void *priv, const struct gw_bus_reply *rep)
{
    struct rl_call *c = priv;
    struct gw_req *r = c->r;
    struct gw_rl_result res;

    if (rep != NULL && rep->type == GW_BUS_REPLY_ERROR && !c->eval && rep->len >= 8 &&
        memcmp(rep->str, "NOSCRIPT", 8) == 0) {
        /* Redis lost its script cache: send the text now, reload for later. */
        script_sha[0] = '\0';
        script_load();
        c->eval = true;
        if (call_send(c) == 0) return; /* still pending */
        rep = NULL;
    }
    r->rl_pending = false;
    if (r->conn == NULL) { /* orphaned: the client left meanwhile */
        pc_log(PC_LOG_DEBUG, "ratelimit", "decision for a departed client dropped");
        if (!r->publish_pending) gw_req_free(r);
        goto out;
    }
    if (r->done) goto out;
    if (!parse_reply(rep, c->rule, &res)) {
        if (pc_ratelimit_allow(&fallback_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "ratelimit", "shared limit unavailable (%.*s): using the local one",
                   rep && rep->str ? (int)(rep->len > 200 ? 200 : rep->len) : 9,
                   rep && rep->str ? rep->str : "no answer");
        local_fallback(c, &res);
    }
    if (decide_rule(r, c->rule, &res)) c->cont(r);
out:
    gw_rl_ruleset_unref(c->set);
    free(c);
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */
/* ------------------------------------------------------------------------ */

enum gw_rl_verdict gw_ratelimit_check(struct gw_req *r, const char *route, gw_ratelimit_cont *cont)
{
    const struct gw_rl_rule *rule = gw_ratelimit_rule_for(route);
    char ident[GW_RL_IDENTITY_MAX + 1];
    struct gw_rl_result res;

    if (rule == NULL) return GW_RL_CONTINUE;
    ratelimit_identity(r, ident, sizeof ident);

    if (shared && gw.bus != NULL && gw_bus_is_up(gw.bus)) {
        size_t rl = strlen(route), il = strlen(ident);
        struct rl_call *c = pc_xmalloc(sizeof *c + rl + il + 2);
        c->r = r;
        c->set = gw_rl_ruleset_ref(gw_rl_rules_current());
        c->rule = rule;
        c->cont = cont;
        c->eval = false;
        c->route_len = rl;
        memcpy(c->data, route, rl + 1);
        memcpy(c->data + rl + 1, ident, il + 1);
        r->rl_pending = true;
        if (call_send(c) == 0) return GW_RL_HANDLED;
        r->rl_pending = false;
        gw_rl_ruleset_unref(c->set);
        free(c);
    }
    gw_ratelimit_local(rule, route, ident, gw_now_unix_ms(), &res);
    return decide_rule(r, rule, &res) ? GW_RL_CONTINUE : GW_RL_HANDLED;
}

int gw_ratelimit_init(const struct gw_config *cfg, char *err, size_t errlen)
{
    gw_ratelimit_deinit();
    if (gw_rl_rules_load(cfg, err, errlen) != 0) return -1;
    shared = cfg->ratelimit_redis;
    snprintf(key_prefix, sizeof key_prefix, "%s:rl:", cfg->prefix);
    buckets = pc_map_new();
    pc_check(buckets != NULL);
    pc_buf_init(&scratch);
    return 0;
}

int gw_ratelimit_prepare(const struct gw_config *cfg, struct gw_rl_ruleset **out, char *err,
                         size_t errlen)
{
    return gw_rl_rules_prepare(cfg, out, err, errlen);
}

void gw_ratelimit_discard(struct gw_rl_ruleset *rs) { gw_rl_ruleset_unref(rs); }

void gw_ratelimit_commit(struct gw_rl_ruleset *rs, const struct gw_config *cfg)
{
    struct gw_rl_ruleset *old = gw_rl_rules_swap(rs);
    struct bucket *bk, *next;
    size_t kept = 0, dropped = 0;

    /* A bucket whose route is still governed by the same limit (same
     * pattern, rate and burst) keeps its state under the new rule; any other
     * bucket of the old rules starts over (dropped: no bucket is a full
     * one). Buckets of other rules (auth.c's failure counts) are not ours. */
    for (bk = TAILQ_FIRST(&lru); bk != NULL; bk = next) {
        const struct gw_rl_rule *nr;
        next = TAILQ_NEXT(bk, lru);
        if (!gw_rl_ruleset_holds(old, bk->rule)) continue;
        nr = gw_rl_rule_in(rs, bk->key); /* the key starts with the route, NUL-ended */
        if (nr != NULL && gw_rl_rule_same(bk->rule, nr)) {
            bk->rule = nr;
            kept++;
        } else {
            bucket_drop(bk);
            dropped++;
        }
    }
    gw_rl_ruleset_unref(old);
    if (buckets == NULL) pc_check((buckets = pc_map_new()) != NULL); /* the first commit */
    snprintf(key_prefix, sizeof key_prefix, "%s:rl:", cfg->prefix);
    if (kept || dropped)
        pc_log(PC_LOG_DEBUG, "ratelimit", "reload: %zu bucket(s) kept, %zu started over", kept,
               dropped);
    shared = cfg->ratelimit_redis;
    script_load(); /* rules may exist now that did not before */
}

void gw_ratelimit_deinit(void)
{
    struct bucket *bk;

    while ((bk = TAILQ_FIRST(&lru)) != NULL) bucket_drop(bk);
    pc_map_free(buckets);
    buckets = NULL;
    if (sweep_ev) event_free(sweep_ev);
    sweep_ev = NULL;
    gw_rl_rules_free();
    shared = false;
    script_sha[0] = '\0';
    script_loading = false;
    pc_buf_deinit(&scratch);
}
