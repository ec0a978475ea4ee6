/* main.c -- flags, signals, wiring; no logic of its own. */
#include <errno.h>
#include <event2/event.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "auth.h"
#include "bus.h"
#include "config.h"
#include "conn.h"
#include "cors.h"
#include "forward.h"
#include "hforward.h"
#include "reply.h"
#include "gw.h"
#include "job.h"
#include "log.h"
#include "ratelimit.h"
#include "registry.h"
#include "routesfile.h"
#include "req.h"
#include "stats.h"
#include "router.h"
#include "server.h"
#include "regpolicy.h"
#include "reload.h"
#include "notify.h"
#include "stream.h"
#include "tls.h"
#include "uuid.h"
#include "wire.h"
#include "xalloc.h"

extern char **environ;

static struct gw_config config;
static pc_buf discover_msg;
static int ready_fd = -1;        /* --workers: where this worker reports ready */
static bool worker_restarted;    /* --workers: a replacement prints no ready line */
static struct event *ready_wait; /* until the ready line is out (announce_ready) */
#define GW_READY_WAIT_MS 3000    /* the ready line waits for the bus this long at most */

/* ---- bus events ---- */

/* The ready line (SPEC §7) and systemd's READY=1, once. */
static void announce_ready(void)
{
    /* "listen=... admin=... gateway_id=..." and, with TLS, " tls=..." */
    const char *tls = gw_server_tls_addr(gw.server);
    char line[1024];

    if (ready_wait == NULL) return; /* announced */
    event_free(ready_wait);
    ready_wait = NULL;
    snprintf(line, sizeof line, "listen=%s admin=%s gateway_id=%s%s%s",
             gw_server_listen_addr(gw.server), gw_server_admin_addr(gw.server), gw.id,
             tls ? " tls=" : "", tls ? tls : "");
    if (ready_fd >= 0) { /* a worker: the parent prints one line for all */
        dprintf(ready_fd, "%s\n", line);
        close(ready_fd);
        ready_fd = -1;
    } else if (!worker_restarted) {
        fprintf(stderr, "portico ready %s\n", line);
        fflush(stderr);
        gw_notify_ready(); /* --workers: the supervisor's, once all are ready */
    }
}

static void on_ready_wait(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    announce_ready();
}

static void on_bus_up(void)
{
    /* Services re-announce on discover: routes come back without waiting
     * for their next heartbeat. */
    gw_registry_on_bus_up();
    gw_bus_publish(gw.bus, gw.discover_channel, discover_msg.data, discover_msg.len, NULL);
    gw_ratelimit_on_bus_up();
    announce_ready();
}

static void on_bus_down(void)
{
    gw_stream_on_bus_down(); /* streams first: cut short, not answered 503 */
    gw_forward_on_bus_down();
}

static void on_bus_message(const char *ch, size_t chlen, const char *msg, size_t len)
{
    if (chlen == strlen(gw.reply_channel) && memcmp(ch, gw.reply_channel, chlen) == 0)
        gw_reply_on_message(msg, len);
    else if (chlen == strlen(gw.register_channel) && memcmp(ch, gw.register_channel, chlen) == 0) {
        gw_registry_on_message(msg, len);
        gw_forward_on_announce();
    }
}

/* ---- signals ---- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (gw.draining) {
        pc_log(PC_LOG_WARN, "main", "second signal %d: exiting now", (int)sig);
        event_base_loopexit(gw.base, NULL);
        return;
    }
    pc_log(PC_LOG_INFO, "main", "signal %d: draining (%zu in flight)", (int)sig,
           gw_forward_inflight());
    gw_notify_stopping();
    gw.draining = true;
    gw_server_drain(gw.server);
}

static void on_sigusr1(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    gw_accesslog_reopen();
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    (void)arg;
    gw_reload();
}

/* Gives freed heap back to the system once traffic has stopped: after a
 * burst (large bodies, many connections) glibc keeps the freed memory as its
 * high-water mark. Every GW_TRIM_MS: if responses were sent since the last
 * trim, none in the last period, and nothing is in flight, malloc_trim. */
