/* reload.c -- the configuration and its files, loaded at start, checked by
 * --check-config and loaded again on SIGHUP (see reload.h). */
#include "reload.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "accesslog.h"
#include "auth.h"
#include "cors.h"
#include "log.h"
#include "notify.h"
#include "ratelimit.h"
#include "registry.h"
#include "regpolicy.h"
#include "routesfile.h"
#include "stats.h"
#include "tls.h"

/* ------------------------------------------------------------- the parts */

static int auth_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    struct gw_auth_policy *p = NULL;
    int rc = gw_auth_prepare(next->auth_file, &p, err, errlen);
    *staged = p;
    return rc;
}
static void auth_commit(void *staged, struct gw_config *cfg)
{
    (void)cfg;
    gw_auth_commit(staged);
}
static void auth_discard(void *staged) { gw_auth_discard(staged); }

static int cors_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    struct gw_cors *p = NULL;
    int rc = gw_cors_prepare(next->auth_file, &p, err, errlen);
    *staged = p;
    return rc;
}
static void cors_commit(void *staged, struct gw_config *cfg)
{
    (void)cfg;
    gw_cors_commit(staged);
}
static void cors_discard(void *staged) { gw_cors_discard(staged); }

static int rl_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    struct gw_rl_ruleset *p = NULL;
    int rc = gw_ratelimit_prepare(next, &p, err, errlen);
    *staged = p;
    return rc;
}
static void rl_commit(void *staged, struct gw_config *cfg) { gw_ratelimit_commit(staged, cfg); }
static void rl_discard(void *staged) { gw_ratelimit_discard(staged); }

static int reg_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    struct gw_regpolicy *p = NULL;
    int rc = gw_regpolicy_load(&p, next->registration_secret_file, next->registration_secrets_file,
                               next->route_allowlist_file, err, errlen);
    *staged = p;
    return rc;
}
static void reg_commit(void *staged, struct gw_config *cfg)
{
    gw_regpolicy_free(cfg->reg_policy); /* wipes the old secrets */
    cfg->reg_policy = staged;
    gw_registry_policy_changed();
}
static void reg_discard(void *staged) { gw_regpolicy_free(staged); }

static void tls_commit(void *staged, struct gw_config *cfg)
{
    (void)cfg;
    gw_tls_commit(staged);
}

/* Committed in this order, after the settings themselves. The access log
 * comes last: a reload another part refuses creates no file. */
static const struct gw_reload_part parts[] = {
    {"cors", cors_prepare, cors_commit, cors_discard},
    {"auth", auth_prepare, auth_commit, auth_discard},
    {"ratelimit", rl_prepare, rl_commit, rl_discard},
    {"registration", reg_prepare, reg_commit, reg_discard},
    {"tls", gw_tls_prepare, tls_commit, gw_tls_discard},
    {"routes", gw_routesfile_prepare, gw_routesfile_commit, gw_routesfile_discard},
    {"access-log", gw_accesslog_prepare, gw_accesslog_commit, gw_accesslog_discard},
};
#define NPARTS (sizeof parts / sizeof parts[0])

/* --------------------------------------------------------------- helpers */

static int prepare_all(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    for (size_t i = 0; i < NPARTS; i++) {
        staged[i] = NULL;
        if (parts[i].prepare(next, &staged[i], err, errlen) != 0) {
            while (i-- > 0) parts[i].discard(staged[i]);
            return -1;
        }
    }
    return 0;
}

static void commit_all(void **staged, struct gw_config *cfg)
{
    for (size_t i = 0; i < NPARTS; i++) parts[i].commit(staged[i], cfg);
}

static int saved_argc;
static char **saved_argv, **saved_envp;
static struct gw_config *running;
static struct gw_config boot; /* as first parsed: what a reload compares with */

void gw_reload_init(int argc, char **argv, char **envp, struct gw_config *cfg)
{
    saved_argc = argc;
    saved_argv = argv;
    saved_envp = envp;
    running = cfg;
    boot = *cfg;
    boot.reg_policy = NULL;
}

int gw_reload_start(struct gw_config *cfg, char *err, size_t errlen)
{
    void *staged[NPARTS];

    if (prepare_all(cfg, staged, err, errlen) != 0) return -1;
    commit_all(staged, cfg);
    return 0;
}

