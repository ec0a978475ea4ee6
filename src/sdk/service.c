/* service.c -- the service object: configuration, start, registration and
 * heartbeat, dispatch of everything the subscriber connection receives, a
 * clean stop, and the (possibly deferred) free.
 *
 * On every (re)connect: SUBSCRIBE the service's channels, wait for their
 * confirmations (a request published before we listen would make the gateway
 * think we are gone), then PUBLISH register (and discover, for a caller), and
 * re-publish the register every ttl/3. */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/crypto.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "uuid.h"

#include "internal.h"

#define DEFAULT_REDIS_URL "redis://127.0.0.1:6379"
#define DEFAULT_PREFIX "portico"

static void svc_really_free(portico_service *svc);

/* ---- helpers ---- */

static char *str_printf(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);

    if (s != NULL) snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* ---- registration ---- */

static void on_register_published(void *ud, long long receivers)
{
    portico_service *svc = ud;

    /* Redis answered (even with an error): the register went out */
    if (receivers == PT_PUB_LOST || svc->state != PT_SVC_RUNNING || svc->announced) return;
    svc->announced = true;
    pt_log(svc, PORTICO_LOG_INFO, "registered %s instance %s (%zu routes)", svc->name,
           svc->instance, svc->nroutes);
    if (svc->ready_fn != NULL) {
        pt_svc_enter(svc);
        svc->ready_fn(svc, svc->ready_ud);
        pt_svc_leave(svc);
    }
}

/* What goes out on the register channel for msg (a register or a
 * deregister): msg itself or, when a registration secret is set, its signed
 * envelope, written into env. NULL when out of memory or signing fails. */
static const pc_buf *registration_message(portico_service *svc, const pc_buf *msg, pc_buf *env)
{
    if (msg->oom) return NULL;
    if (svc->reg_secret_len == 0) return msg;
    if (pc_sign_wrap(env, msg->data, msg->len, svc->reg_secret, svc->reg_secret_len) != 0 ||
        env->oom)
        return NULL;
    return env;
}

/* Publishes a register/deregister message on the register channel (signed
 * when a registration secret is set). Returns what pt_bus_publish returns,
 * or -1 when out of memory or signing fails. */
static int publish_registration(portico_service *svc, const pc_buf *msg, pt_published_fn *fn,
                                void *ud)
{
    const pc_buf *out;
    pc_buf env;
    int rc = -1;

    pc_buf_init(&env);
    if ((out = registration_message(svc, msg, &env)) != NULL)
        rc = pt_bus_publish(svc->bus, svc->ch_register, out->data, out->len, fn, ud);
    pc_buf_deinit(&env);
    return rc;
}

static void encode_register(portico_service *svc, pc_buf *b)
{
    pc_wire_encode_register(b, svc->name, svc->instance, svc->ch_svc, svc->ttl_ms, svc->timeout_ms,
                            pc_unix_ms(), svc->decls, svc->nroutes, svc->claim_check_bytes > 0,
                            PC_WIRE_V2);
}

static void publish_register(portico_service *svc)
{
    pc_buf b;

    if (svc->nroutes == 0 || svc->state != PT_SVC_RUNNING) return;
    pc_buf_init(&b);
    encode_register(svc, &b);
    if (publish_registration(svc, &b, on_register_published, svc) != 0)
        pt_log(svc, PORTICO_LOG_DEBUG, "register: not sent (bus down or out of memory)");
    pc_buf_deinit(&b);
}

/* Refuses a register message every gateway would drop (SPEC §3), and its
 * heartbeats with it: over PC_WIRE_MAX_REGISTER bytes (pc_wire_decode_register,
 * which a signing gateway applies to the signed text too) or, signed, an
 * envelope over PC_SIGN_MAX_ENVELOPE (pc_sign_unwrap). Checked at the start,
 * not route by route: the size also depends on the name, instance, prefix and
 * options, which may be set in any order before it. Returns 0,
 * PORTICO_ERR_INVALID (logged) or _NOMEM. */
