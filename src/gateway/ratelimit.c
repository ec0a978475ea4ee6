/* ratelimit.c -- request limits per identity and route (see ratelimit.h).
 *
 * Local: a token bucket per (route pattern, identity) in a hash map, with an
 * LRU list so that a full table evicts the least recently used bucket in
 * O(1), and a periodic sweep that drops buckets which have refilled.
 *
 * Shared (--ratelimit-redis): GCRA in one Lua script, so that the read, the
 * decision and the write are atomic on Redis and every gateway sees the same
 * state. The script uses Redis' clock (TIME), so gateway clocks need not
 * agree. It is loaded with SCRIPT LOAD when the bus comes up and called with
 * EVALSHA; until the SHA is known, or when Redis says NOSCRIPT (restart,
 * SCRIPT FLUSH), the call goes out as EVAL with the text. Any failure (bus
 * down, error reply, unexpected reply) decides on the local bucket instead. */
#include "ratelimit.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include "bus.h"
#include "conn.h"
#include "gw.h"
#include "log.h"
#include "map.h"

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

static struct gw_rl_rule *rules;        /* exact and prefix rules, file order */
static size_t nrules;
static struct gw_rl_rule default_rule;
static bool have_default;
static bool shared;                     /* --ratelimit-redis */
static char key_prefix[80];             /* "<prefix>:rl:" */

struct bucket {
    TAILQ_ENTRY(bucket) lru;            /* head: least recently used */
    const struct gw_rl_rule *rule;
    struct gw_rl_bucket b;
    size_t klen;
    char key[];                         /* route '\0' identity */
};
static TAILQ_HEAD(bucket_list, bucket) lru = TAILQ_HEAD_INITIALIZER(lru);
static pc_map *buckets;                 /* key -> struct bucket */
static struct event *sweep_ev;
static pc_buf scratch;                  /* keys being built */
static uint64_t evictions;
static struct pc_ratelimit evict_log = {.interval_ms = 10000};

static char script_sha[41];             /* "" until SCRIPT LOAD answered */
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

void gw_rl_bucket_take(struct gw_rl_bucket *b, const struct gw_rl_rule *rule, uint64_t now_ms,
                       struct gw_rl_result *res)
{
    refill(b, rule, now_ms);
    res->limit = rule->burst;
    if (b->credit_us >= rule->interval_us) {
        b->credit_us -= rule->interval_us;
        res->allowed = true;
        res->retry_after_ms = 0;
    } else {
        res->allowed = false;
        res->retry_after_ms = ceil_div(rule->interval_us - b->credit_us, 1000);
    }
    res->remaining = (uint32_t)(b->credit_us / rule->interval_us);
    res->reset_ms = ceil_div(capacity_us(rule) - b->credit_us, 1000);
}

bool gw_rl_bucket_is_full(const struct gw_rl_bucket *b, const struct gw_rl_rule *rule,
                          uint64_t now_ms)
{
    uint64_t cap = capacity_us(rule);
    if (b->credit_us >= cap) return true;
    return now_ms > b->last_ms && (now_ms - b->last_ms) * 1000u >= cap - b->credit_us;
}

/* ------------------------------------------------------------------------ */
/* Rules                                                                     */
/* ------------------------------------------------------------------------ */

/* Walks pattern p along route q, ignoring param names ("{id}" == "{uid}").
 * Returns where p ends in q when p is a prefix of q, else NULL. */
static const char *pat_skip(const char *p, const char *q)
{
    while (*p) {
        if (*p != *q) return NULL;
        if (*p == '{') {
            p = strchr(p, '}');
            q = strchr(q, '}');
            if (p == NULL || q == NULL) return NULL;
        }
        p++;
        q++;
    }
    return q;
}

/* Length of a pattern without param names: the measure of specificity. */
static size_t pat_spec(const char *p)
{
    size_t n = 0;
    while (*p) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        n += close ? 2 : 1;
        p = close ? close + 1 : p + 1;
    }
    return n;
}

const struct gw_rl_rule *gw_ratelimit_rule_for(const char *route)
{
    const struct gw_rl_rule *best = NULL;

    for (size_t i = 0; i < nrules; i++) {
        const struct gw_rl_rule *rule = &rules[i];
        const char *rest = pat_skip(rule->pattern, route);
        size_t pl;

        if (rest == NULL) continue;
        if (!rule->prefix) {
            if (*rest != '\0') continue;
            best = rule;                /* an exact pattern beats every prefix */
            break;
        }
        pl = strlen(rule->pattern);
        if (*rest != '\0' && *rest != '/' && rule->pattern[pl - 1] != '/') continue;
        if (best == NULL || rule->spec > best->spec) best = rule;
    }
    if (best == NULL && have_default) best = &default_rule;
    return (best == NULL || best->unlimited) ? NULL : best;
}

