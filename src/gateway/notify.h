/* notify.h -- the systemd notify protocol (sd_notify(3)), without a library.
 *
 * When NOTIFY_SOCKET names a unix datagram socket (a path, or "@name" for
 * an abstract one), each state change is one datagram of "KEY=VALUE" lines:
 *
 *   READY=1                                ready (single process: listening;
 *                                          --workers: every worker listening,
 *                                          sent by the supervisor)
 *   RELOADING=1 + MONOTONIC_USEC=<now>     a reload (SIGHUP) begins
 *   READY=1                                ... and is over (ok or refused)
 *   STOPPING=1                             SIGTERM/SIGINT: draining begins
 *
 * Without NOTIFY_SOCKET (or with a name that is neither) nothing is sent. A
 * send that fails is ignored: the service manager is told, never waited for. */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H

/* Reads NOTIFY_SOCKET once. */
void gw_notify_init(void);
/* Sends nothing from now on (a --workers worker: the supervisor speaks). */
void gw_notify_disable(void);

/* Ready (once, at start). Before it, a reload tells nothing: the service
 * manager still waits for this first READY=1. */
void gw_notify_ready(void);
void gw_notify_reloading(void);
/* A reload is over (ok or refused): READY=1 again, once ready. */
void gw_notify_reloaded(void);
void gw_notify_stopping(void);

#endif