static int check_register_size(portico_service *svc)
{
    const pc_buf *out;
    pc_buf msg, env;
    int rc = 0;

    if (svc->nroutes == 0) return 0; /* no register message */
    pc_buf_init(&msg);
    pc_buf_init(&env);
    encode_register(svc, &msg);
    if ((out = registration_message(svc, &msg, &env)) == NULL) {
        rc = PORTICO_ERR_NOMEM;
    } else if (msg.len > PC_WIRE_MAX_REGISTER) {
        pt_log(svc, PORTICO_LOG_ERROR,
               "register message of %zu bytes (%zu routes) over the %d-byte limit of every "
               "gateway: not started",
               msg.len, svc->nroutes, PC_WIRE_MAX_REGISTER);
        rc = PORTICO_ERR_INVALID;
    } else if (out->len > PC_SIGN_MAX_ENVELOPE) {
        pt_log(svc, PORTICO_LOG_ERROR,
               "signed register message of %zu bytes (%zu routes) over the %d-byte limit of "
               "every gateway: not started",
               out->len, svc->nroutes, PC_SIGN_MAX_ENVELOPE);
        rc = PORTICO_ERR_INVALID;
    }
    pc_buf_deinit(&env);
    pc_buf_deinit(&msg);
    return rc;
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    publish_register(arg);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    portico_service *svc = arg;
    size_t n;

    (void)fd;
    (void)what;
    pt_reply_spare_sweep(svc);
    if (!svc->calls_enabled) return;
    n = pt_table_expire(&svc->table, pc_mono_ms());
    if (n > 0) pt_log(svc, PORTICO_LOG_DEBUG, "%zu instance(s) expired", n);
}

/* All initial subscriptions confirmed: announce ourselves. */
static void svc_announce(portico_service *svc)
{
    struct timeval tv;
    int period = svc->ttl_ms / 3;

    if (svc->state != PT_SVC_RUNNING) return;
    if (svc->calls_enabled) {
        pc_buf b;
        pc_buf_init(&b);
        pc_wire_encode_discover(&b);
        if (!b.oom) pt_bus_publish(svc->bus, svc->ch_discover, b.data, b.len, NULL, NULL);
        pc_buf_deinit(&b);
    }
    if (svc->nroutes > 0) {
        publish_register(svc);
        tv.tv_sec = period / 1000;
        tv.tv_usec = (period % 1000) * 1000;
        event_add(svc->heartbeat_ev, &tv);
    } else if (!svc->announced) {
        svc->announced = true;
        if (svc->ready_fn != NULL) {
            pt_svc_enter(svc);
            svc->ready_fn(svc, svc->ready_ud);
            pt_svc_leave(svc);
        }
    }
}

/* ---- bus callbacks ---- */

static void on_bus_up(struct pt_bus *bus, void *ud)
{
    portico_service *svc = ud;
    const char *ch[4];
    size_t n = 0;

    (void)bus;
    if (svc->state != PT_SVC_RUNNING) return;
    if (svc->nroutes > 0) {
        ch[n++] = svc->ch_svc;
        ch[n++] = svc->ch_discover;
    }
    if (svc->calls_enabled) {
        ch[n++] = svc->ch_register;
        ch[n++] = svc->ch_reply;
    }
    svc->subs_expected = (int)n;
    svc->announced = false;
    pt_log(svc, PORTICO_LOG_INFO, "redis: connected");
    if (n == 0 || pt_bus_subscribe(svc->bus, ch, n) != 0) {
        svc->subs_expected = 0;
        svc_announce(svc);
    }
    pt_events_resubscribe(svc);
}

static void on_bus_down(struct pt_bus *bus, void *ud)
{
    portico_service *svc = ud;

    (void)bus;
    svc->announced = false;
    svc->subs_expected = 0;
    event_del(svc->heartbeat_ev);
    if (svc->state == PT_SVC_RUNNING)
        pt_log(svc, PORTICO_LOG_WARN, "redis: connection lost; reconnecting");
    pt_calls_fail_all(svc, PORTICO_ERR_BUS);
    pt_svc_check_drained(svc);
}

