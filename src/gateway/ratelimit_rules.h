/* ratelimit_rules.h -- private to the rate limiter: its rules, loaded from
 * --ratelimit-file and --ratelimit-rps/-burst (ratelimit_rules.c), applied
 * by the limiters (ratelimit.c). gw_ratelimit_rule_for (ratelimit.h) is the
 * lookup. */
#ifndef GW_RATELIMIT_RULES_H
#define GW_RATELIMIT_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Loads the rules of cfg (replacing any). Returns 0, or -1 with one line in
 * err ("--ratelimit-file <path>: <reason>", or the flag at fault); no rules
 * are left loaded then. */
int gw_rl_rules_load(const struct gw_config *cfg, char *err, size_t errlen);
void gw_rl_rules_free(void);

/* A set of rules, reference counted (the installed set holds one
 * reference). */
struct gw_rl_ruleset;
/* Loads the rules of cfg into a new set (*out, one reference) and changes
 * nothing; -1 with one line in err (then *out is NULL). */
int gw_rl_rules_prepare(const struct gw_config *cfg, struct gw_rl_ruleset **out, char *err,
                        size_t errlen);
/* Installs rs (its reference passes to the installed set); returns the set
 * it replaces, whose reference passes to the caller. */
struct gw_rl_ruleset *gw_rl_rules_swap(struct gw_rl_ruleset *rs);
struct gw_rl_ruleset *gw_rl_rules_current(void);
struct gw_rl_ruleset *gw_rl_ruleset_ref(struct gw_rl_ruleset *rs); /* NULL is fine */
void gw_rl_ruleset_unref(struct gw_rl_ruleset *rs);                /* NULL is fine */
/* The rule of rs for route (like gw_ratelimit_rule_for); rs may be NULL. */
const struct gw_rl_rule *gw_rl_rule_in(const struct gw_rl_ruleset *rs, const char *route);
/* True if rule is one of rs's. */
bool gw_rl_ruleset_holds(const struct gw_rl_ruleset *rs, const struct gw_rl_rule *rule);
/* True if two rules are the same limit on the same pattern (a reload keeps
 * the buckets of such a rule). */
bool gw_rl_rule_same(const struct gw_rl_rule *a, const struct gw_rl_rule *b);
/* True when some route may be limited (a rule or a default exists). */
bool gw_rl_rules_any(void);

#endif
