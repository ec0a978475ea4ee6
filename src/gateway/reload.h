/* reload.h -- loading the configuration and every file it names, at start,
 * for --check-config and on SIGHUP (SPEC §9, docs/architecture.md
 * "Reload").
 *
 * Everything that a reload may change is a *part*: one row of a table in
 * reload.c with three functions,
 *
 *   prepare(next config) -> staged object, or -1 and a one-line reason
 *                           (reads and checks its files; changes nothing)
 *   commit(staged)          installs it (between two loop callbacks)
 *   discard(staged)         frees a staged object that is not installed
 *
 * A reload prepares every part first; only when all succeeded are they all
 * committed, one after the other in the same callback, so no request ever
 * sees half of a reload. One failure discards everything staged and leaves
 * the running configuration as it was. A new part (the TLS certificate
 * pair, the routes file, the access log's destination) is one more row. */
#ifndef GW_RELOAD_H
#define GW_RELOAD_H

#include <stddef.h>

#include "config.h"

struct gw_reload_part {
    const char *name; /* for the log */
    /* Returns 0 with *staged set (it may be NULL when there is nothing to
     * install, e.g. no file named), or -1 with one line in err naming the
     * file. Must change nothing that is running. */
    int (*prepare)(const struct gw_config *next, void **staged, char *err, size_t errlen);
    /* Installs staged; cfg is the running configuration, already updated
     * to the new settings. Cannot fail. */
    void (*commit)(void *staged, struct gw_config *cfg);
    void (*discard)(void *staged); /* staged may be NULL */
};

/* Remembers how the process was started (argv and environment are read
 * again by each reload) and the running configuration cfg (updated in
 * place by each reload; gw.cfg points at it). */
void gw_reload_init(int argc, char **argv, char **envp, struct gw_config *cfg);

/* Start: prepares and commits every part for cfg. Returns 0, or -1 with one
 * line in err (nothing installed). */
int gw_reload_start(struct gw_config *cfg, char *err, size_t errlen);
/* --check-config: prepares every part for cfg and discards it all. */
int gw_reload_check(const struct gw_config *cfg, char *err, size_t errlen);

/* SIGHUP: reads the configuration again (flags, environment, --config
 * file), keeps the settings that need a new socket or process (listen,
 * tls-listen, admin, workers, redis, prefix: a warning for each that
 * changed; a kept TLS listener whose pair is no longer named keeps its
 * pair, not read again, with a warning), then
 * prepares and commits every part, or changes nothing and logs one line.
 * Counted in portico_config_reloads_total; RELOADING=1 / READY=1 around it
 * (notify.h). Returns 0 when the new configuration is in force. */
int gw_reload(void);

#endif