static bool ch_is(const char *ch, size_t chlen, const char *name)
{
    return name != NULL && strlen(name) == chlen && memcmp(ch, name, chlen) == 0;
}

static void on_bus_subscribed(struct pt_bus *bus, void *ud, const char *ch, size_t chlen)
{
    portico_service *svc = ud;

    (void)bus;
    if (svc->subs_expected <= 0) return;
    if (ch_is(ch, chlen, svc->ch_svc) || ch_is(ch, chlen, svc->ch_discover) ||
        ch_is(ch, chlen, svc->ch_register) || ch_is(ch, chlen, svc->ch_reply)) {
        if (--svc->subs_expected == 0) svc_announce(svc);
    }
}

static void on_register_msg(portico_service *svc, const char *msg, size_t len)
{
    struct pc_register r;
    struct pc_wire_err err;
    struct pc_signed sg;
    bool is_signed = pc_sign_unwrap(&sg, msg, len, &err) == 0;

    /* Signed registration (SPEC §3): the caller reads the inner message.
     * When this service has the secret it also checks the signature; the
     * gateway, which enforces signing, stays the authority on routes. */
    if (is_signed) {
        if (svc->reg_secret_len && !pc_sign_verify(svc->reg_secret, svc->reg_secret_len, sg.inner,
                                                   sg.inner_len, sg.sig, sg.sig_len)) {
            pc_sign_unwrap_deinit(&sg); /* forged: ignored */
            return;
        }
        msg = sg.inner;
        len = sg.inner_len;
    }
    if (pc_wire_decode_register(&r, msg, len, svc->prefix, &err) != 0) {
        if (pc_ratelimit_allow(&svc->bad_rl, pc_mono_ms()))
            pt_log(svc, PORTICO_LOG_DEBUG, "register message dropped: %s", err.message);
    } else {
        if (pt_table_apply(&svc->table, &r, pc_mono_ms()) != 0)
            pt_log(svc, PORTICO_LOG_ERROR, "instance table: out of memory");
        pc_wire_register_deinit(&r);
    }
    pc_sign_unwrap_deinit(&sg); /* required after every unwrap, even a failed one */
}

static void on_bus_message(struct pt_bus *bus, void *ud, const char *ch, size_t chlen,
                           const char *msg, size_t len)
{
    portico_service *svc = ud;

    (void)bus;
    if (ch_is(ch, chlen, svc->ch_svc)) {
        pt_request_dispatch(svc, msg, len); /* stopping: refused, cancels still count */
    } else if (ch_is(ch, chlen, svc->ch_discover)) {
        if (svc->state == PT_SVC_RUNNING && svc->subs_expected == 0) publish_register(svc);
    } else if (ch_is(ch, chlen, svc->ch_register)) {
        if (svc->calls_enabled) on_register_msg(svc, msg, len);
    } else if (ch_is(ch, chlen, svc->ch_reply)) {
        pt_call_on_reply(svc, msg, len);
    } else if (chlen > svc->ch_event_prefix_len &&
               memcmp(ch, svc->ch_event_prefix, svc->ch_event_prefix_len) == 0) {
        pt_event_dispatch(svc, ch + svc->ch_event_prefix_len, chlen - svc->ch_event_prefix_len, msg,
                          len);
    }
}

static const struct pt_bus_ops bus_ops = {
    .on_up = on_bus_up,
    .on_down = on_bus_down,
    .on_message = on_bus_message,
    .on_subscribed = on_bus_subscribed,
};

/* ---- life cycle ---- */

static void on_stop_event(evutil_socket_t fd, short what, void *arg);
static void on_stop_streams(evutil_socket_t fd, short what, void *arg);
static void on_free_event(evutil_socket_t fd, short what, void *arg);

