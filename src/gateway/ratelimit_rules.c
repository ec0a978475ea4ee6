/* ratelimit_rules.c -- which limit applies to a route pattern: the rules of
 * --ratelimit-file and the --ratelimit-rps/-burst default (see ratelimit.h
 * and docs/security.md). A set of rules is loaded aside (at start and on each
 * reload) and installed whole; the limiters (ratelimit.c) look rules up per
 * request in the installed set. Sets are reference counted: a request that
 * waits for the shared limiter keeps the set (and so the rule) it started
 * with. */
#include "ratelimit_rules.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "jsonfile.h"
#include "path.h"
#include "ratelimit.h"
#include "xalloc.h"

struct gw_rl_ruleset {
    unsigned refs;
    struct gw_rl_rule *rules; /* exact and prefix rules, file order */
    size_t nrules;
    struct gw_rl_rule default_rule;
    bool have_default;
};

static struct gw_rl_ruleset *cur; /* the installed set, or NULL: none */
static struct gw_rl_ruleset *set; /* the set being loaded */

static uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

/* True if rule applies to route pattern route (path.h: param names do not
 * count; a prefix covers whole segments). */
static bool rule_covers(const struct gw_rl_rule *rule, const char *route)
{
    size_t pn = strlen(rule->pattern), rn = strlen(route);
    return rule->prefix ? pc_path_covers(rule->pattern, pn, route, rn)
                        : pc_pattern_equal(rule->pattern, pn, route, rn);
}

/* Segments of a rule's pattern: the measure of specificity among prefixes
 * ("/api/" and "/api/" "*" count as "/api"). */
static size_t rule_spec(const struct gw_rl_rule *rule)
{
    size_t n = strlen(rule->pattern);
    return pc_path_count_segments(rule->pattern,
                                  rule->prefix ? pc_prefix_len(rule->pattern, n) : n);
}

const struct gw_rl_rule *gw_rl_rule_in(const struct gw_rl_ruleset *rs, const char *route)
{
    const struct gw_rl_rule *best = NULL;

    if (rs == NULL) return NULL;
    for (size_t i = 0; i < rs->nrules; i++) {
        const struct gw_rl_rule *rule = &rs->rules[i];

        if (!rule_covers(rule, route)) continue;
        if (!rule->prefix) {
            best = rule; /* an exact pattern beats every prefix */
            break;
        }
        if (best == NULL || rule->spec > best->spec) best = rule;
    }
    if (best == NULL && rs->have_default) best = &rs->default_rule;
    return (best == NULL || best->unlimited) ? NULL : best;
}

const struct gw_rl_rule *gw_ratelimit_rule_for(const char *route)
{
    return gw_rl_rule_in(cur, route);
}

bool gw_rl_ruleset_holds(const struct gw_rl_ruleset *rs, const struct gw_rl_rule *rule)
{
    return rs != NULL && (rule == &rs->default_rule ||
                          (rs->nrules > 0 && rule >= rs->rules && rule < rs->rules + rs->nrules));
}

bool gw_rl_rule_same(const struct gw_rl_rule *a, const struct gw_rl_rule *b)
{
    if ((a->pattern == NULL) != (b->pattern == NULL)) return false;
    if (a->pattern != NULL && strcmp(a->pattern, b->pattern) != 0) return false;
    return a->prefix == b->prefix && a->unlimited == b->unlimited && a->burst == b->burst &&
           a->interval_us == b->interval_us;
}

static void rule_set_rate(struct gw_rl_rule *rule, uint64_t per_us, uint32_t rate, uint32_t burst)
{
    rule->interval_us = per_us / rate ? per_us / rate : 1;
    rule->burst = burst;
    rule->window_s = (uint32_t)ceil_div((uint64_t)rule->burst * rule->interval_us, 1000000);
    if (rule->window_s == 0) rule->window_s = 1;
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
    if (!json_is_object(o)) return pc_errf(err, errlen, "%s: not an object", what);
    json_object_foreach(o, key, v)
    {
        if (!is_default && (strcmp(key, "route") == 0 || strcmp(key, "prefix") == 0)) {
            const char *s = json_string_value(v);
            if (s == NULL || s[0] != '/' || strlen(s) != json_string_length(v))
                return pc_errf(err, errlen, "%s: \"%s\" must be a path pattern starting with /",
                               what, key);
            if (rule->pattern != NULL)
                return pc_errf(err, errlen, "%s: give \"route\" or \"prefix\", not both", what);
            rule->pattern = pc_xstrdup(s);
            rule->prefix = (key[0] == 'p');
        } else if (strcmp(key, "rate") == 0 || strcmp(key, "burst") == 0) {
            json_int_t n = json_integer_value(v);
            if (!json_is_integer(v) || n < 1 || n > GW_RL_RATE_MAX)
                return pc_errf(err, errlen, "%s: \"%s\" must be an integer 1..%d", what, key,
                               GW_RL_RATE_MAX);
            *(key[0] == 'r' ? &rate : &burst) = n;
        } else if (strcmp(key, "per") == 0) {
            per = json_string_value(v);
            if (per == NULL) per = "";
            if (strcmp(per, "second") == 0)
                per_us = 1000000;
            else if (strcmp(per, "minute") == 0)
                per_us = 60000000;
            else if (strcmp(per, "hour") == 0)
                per_us = 3600000000u;
            else
                return pc_errf(err, errlen, "%s: \"per\" must be second, minute or hour", what);
        } else if (strcmp(key, "unlimited") == 0) {
            if (!json_is_boolean(v))
                return pc_errf(err, errlen, "%s: \"unlimited\" must be true or false", what);
            rule->unlimited = json_is_true(v);
        } else {
            return pc_errf(err, errlen, "%s: unknown key \"%.100s\"", what, key);
        }
    }
    if (!is_default && rule->pattern == NULL)
        return pc_errf(err, errlen, "%s: needs \"route\" or \"prefix\"", what);
    if (rule->pattern) rule->spec = rule_spec(rule);
    if (rule->unlimited) return 0;
    if (rate == 0) return pc_errf(err, errlen, "%s: needs \"rate\" (or \"unlimited\": true)", what);
    rule_set_rate(rule, per_us, (uint32_t)rate, (uint32_t)(burst ? burst : rate));
    return 0;
}

