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
/* True when some route may be limited (a rule or a default exists). */
bool gw_rl_rules_any(void);

#endif