PORTICO_API portico_service *portico_service_new(struct event_base *base, const char *name,
                                                 const char *redis_url, int *err)
{
    portico_service *svc = NULL;
    struct pc_redis_addr addr;
    char why[160];
    unsigned char rnd[4];
    int rc = PORTICO_ERR_INVALID;

    if (base == NULL || name == NULL || !pc_service_name_is_valid(name, strlen(name))) goto fail;
    if (pc_redis_url_parse(redis_url ? redis_url : DEFAULT_REDIS_URL, &addr, why, sizeof why) != 0)
        goto fail;
    rc = PORTICO_ERR_NOMEM;
    svc = calloc(1, sizeof *svc);
    if (svc == NULL) goto fail;
    svc->base = base;
    snprintf(svc->name, sizeof svc->name, "%s", name);
    snprintf(svc->prefix, sizeof svc->prefix, "%s", DEFAULT_PREFIX);
    if (pc_random_bytes(rnd, sizeof rnd) != 0) {
        rnd[0] = rnd[1] = rnd[2] = rnd[3] = 0;
        memcpy(rnd, &svc, sizeof rnd < sizeof svc ? sizeof rnd : sizeof svc);
    }
    snprintf(svc->instance, sizeof svc->instance, "%s-%02x%02x%02x%02x", name, rnd[0], rnd[1],
             rnd[2], rnd[3]);
    svc->addr = addr;
    svc->ttl_ms = PC_TTL_DEFAULT_MS;
    svc->claim_check_bytes = PC_CLAIM_CHECK_DEFAULT;
    svc->log_min = PORTICO_LOG_INFO;
    svc->bad_rl.interval_ms = 10000;
    svc->heartbeat_ev = event_new(base, -1, EV_PERSIST, on_heartbeat, svc);
    svc->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, svc);
    svc->stop_ev = event_new(base, -1, 0, on_stop_event, svc);
    svc->streams_ev = evtimer_new(base, on_stop_streams, svc);
    svc->free_ev = event_new(base, -1, 0, on_free_event, svc);
    svc->calls = pc_map_new();
    if (svc->heartbeat_ev == NULL || svc->sweep_ev == NULL || svc->stop_ev == NULL ||
        svc->streams_ev == NULL || svc->free_ev == NULL || svc->calls == NULL ||
        pt_table_init(&svc->table) != 0)
        goto fail;
    svc->bus = pt_bus_new(base, svc, &addr, &bus_ops, svc);
    if (svc->bus == NULL) goto fail;
    return svc;
fail:
    if (svc != NULL) svc_really_free(svc);
    if (err != NULL) *err = rc;
    return NULL;
}

PORTICO_API int portico_service_set_prefix(portico_service *svc, const char *prefix)
{
    size_t n;

    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (prefix == NULL || (n = strlen(prefix)) == 0 || n > PT_PREFIX_MAX ||
        strpbrk(prefix, " \t\r\n*?[]") != NULL)
        return PORTICO_ERR_INVALID;
    memcpy(svc->prefix, prefix, n + 1);
    return 0;
}

PORTICO_API int portico_service_set_registration_secret(portico_service *svc, const void *secret,
                                                        size_t len)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (secret == NULL || len == 0 || len > sizeof svc->reg_secret) return PORTICO_ERR_INVALID;
    memcpy(svc->reg_secret, secret, len);
    svc->reg_secret_len = len;
    return 0;
}

PORTICO_API int portico_service_set_registration_secret_file(portico_service *svc, const char *path)
{
    char buf[PC_SIGN_SECRET_MAX + 1], err[128];
    size_t n = sizeof buf;
    int rc;

    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (path == NULL || pc_sign_secret_load(path, buf, &n, err, sizeof err) != 0)
        return PORTICO_ERR_INVALID;
    rc = portico_service_set_registration_secret(svc, buf, n);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

PORTICO_API int portico_service_set_instance(portico_service *svc, const char *instance)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (instance == NULL || !pc_instance_id_is_valid(instance, strlen(instance)))
        return PORTICO_ERR_INVALID;
    snprintf(svc->instance, sizeof svc->instance, "%s", instance);
    return 0;
}