/* The rules of a parsed --ratelimit-file (borrowed). Returns 0, or -1 with
 * the reason in err. */
static int load_rules(json_t *root, char *err, size_t errlen)
{
    char what[64];
    json_t *v, *list;
    const char *key;

    if (!json_is_object(root)) return pc_errf(err, errlen, "not a JSON object");
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "default") != 0 && strcmp(key, "rules") != 0) {
            return pc_errf(err, errlen, "unknown key \"%.100s\"", key);
        }
    }
    v = json_object_get(root, "default");
    if (v != NULL && !json_is_null(v)) {
        if (rule_parse(v, true, &set->default_rule, "default", err, errlen) != 0) return -1;
        set->have_default = true;
    }
    list = json_object_get(root, "rules");
    if (list != NULL && !json_is_array(list))
        return pc_errf(err, errlen, "\"rules\" must be an array");
    if (json_array_size(list) > GW_RL_MAX_RULES)
        return pc_errf(err, errlen, "more than %d rules", GW_RL_MAX_RULES);
    if (json_array_size(list) > 0) {
        set->rules = pc_xcalloc(json_array_size(list), sizeof *set->rules);
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(what, sizeof what, "rules[%zu]", i);
        if (rule_parse(json_array_get(list, i), false, &set->rules[set->nrules], what, err,
                       errlen) != 0) {
            free(set->rules[set->nrules].pattern);
            return -1;
        }
        set->nrules++;
        for (size_t j = 0; j + 1 < set->nrules; j++) {
            if (set->rules[j].prefix == set->rules[i].prefix &&
                set->rules[j].spec == set->rules[i].spec &&
                rule_covers(&set->rules[j], set->rules[i].pattern)) {
                return pc_errf(err, errlen, "%s: same %s as rules[%zu]", what,
                               set->rules[i].prefix ? "prefix" : "route", j);
            }
        }
    }
    return 0;
}

static int load_file(const char *path, char *err, size_t errlen)
{
    char why[400];
    int rc;
    json_t *root = pc_json_file_load("--ratelimit-file", path, GW_RL_FILE_MAX, err, errlen);

    if (root == NULL) return -1;
    rc = load_rules(root, why, sizeof why);
    json_decref(root);
    if (rc != 0) return pc_json_file_err("--ratelimit-file", path, err, errlen, "%s", why);
    return 0;
}


static void ruleset_free(struct gw_rl_ruleset *rs)
{
    if (rs == NULL) return;
    for (size_t i = 0; i < rs->nrules; i++) free(rs->rules[i].pattern);
    free(rs->rules);
    free(rs->default_rule.pattern);
    free(rs);
}

struct gw_rl_ruleset *gw_rl_ruleset_ref(struct gw_rl_ruleset *rs)
{
    if (rs != NULL) rs->refs++;
    return rs;
}

void gw_rl_ruleset_unref(struct gw_rl_ruleset *rs)
{
    if (rs != NULL && --rs->refs == 0) ruleset_free(rs);
}

struct gw_rl_ruleset *gw_rl_rules_current(void) { return cur; }

int gw_rl_rules_prepare(const struct gw_config *cfg, struct gw_rl_ruleset **out, char *err,
                        size_t errlen)
{
    *out = set = pc_xcalloc(1, sizeof *set);
    set->refs = 1;
    if (cfg->ratelimit_file[0] != '\0' && load_file(cfg->ratelimit_file, err, errlen) != 0)
        goto fail;
    if (cfg->ratelimit_burst > 0 && cfg->ratelimit_rps == 0) {
        pc_errf(err, errlen, "--ratelimit-burst needs --ratelimit-rps");
        goto fail;
    }
    if (cfg->ratelimit_rps > 0) { /* the flags replace the file's default */
        free(set->default_rule.pattern);
        memset(&set->default_rule, 0, sizeof set->default_rule);
        rule_set_rate(&set->default_rule, 1000000, (uint32_t)cfg->ratelimit_rps,
                      (uint32_t)(cfg->ratelimit_burst ? cfg->ratelimit_burst : cfg->ratelimit_rps));
        set->have_default = true;
    }
    set = NULL;
    return 0;
fail:
    ruleset_free(*out);
    *out = set = NULL;
    return -1;
}

struct gw_rl_ruleset *gw_rl_rules_swap(struct gw_rl_ruleset *rs)
{
    struct gw_rl_ruleset *old = cur;
    cur = rs;
    return old;
}

void gw_rl_rules_free(void) { gw_rl_ruleset_unref(gw_rl_rules_swap(NULL)); }

bool gw_rl_rules_any(void) { return cur != NULL && (cur->nrules > 0 || cur->have_default); }

int gw_rl_rules_load(const struct gw_config *cfg, char *err, size_t errlen)
{
    struct gw_rl_ruleset *rs;

    gw_rl_rules_free();
    if (gw_rl_rules_prepare(cfg, &rs, err, errlen) != 0) return -1;
    gw_rl_rules_swap(rs);
    return 0;
}