static void rule_set_rate(struct gw_rl_rule *rule, uint64_t per_us, uint32_t rate, uint32_t burst)
{
    rule->interval_us = per_us / rate ? per_us / rate : 1;
    rule->burst = burst;
    rule->window_s = (uint32_t)ceil_div(capacity_us(rule), 1000000);
    if (rule->window_s == 0) rule->window_s = 1;
}

static int rerr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rerr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* One rule object; `what` names it in errors ("default", "rules[3]"). */
static int rule_parse(json_t *o, bool is_default, struct gw_rl_rule *rule, const char *what,
                      char *err, size_t errlen)
{
    const char *key, *per = "second";
    json_t *v;
    json_int_t rate = 0, burst = 0;
    uint64_t per_us = 1000000;

    memset(rule, 0, sizeof *rule);
    if (!json_is_object(o)) return rerr(err, errlen, "%s: not an object", what);
    json_object_foreach(o, key, v) {
        if (!is_default && (strcmp(key, "route") == 0 || strcmp(key, "prefix") == 0)) {
            const char *s = json_string_value(v);
            if (s == NULL || s[0] != '/' || strlen(s) != json_string_length(v))
                return rerr(err, errlen, "%s: \"%s\" must be a path pattern starting with /",
                            what, key);
            if (rule->pattern != NULL)
                return rerr(err, errlen, "%s: give \"route\" or \"prefix\", not both", what);
            if ((rule->pattern = strdup(s)) == NULL) abort();
            rule->prefix = (key[0] == 'p');
        } else if (strcmp(key, "rate") == 0 || strcmp(key, "burst") == 0) {
            json_int_t n = json_integer_value(v);
            if (!json_is_integer(v) || n < 1 || n > GW_RL_RATE_MAX)
                return rerr(err, errlen, "%s: \"%s\" must be an integer 1..%d", what, key,
                            GW_RL_RATE_MAX);
            *(key[0] == 'r' ? &rate : &burst) = n;
        } else if (strcmp(key, "per") == 0) {
            per = json_string_value(v);
            if (per == NULL) per = "";
            if (strcmp(per, "second") == 0) per_us = 1000000;
            else if (strcmp(per, "minute") == 0) per_us = 60000000;
            else if (strcmp(per, "hour") == 0) per_us = 3600000000u;
            else return rerr(err, errlen, "%s: \"per\" must be second, minute or hour", what);
        } else if (strcmp(key, "unlimited") == 0) {
            if (!json_is_boolean(v))
                return rerr(err, errlen, "%s: \"unlimited\" must be true or false", what);
            rule->unlimited = json_is_true(v);
        } else {
            return rerr(err, errlen, "%s: unknown key \"%.100s\"", what, key);
        }
    }
    if (!is_default && rule->pattern == NULL)
        return rerr(err, errlen, "%s: needs \"route\" or \"prefix\"", what);
    if (rule->pattern) rule->spec = pat_spec(rule->pattern);
    if (rule->unlimited) return 0;
    if (rate == 0) return rerr(err, errlen, "%s: needs \"rate\" (or \"unlimited\": true)", what);
    rule_set_rate(rule, per_us, (uint32_t)rate, (uint32_t)(burst ? burst : rate));
    return 0;
}