PORTICO_API int portico_service_set_ttl_ms(portico_service *svc, int ttl_ms)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    svc->ttl_ms = ttl_ms < PC_TTL_MIN_MS   ? PC_TTL_MIN_MS
                  : ttl_ms > PC_TTL_MAX_MS ? PC_TTL_MAX_MS
                                           : ttl_ms;
    return 0;
}

PORTICO_API int portico_service_set_timeout_ms(portico_service *svc, int timeout_ms)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    svc->timeout_ms = timeout_ms <= 0                  ? 0
                      : timeout_ms > PC_TIMEOUT_MAX_MS ? PC_TIMEOUT_MAX_MS
                                                       : timeout_ms;
    return 0;
}

PORTICO_API int portico_service_set_claim_check_bytes(portico_service *svc, size_t bytes)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    svc->claim_check_bytes = bytes;
    return 0;
}

PORTICO_API void portico_service_set_on_ready(portico_service *svc, portico_ready_fn *fn, void *ud)
{
    svc->ready_fn = fn;
    svc->ready_ud = ud;
}

PORTICO_API int portico_service_route(portico_service *svc, const char *method, const char *pattern,
                                      portico_handler_fn *handler, void *ud)
{
    struct pt_route *grown, *r;

    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (method == NULL || pattern == NULL || handler == NULL ||
        !pc_method_is_valid(method, strlen(method)) ||
        !pc_pattern_is_valid(pattern, strlen(pattern)) || svc->nroutes >= PC_WIRE_MAX_ROUTES)
        return PORTICO_ERR_INVALID;
    for (size_t i = 0; i < svc->nroutes; i++)
        if (strcmp(svc->routes[i].method, method) == 0 &&
            pt_pattern_equal(svc->routes[i].pattern, pattern))
            return PORTICO_ERR_INVALID;
    grown = realloc(svc->routes, (svc->nroutes + 1) * sizeof *grown);
    if (grown == NULL) return PORTICO_ERR_NOMEM;
    svc->routes = grown;
    r = &svc->routes[svc->nroutes];
    r->method = strdup(method);
    r->pattern = strdup(pattern);
    if (r->method == NULL || r->pattern == NULL) {
        free(r->method);
        free(r->pattern);
        return PORTICO_ERR_NOMEM;
    }
    r->handler = handler;
    r->ud = ud;
    r->async = false;
    svc->nroutes++;
    return 0;
}

PORTICO_API int portico_service_route_async(portico_service *svc, const char *method,
                                            const char *pattern)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (method == NULL || pattern == NULL) return PORTICO_ERR_INVALID;
    for (size_t i = 0; i < svc->nroutes; i++) {
        if (strcmp(svc->routes[i].method, method) == 0 &&
            pt_pattern_equal(svc->routes[i].pattern, pattern)) {
            svc->routes[i].async = true;
            return 0;
        }
    }
    return PORTICO_ERR_INVALID;
}

PORTICO_API int portico_service_enable_calls(portico_service *svc)
{
    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    svc->calls_enabled = true;
    return 0;
}

/* Frees what a start made (channel names, route declarations), so that a
 * start that failed leaves the service as it was. */
static void svc_unstart(portico_service *svc)
{
    free(svc->decls);
    free(svc->ch_svc);
    free(svc->ch_discover);
    free(svc->ch_register);
    free(svc->ch_reply);
    free(svc->ch_event_prefix);
    svc->decls = NULL;
    svc->ch_svc = svc->ch_discover = svc->ch_register = svc->ch_reply = NULL;
    svc->ch_event_prefix = NULL;
}

