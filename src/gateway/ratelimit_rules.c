/* ratelimit_rules.c -- which limit applies to a route pattern: the rules of
 * --ratelimit-file and the --ratelimit-rps/-burst default (see ratelimit.h
 * and docs/security.md). Loaded once at start; the limiters (ratelimit.c)
 * look rules up per request. */
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

static struct gw_rl_rule *rules; /* exact and prefix rules, file order */
static size_t nrules;
static struct gw_rl_rule default_rule;
static bool have_default;

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

const struct gw_rl_rule *gw_ratelimit_rule_for(const char *route)
{
    const struct gw_rl_rule *best = NULL;

    for (size_t i = 0; i < nrules; i++) {
        const struct gw_rl_rule *rule = &rules[i];

        if (!rule_covers(rule, route)) continue;
        if (!rule->prefix) {
            best = rule; /* an exact pattern beats every prefix */
            break;
        }
        if (best == NULL || rule->spec > best->spec) best = rule;
    }
    if (best == NULL && have_default) best = &default_rule;
    return (best == NULL || best->unlimited) ? NULL : best;
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
        if (rule_parse(v, true, &default_rule, "default", err, errlen) != 0) return -1;
        have_default = true;
    }
    list = json_object_get(root, "rules");
    if (list != NULL && !json_is_array(list))
        return pc_errf(err, errlen, "\"rules\" must be an array");
    if (json_array_size(list) > GW_RL_MAX_RULES)
        return pc_errf(err, errlen, "more than %d rules", GW_RL_MAX_RULES);
    if (json_array_size(list) > 0) {
        rules = pc_xcalloc(json_array_size(list), sizeof *rules);
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
        snprintf(what, sizeof what, "rules[%zu]", i);
        if (rule_parse(json_array_get(list, i), false, &rules[nrules], what, err, errlen) != 0) {
            free(rules[nrules].pattern);
            return -1;
        }
        nrules++;
        for (size_t j = 0; j + 1 < nrules; j++) {
            if (rules[j].prefix == rules[i].prefix && rules[j].spec == rules[i].spec &&
                rule_covers(&rules[j], rules[i].pattern)) {
                return pc_errf(err, errlen, "%s: same %s as rules[%zu]", what,
                               rules[i].prefix ? "prefix" : "route", j);
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


void gw_rl_rules_free(void)
{
    for (size_t i = 0; i < nrules; i++) free(rules[i].pattern);
    free(rules);
    rules = NULL;
    nrules = 0;
    free(default_rule.pattern);
    memset(&default_rule, 0, sizeof default_rule);
    have_default = false;
}

bool gw_rl_rules_any(void) { return nrules > 0 || have_default; }

int gw_rl_rules_load(const struct gw_config *cfg, char *err, size_t errlen)
{
    gw_rl_rules_free();
    if (cfg->ratelimit_file[0] != '\0' && load_file(cfg->ratelimit_file, err, errlen) != 0) {
        gw_rl_rules_free();
        return -1;
    }
    if (cfg->ratelimit_burst > 0 && cfg->ratelimit_rps == 0) {
        gw_rl_rules_free();
        return pc_errf(err, errlen, "--ratelimit-burst needs --ratelimit-rps");
    }
    if (cfg->ratelimit_rps > 0) { /* the flags replace the file's default */
        memset(&default_rule, 0, sizeof default_rule);
        rule_set_rate(&default_rule, 1000000, (uint32_t)cfg->ratelimit_rps,
                      (uint32_t)(cfg->ratelimit_burst ? cfg->ratelimit_burst : cfg->ratelimit_rps));
        have_default = true;
    }
    return 0;
}