int gw_reload_check(const struct gw_config *cfg, char *err, size_t errlen)
{
    void *staged[NPARTS];

    if (prepare_all(cfg, staged, err, errlen) != 0) return -1;
    for (size_t i = 0; i < NPARTS; i++) parts[i].discard(staged[i]);
    return 0;
}

static bool hostport_eq(const struct gw_hostport *a, const struct gw_hostport *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The settings that need a new socket or process keep their running value
 * (the running one, not the file's: a port 0 became a real port, a worker
 * has no admin listener). Compared with the values the process started
 * with. */
static void keep_fixed(struct gw_config *next)
{
    static const char *const keep = "keeping the running value (a restart applies it)";

    if (!hostport_eq(&next->listen, &boot.listen) || next->listen_off != boot.listen_off)
        pc_log(PC_LOG_WARN, "reload", "listen changed: %s", keep);
    if (next->tls_off != boot.tls_off ||
        (!next->tls_off && !hostport_eq(&next->tls_listen, &boot.tls_listen)))
        pc_log(PC_LOG_WARN, "reload", "tls-listen changed: %s", keep);
    if (!running->tls_off && next->tls_off && next->tls_cert_file[0] == '\0' &&
        next->tls_key_file[0] == '\0') {
        /* tls-listen went with its pair: the listener stays, so does the
         * pair it serves (not read again: its files may be gone too). */
        pc_log(PC_LOG_WARN, "reload", "tls-cert and tls-key removed: keeping the running pair");
        memcpy(next->tls_cert_file, running->tls_cert_file, sizeof next->tls_cert_file);
        memcpy(next->tls_key_file, running->tls_key_file, sizeof next->tls_key_file);
        next->tls_keep_pair = true;
    }
    if (next->admin_off != boot.admin_off ||
        (!next->admin_off && !hostport_eq(&next->admin, &boot.admin)))
        pc_log(PC_LOG_WARN, "reload", "admin changed: %s", keep);
    if (next->workers != boot.workers) pc_log(PC_LOG_WARN, "reload", "workers changed: %s", keep);
    if (strcmp(next->redis_url, boot.redis_url) != 0)
        pc_log(PC_LOG_WARN, "reload", "redis changed: %s", keep);
    if (strcmp(next->prefix, boot.prefix) != 0)
        pc_log(PC_LOG_WARN, "reload", "prefix changed: %s", keep);
    next->listen = running->listen;
    next->listen_off = running->listen_off;
    next->tls_listen = running->tls_listen;
    next->tls_off = running->tls_off;
    next->admin_off = running->admin_off;
    next->admin = running->admin;
    next->workers = running->workers;
    memcpy(next->redis_url, running->redis_url, sizeof next->redis_url);
    next->redis = running->redis;
    memcpy(next->prefix, running->prefix, sizeof next->prefix);
}

int gw_reload(void)
{
    struct gw_config next;
    void *staged[NPARTS];
    char err[768];
    struct gw_regpolicy *reg;

    gw_notify_reloading();
    pc_log(PC_LOG_INFO, "reload", "reloading the configuration");
    if (gw_config_load(&next, saved_argc, saved_argv, saved_envp, err, sizeof err) !=
        GW_CONFIG_RUN) {
        if (err[0] == '\0') snprintf(err, sizeof err, "the command line asks for no gateway");
        goto refused;
    }
    keep_fixed(&next);
    if (prepare_all(&next, staged, err, sizeof err) != 0) goto refused;

    /* Everything is valid: the settings, then every part, in this callback. */
    reg = running->reg_policy;
    *running = next;
    running->reg_policy = reg; /* replaced by its part's commit */
    pc_log_min = running->log_level;
    commit_all(staged, running);
    gw_stats->config_reloads_ok++;
    pc_log(PC_LOG_INFO, "reload", "configuration reloaded");
    gw_notify_reloaded();
    return 0;

refused:
    gw_stats->config_reloads_error++;
    pc_log(PC_LOG_ERROR, "reload", "reload refused, nothing changed: %s", err);
    gw_notify_reloaded();
    return -1;
}