PORTICO_API int portico_service_start(portico_service *svc)
{
    pc_buf b;
    char id[PC_UUID_LEN + 1];
    int rc = PORTICO_ERR_NOMEM;

    if (svc->state != PT_SVC_NEW) return PORTICO_ERR_STATE;
    if (pc_uuid_v4(id) != 0) return PORTICO_ERR_NOMEM;
    snprintf(svc->caller_id, sizeof svc->caller_id, "%s", id);
    pc_buf_init(&b);
    pc_channel_svc(&b, svc->prefix, svc->instance);
    svc->ch_svc = b.oom ? NULL : strdup(b.data);
    pc_channel_discover(&b, svc->prefix);
    svc->ch_discover = b.oom ? NULL : strdup(b.data);
    pc_channel_register(&b, svc->prefix);
    svc->ch_register = b.oom ? NULL : strdup(b.data);
    pc_channel_reply(&b, svc->prefix, svc->caller_id);
    svc->ch_reply = b.oom ? NULL : strdup(b.data);
    pc_buf_deinit(&b);
    svc->ch_event_prefix = str_printf(svc->prefix, ":event:", "");
    svc->decls = calloc(svc->nroutes + 1, sizeof *svc->decls);
    if (svc->ch_svc == NULL || svc->ch_discover == NULL || svc->ch_register == NULL ||
        svc->ch_reply == NULL || svc->ch_event_prefix == NULL || svc->decls == NULL)
        goto fail;
    svc->ch_event_prefix_len = strlen(svc->ch_event_prefix);
    for (size_t i = 0; i < svc->nroutes; i++) {
        svc->decls[i].method = svc->routes[i].method;
        svc->decls[i].path = svc->routes[i].pattern;
        svc->decls[i].async = svc->routes[i].async;
    }
    if ((rc = check_register_size(svc)) != 0) goto fail;
    svc->state = PT_SVC_RUNNING;
    { /* the instance table's TTLs (calls) and the reply writer's memory */
        struct timeval tv = {PT_SWEEP_MS / 1000, (PT_SWEEP_MS % 1000) * 1000};
        event_add(svc->sweep_ev, &tv);
    }
    pt_log(svc, PORTICO_LOG_DEBUG, "starting %s instance %s", svc->name, svc->instance);
    if (pt_bus_start(svc->bus) != 0) return PORTICO_ERR_STATE;
    return 0;
fail:
    svc_unstart(svc);
    return rc;
}

PORTICO_API const char *portico_service_name(const portico_service *svc) { return svc->name; }

PORTICO_API const char *portico_service_instance(const portico_service *svc)
{
    return svc->instance;
}

PORTICO_API bool portico_service_is_connected(const portico_service *svc)
{
    return pt_bus_is_up(svc->bus) && svc->subs_expected == 0;
}

/* ---- stop ---- */

static void on_dereg_published(void *ud, long long receivers)
{
    portico_service *svc = ud;

    (void)receivers;
    if (svc->state != PT_SVC_STOPPING || svc->dereg_done) return;
    svc->dereg_done = true;
    pt_svc_check_drained(svc);
}

static void on_stop_event(evutil_socket_t fd, short what, void *arg)
{
    portico_service *svc = arg;

    (void)fd;
    if (svc->state != PT_SVC_STOPPING) return;
    if ((what & EV_TIMEOUT) && !svc->dereg_done) {
        pt_log(svc, PORTICO_LOG_WARN, "deregister not confirmed; stopping anyway");
        svc->dereg_done = true;
    }
    if (!svc->dereg_done || !pt_svc_is_drained(svc)) return;
    svc->state = PT_SVC_STOPPED;
    event_del(svc->sweep_ev);
    event_del(svc->stop_ev);
    event_del(svc->streams_ev);
    pt_bus_close(svc->bus);
    pt_log(svc, PORTICO_LOG_INFO, "stopped");
    if (svc->stopped_fn != NULL) {
        pt_svc_enter(svc);
        svc->stopped_fn(svc, svc->stopped_ud);
        pt_svc_leave(svc);
    }
}

/* The stop's bound on streams passed: those still open are ended. */
static void on_stop_streams(evutil_socket_t fd, short what, void *arg)
{
    portico_service *svc = arg;

    (void)fd;
    (void)what;
    if (svc->state != PT_SVC_STOPPING) return;
    if (svc->streams_open > 0)
        pt_log(svc, PORTICO_LOG_WARN, "%zu stream(s) still open %d ms into the stop: ending them",
               svc->streams_open, PORTICO_STOP_STREAM_MS);
    pt_streams_cut(svc);
}