static int load_file(const char *path, char *err, size_t errlen)
{
    char what[64];
    json_error_t je;
    struct stat st;
    json_t *root, *v, *list;
    const char *key;
    int rc = -1;

    if (stat(path, &st) != 0) return rerr(err, errlen, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return rerr(err, errlen, "not a regular file");
    if (st.st_size > GW_RL_FILE_MAX)
        return rerr(err, errlen, "larger than %d bytes", GW_RL_FILE_MAX);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return rerr(err, errlen, "line %d column %d: %s", je.line, je.column, je.text);
    if (!json_is_object(root)) {
        rerr(err, errlen, "not a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v) {
        if (strcmp(key, "default") != 0 && strcmp(key, "rules") != 0) {
            rerr(err, errlen, "unknown key \"%.100s\"", key);
            goto out;
        }
    }
    v = json_object_get(root, "default");
    if (v != NULL && !json_is_null(v)) {
        if (rule_parse(v, true, &default_rule, "default", err, errlen) != 0) goto out;
        have_default = true;
    }
    list = json_object_get(root, "rules");
    if (list != NULL && !json_is_array(list)) {
        rerr(err, errlen, "\"rules\" must be an array");
        goto out;
    }
    if (json_array_size(list) > GW_RL_MAX_RULES) {
        rerr(err, errlen, "more than %d rules", GW_RL_MAX_RULES);
        goto out;
    }
    if (json_array_size(list) > 0) {
        rules = calloc(json_array_size(list), sizeof *rules);
        if (rules == NULL) abort();
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(what, sizeof what, "rules[%zu]", i);
        if (rule_parse(json_array_get(list, i), false, &rules[nrules], what, err, errlen) != 0) {
            free(rules[nrules].pattern);
            goto out;
        }
        nrules++;
        for (size_t j = 0; j + 1 < nrules; j++) {
            const char *rest = pat_skip(rules[j].pattern, rules[i].pattern);
            if (rules[j].prefix == rules[i].prefix && rest && *rest == '\0' &&
                rules[j].spec == rules[i].spec) {
                rerr(err, errlen, "%s: same %s as rules[%zu]", what,
                     rules[i].prefix ? "prefix" : "route", j);
                goto out;
            }
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
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
    if (n) pc_log(PC_LOG_DEBUG, "ratelimit", "swept %zu idle buckets, %zu left", n,
                  pc_map_count(buckets));
}

void gw_ratelimit_local(const struct gw_rl_rule *rule, const char *route, const char *identity,
                        uint64_t now_ms, struct gw_rl_result *res)
{
    struct bucket *bk;

    if (buckets == NULL && (buckets = pc_map_new()) == NULL) abort();
    pc_buf_reset(&scratch);
    pc_buf_puts(&scratch, route);
    pc_buf_append(&scratch, "", 1);
    pc_buf_puts(&scratch, identity);
    if (scratch.oom) abort();

    bk = pc_map_get(buckets, scratch.data, scratch.len);
    if (bk != NULL && bk->rule != rule) {   /* cannot happen while rules are fixed */
        bucket_drop(bk);
        bk = NULL;
    }
    if (bk == NULL) {
        if (pc_map_count(buckets) >= GW_RL_MAX_BUCKETS) {
            evictions++;
            if (pc_ratelimit_allow(&evict_log, gw_now_mono_ms()))
                pc_log(PC_LOG_WARN, "ratelimit",
                       "bucket table full (%d): evicting least recently used (%llu so far)",
                       GW_RL_MAX_BUCKETS, (unsigned long long)evictions);
            bucket_drop(TAILQ_FIRST(&lru));
        }
        bk = malloc(sizeof *bk + scratch.len);
        if (bk == NULL) abort();
        bk->rule = rule;
        bk->klen = scratch.len;
        memcpy(bk->key, scratch.data, scratch.len);
        gw_rl_bucket_init(&bk->b, rule, now_ms);
        if (pc_map_put(buckets, bk->key, bk->klen, bk) != 0) abort();
        TAILQ_INSERT_TAIL(&lru, bk, lru);
        if (sweep_ev == NULL && gw.base != NULL) {
            struct timeval tv = {GW_RL_SWEEP_MS / 1000, (GW_RL_SWEEP_MS % 1000) * 1000};
            sweep_ev = event_new(gw.base, -1, EV_PERSIST, on_sweep, NULL);
            if (sweep_ev == NULL) abort();
            event_add(sweep_ev, &tv);
        }
    } else {
        TAILQ_REMOVE(&lru, bk, lru);
        TAILQ_INSERT_TAIL(&lru, bk, lru);
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
static bool decide(struct gw_req *r, const struct gw_rl_result *res)
{
    char retry[24];
    struct pc_kv hdr;
    uint64_t retry_s;

    r->rl_known = true;
    r->rl_limit = res->limit;
    r->rl_remaining = res->remaining;
    r->rl_reset_s = (uint32_t)ceil_div(res->reset_ms, 1000);
    if (res->allowed) return true;

    retry_s = ceil_div(res->retry_after_ms, 1000);
    if (retry_s == 0) retry_s = 1;
    hdr = (struct pc_kv){"retry-after", 11, retry,
                         (size_t)snprintf(retry, sizeof retry, "%llu",
                                          (unsigned long long)retry_s)};
    gw_req_error_hdr(r, 429, "rate_limited", "too many requests for this route; retry later",
                     &hdr);
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
    struct gw_req *r;                   /* kept alive by r->rl_pending */
    const struct gw_rl_rule *rule;
    gw_ratelimit_cont *cont;
    bool eval;                          /* sent with the script text */
    size_t route_len;
    char data[];                        /* route '\0' identity '\0' */
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

    if (!shared || (nrules == 0 && !have_default) || script_loading || gw.bus == NULL) return;
    if (gw_bus_command(gw.bus, on_script_loaded, NULL, 3, argv, lens) == 0)
        script_loading = true;
}

void gw_ratelimit_on_bus_up(void)
{
    script_sha[0] = '\0';               /* a new server may not have it */
    script_loading = false;             /* an old load's callback already ran (NULL) */
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
    if (scratch.oom) abort();
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
        if (call_send(c) == 0) return;          /* still pending */
        rep = NULL;
    }
    r->rl_pending = false;
    if (r->conn == NULL) {                      /* orphaned: the client left meanwhile */
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
        gw_ratelimit_local(c->rule, c->data, c->data + c->route_len + 1, gw_now_unix_ms(), &res);
    }
    if (decide_rule(r, c->rule, &res)) c->cont(r);
out:
    free(c);
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */
/* ------------------------------------------------------------------------ */

enum gw_rl_verdict gw_ratelimit_check(struct gw_req *r, const char *route,
                                      gw_ratelimit_cont *cont)
{
    const struct gw_rl_rule *rule = gw_ratelimit_rule_for(route);
    char ident[GW_RL_IDENTITY_MAX + 1];
    struct gw_rl_result res;

    if (rule == NULL) return GW_RL_CONTINUE;
    ratelimit_identity(r, ident, sizeof ident);

    if (shared && gw.bus != NULL && gw_bus_is_up(gw.bus)) {
        size_t rl = strlen(route), il = strlen(ident);
        struct rl_call *c = malloc(sizeof *c + rl + il + 2);
        if (c == NULL) abort();
        c->r = r;
        c->rule = rule;
        c->cont = cont;
        c->eval = false;
        c->route_len = rl;
        memcpy(c->data, route, rl + 1);
        memcpy(c->data + rl + 1, ident, il + 1);
        r->rl_pending = true;
        if (call_send(c) == 0) return GW_RL_HANDLED;
        r->rl_pending = false;
        free(c);
    }
    gw_ratelimit_local(rule, route, ident, gw_now_unix_ms(), &res);
    return decide_rule(r, rule, &res) ? GW_RL_CONTINUE : GW_RL_HANDLED;
}

int gw_ratelimit_init(const struct gw_config *cfg, char *err, size_t errlen)
{
    char why[400];

    gw_ratelimit_deinit();
    shared = cfg->ratelimit_redis;
    snprintf(key_prefix, sizeof key_prefix, "%s:rl:", cfg->prefix);
    if (cfg->ratelimit_file[0] != '\0' && load_file(cfg->ratelimit_file, why, sizeof why) != 0) {
        snprintf(err, errlen, "--ratelimit-file %.300s: %s", cfg->ratelimit_file, why);
        gw_ratelimit_deinit();
        return -1;
    }
    if (cfg->ratelimit_burst > 0 && cfg->ratelimit_rps == 0) {
        snprintf(err, errlen, "--ratelimit-burst needs --ratelimit-rps");
        gw_ratelimit_deinit();
        return -1;
    }
    if (cfg->ratelimit_rps > 0) {       /* the flags replace the file's default */
        memset(&default_rule, 0, sizeof default_rule);
        rule_set_rate(&default_rule, 1000000, (uint32_t)cfg->ratelimit_rps,
                      (uint32_t)(cfg->ratelimit_burst ? cfg->ratelimit_burst
                                                      : cfg->ratelimit_rps));
        have_default = true;
    }
    if ((buckets = pc_map_new()) == NULL) abort();
    pc_buf_init(&scratch);
    return 0;
}

void gw_ratelimit_deinit(void)
{
    struct bucket *bk;

    while ((bk = TAILQ_FIRST(&lru)) != NULL) bucket_drop(bk);
    pc_map_free(buckets);
    buckets = NULL;
    if (sweep_ev) event_free(sweep_ev);
    sweep_ev = NULL;
    for (size_t i = 0; i < nrules; i++) free(rules[i].pattern);
    free(rules);
    rules = NULL;
    nrules = 0;
    free(default_rule.pattern);
    memset(&default_rule, 0, sizeof default_rule);
    have_default = false;
    shared = false;
    script_sha[0] = '\0';
    script_loading = false;
    pc_buf_deinit(&scratch);
}