#define GW_TRIM_MS 2000
static void on_trim_timer(evutil_socket_t fd, short what, void *arg)
{
    static uint64_t seen, trimmed;
    uint64_t now = gw_stats->duration_count;

    (void)fd;
    (void)what;
    (void)arg;
    if (now == seen && now != trimmed && gw_forward_inflight() == 0) {
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        trimmed = now;
    }
    seen = now;
}

/* glibc gives the top of its heap back as soon as 128 KiB are free there
 * (and keeps blocks of 128 KiB and more in mappings of their own), so a
 * gateway passing bodies through -- 64 KiB pieces allocated, written,
 * freed, thousands a second -- made the kernel unmap and fault in the same
 * pages again and again: half its CPU for 1 MiB responses (perf: page faults
 * under the socket reads). Larger thresholds keep that memory while traffic
 * flows; the idle trim above gives it back once it stops. */
#define GW_HEAP_MMAP_THRESHOLD (4 * 1024 * 1024)
#define GW_HEAP_TRIM_THRESHOLD (8 * 1024 * 1024)
static void heap_tune(void)
{
#ifdef __GLIBC__
    mallopt(M_MMAP_THRESHOLD, GW_HEAP_MMAP_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, GW_HEAP_TRIM_THRESHOLD);
#endif
}

/* --workers: every second each worker publishes its gauges (in flight,
 * connections) to its shared slot, for worker 0's /metrics. */
#define GW_GAUGES_MS 1000
static void on_gauges_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    gw_stats_gauges(gw_forward_inflight(), gw_conn_count(GW_LISTENER_PUBLIC));
}

static int run(void)
{
    char err[512];
    pc_buf ch;
    const char *channels[2];
    struct gw_bus_handlers bh = {on_bus_up, on_bus_down, announce_ready, on_bus_message,
                                 gw_forward_on_published};
    struct event *sigterm, *sigint, *sighup, *sigusr1, *trim, *gauges = NULL;

    {
        /* epoll changelist: an event added and removed again within one loop
         * turn (every response and every PUBLISH arms a write event until
         * its bytes are out) costs no epoll_ctl. Safe: no fd is dup'ed. */
        struct event_config *ec = event_config_new();
        if (ec != NULL) event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        gw.base = ec != NULL ? event_base_new_with_config(ec) : event_base_new();
        if (ec != NULL) event_config_free(ec);
    }
    if (gw.base == NULL) {
        fprintf(stderr, "portico: cannot create the event loop\n");
        return 1;
    }
    if (pc_uuid_v4(gw.id) != 0) {
        fprintf(stderr, "portico: no randomness for the gateway id\n");
        return 1;
    }
    pc_buf_init(&ch);
    pc_channel_reply(&ch, config.prefix, gw.id);
    snprintf(gw.reply_channel, sizeof gw.reply_channel, "%s", ch.data);
    pc_channel_register(&ch, config.prefix);
    snprintf(gw.register_channel, sizeof gw.register_channel, "%s", ch.data);
    pc_channel_discover(&ch, config.prefix);
    snprintf(gw.discover_channel, sizeof gw.discover_channel, "%s", ch.data);
    pc_buf_deinit(&ch);
    pc_buf_init(&discover_msg);
    pc_wire_encode_discover(&discover_msg);

    if (gw_accesslog_start(config.access_log, err, sizeof err) != 0) {
        fprintf(stderr, "portico: %s\n", err);
        return 1;
    }
    gw.router = gw_router_new();
    pc_check(gw.router != NULL);
    gw_registry_init();
    gw_routesfile_init(); /* the routes file's routes, before any announcement */
    gw_forward_init();
    gw_reply_init();
    gw_job_init();
    gw.server = gw_server_new(err, sizeof err);
    if (gw.server == NULL) {
        fprintf(stderr, "portico: %s\n", err);
        return 1;
    }
    channels[0] = gw.register_channel;
    channels[1] = gw.reply_channel;
    gw.bus = gw_bus_new(&config.redis, channels, 2, &bh);
    gw_bus_start(gw.bus);

    sigterm = evsignal_new(gw.base, SIGTERM, on_signal, NULL);
    sigint = evsignal_new(gw.base, SIGINT, on_signal, NULL);
    sighup = evsignal_new(gw.base, SIGHUP, on_sighup, NULL);
    sigusr1 = evsignal_new(gw.base, SIGUSR1, on_sigusr1, NULL);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evsignal_add(sighup, NULL);
    evsignal_add(sigusr1, NULL);
    trim = event_new(gw.base, -1, EV_PERSIST, on_trim_timer, NULL);
    pc_check(trim != NULL);
    {
        struct timeval tv = {GW_TRIM_MS / 1000, 0};
        event_add(trim, &tv);
    }
    if (config.workers > 1) {
        struct timeval tv = {GW_GAUGES_MS / 1000, 0};
        gauges = event_new(gw.base, -1, EV_PERSIST, on_gauges_timer, NULL);
        pc_check(gauges != NULL);
        event_add(gauges, &tv);
    }

    /* Ready once the bus is settled: subscribed (a register published after
     * the line is heard), or found unreachable (requests get 503 at once),
     * or at the latest GW_READY_WAIT_MS after start. */
    ready_wait = evtimer_new(gw.base, on_ready_wait, NULL);
    pc_check(ready_wait != NULL);
    {
        struct timeval tv = {GW_READY_WAIT_MS / 1000, (GW_READY_WAIT_MS % 1000) * 1000};
        evtimer_add(ready_wait, &tv);
    }

    event_base_dispatch(gw.base);
    pc_log(PC_LOG_INFO, "main", "stopped");
    gw_stats_gauges(0, 0); /* nothing in flight or open any more */

    /* Teardown in dependency order, so that leak checkers see nothing. */
    gw_conn_free_all();
    gw_accesslog_stop(); /* every response is made */
    gw_server_free(gw.server);
    gw_bus_free(gw.bus); /* pending PUBLISH callbacks run here */
    gw_reply_deinit();
    gw_forward_deinit();
    gw_ratelimit_deinit(); /* after the bus: no rate-limit call is pending */
    gw_req_pool_free();    /* after everything that may free a request */
    gw_registry_deinit();
    gw_routesfile_deinit();
    gw_hforward_deinit();
    gw_regpolicy_free(config.reg_policy); /* wipes the secrets */
    config.reg_policy = NULL;
    gw_router_free(gw.router);
    event_free(sigterm);
    event_free(sigint);
    event_free(sighup);
    event_free(sigusr1);
    event_free(trim);
    if (ready_wait != NULL) event_free(ready_wait); /* stopped before it was ready */
    if (gauges != NULL) event_free(gauges);
    event_base_free(gw.base);
    pc_buf_deinit(&discover_msg);
    gw_auth_unload();
    gw_cors_unload();
    gw_tls_deinit();
    libevent_global_shutdown();
    return 0;
}