PORTICO_API int portico_service_stop(portico_service *svc, portico_stopped_fn *fn, void *ud)
{
    if (svc->state != PT_SVC_RUNNING) return PORTICO_ERR_STATE;
    svc->state = PT_SVC_STOPPING;
    svc->stopped_fn = fn;
    svc->stopped_ud = ud;
    svc->dereg_done = true;
    event_del(svc->heartbeat_ev);
    { /* the bound on streams, open now or begun during the stop */
        struct timeval tv = {PORTICO_STOP_STREAM_MS / 1000, (PORTICO_STOP_STREAM_MS % 1000) * 1000};
        evtimer_add(svc->streams_ev, &tv);
    }
    if (svc->nroutes > 0 && pt_bus_is_up(svc->bus)) {
        pc_buf b;
        struct timeval tv = {PT_STOP_DEREG_WAIT_MS / 1000, (PT_STOP_DEREG_WAIT_MS % 1000) * 1000};

        /* Nothing new is served. The instance channel goes at once, so that a
         * gateway that still publishes on it hears 0 receivers and tries
         * another instance; but while streams are open it stays until the
         * last is over (drain.c), for their cancels (what else comes on it
         * meanwhile is answered 503: request.c). */
        if (svc->streams_open > 0)
            svc->ch_svc_kept = true;
        else
            pt_bus_unsubscribe(svc->bus, svc->ch_svc);
        pc_buf_init(&b);
        pc_wire_encode_deregister(&b, svc->name, svc->instance, pc_unix_ms());
        if (publish_registration(svc, &b, on_dereg_published, svc) == 0) {
            svc->dereg_done = false;
            event_add(svc->stop_ev, &tv);
        }
        pc_buf_deinit(&b);
        if (svc->ch_svc_kept)
            pt_log(svc, PORTICO_LOG_INFO, "deregistering %s; %zu stream(s) open, %d ms at most",
                   svc->instance, svc->streams_open, PORTICO_STOP_STREAM_MS);
        else
            pt_log(svc, PORTICO_LOG_INFO, "deregistering %s", svc->instance);
    }
    if (!pt_bus_is_up(svc->bus)) pt_bus_close(svc->bus);
    if (svc->dereg_done) event_active(svc->stop_ev, 0, 0);
    return 0;
}

/* ---- free ---- */

static void svc_really_free(portico_service *svc)
{
    svc->state = PT_SVC_STOPPED;
    svc->depth++; /* callbacks below may call free again: defer-flag only */
    svc->free_pending = true;
    if (svc->calls != NULL) pt_calls_fail_all(svc, PORTICO_ERR_CANCELLED);
    pt_bus_free(svc->bus);
    svc->bus = NULL;
    pt_requests_detach(svc);
    pt_events_free(svc);
    pt_table_deinit(&svc->table);
    pc_map_free(svc->calls);
    if (svc->heartbeat_ev != NULL) event_free(svc->heartbeat_ev);
    if (svc->sweep_ev != NULL) event_free(svc->sweep_ev);
    if (svc->stop_ev != NULL) event_free(svc->stop_ev);
    if (svc->streams_ev != NULL) event_free(svc->streams_ev);
    if (svc->free_ev != NULL) event_free(svc->free_ev);
    for (size_t i = 0; i < svc->nroutes; i++) {
        free(svc->routes[i].method);
        free(svc->routes[i].pattern);
    }
    free(svc->routes);
    svc_unstart(svc);
    pc_buf_deinit(&svc->reply_env);
    pc_buf_deinit(&svc->spare);
    free(svc);
}

static void on_free_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    svc_really_free(arg);
}

PORTICO_API void portico_service_free(portico_service *svc)
{
    if (svc == NULL) return;
    if (svc->depth > 0) {
        if (!svc->free_pending) {
            svc->free_pending = true;
            event_active(svc->free_ev, 0, 0);
        }
        return;
    }
    svc_really_free(svc);
}