int main(int argc, char **argv)
{
    char err[512];

    switch (gw_config_load(&config, argc, argv, environ, err, sizeof err)) {
    case GW_CONFIG_EXIT:
        return 0;
    case GW_CONFIG_ERROR:
        fprintf(stderr, "portico: %s\n", err);
        return 2;
    default:
        break;
    }
    pc_log_min = config.log_level;
    gw.cfg = &config;
    heap_tune();
    if (config.check_config) { /* every file read and checked; nothing bound or connected */
        if (gw_reload_check(&config, err, sizeof err) != 0) {
            fprintf(stderr, "portico: %s\n", err);
            return 2;
        }
        printf("configuration ok\n");
        return 0;
    }
    gw_reload_init(argc, argv, environ, &config);
    if (gw_reload_start(&config, err, sizeof err) != 0) {
        fprintf(stderr, "portico: %s\n", err);
        return 2;
    }
    gw_regpolicy_warn_exposed(config.reg_policy, &config.redis);
    signal(SIGPIPE, SIG_IGN);
    /* A SIGHUP or SIGUSR1 before the loop takes it (evsignal) must not end
     * the process. */
    signal(SIGHUP, SIG_IGN);
    signal(SIGUSR1, SIG_IGN);
    gw_notify_init();
    if (config.workers > 1) {
        /* The parent supervises and never returns; each worker goes on. */
        if (gw_stats_share(config.workers) != 0) {
            fprintf(stderr, "portico: cannot map the workers' shared counters\n");
            return 1;
        }
        int w = gw_workers_start(&config, &ready_fd, err, sizeof err);
        if (w < 0) {
            fprintf(stderr, "portico: %s\n", err);
            return 1;
        }
        gw_stats_worker(w);
        worker_restarted = ready_fd < 0;
    }
    return run();
}
