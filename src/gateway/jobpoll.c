/* jobpoll.c -- GET /_portico/jobs/<id>: a job's state or its stored
 * response, on any gateway on the same Redis (see job.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bus.h"
#include "config.h"
#include "gw.h"
#include "job.h"
#include "ratelimit.h"
#include "stats.h"
#include "uuid.h"
#include "xalloc.h"

#define PREFIX_LEN (sizeof GW_JOB_POLL_PREFIX - 1)

/* The fields read, in this order (HMGET). */
enum {
    F_STATE,
    F_DEADLINE,
    F_ROUTE,
    F_METHOD,
    F_IDENT,
    F_REQUEST_ID,
    F_STATUS,
    F_HEADERS,
    F_BODY,
    F_N
};

bool gw_job_is_poll(const struct gw_req *r)
{
    return r->path_len >= PREFIX_LEN && memcmp(r->head.data, GW_JOB_POLL_PREFIX, PREFIX_LEN) == 0 &&
           (r->path_len == PREFIX_LEN || r->head.data[PREFIX_LEN] == '/');
}

/* A job id as the gateway makes them: a canonical lower-case UUIDv4
 * (version 4, RFC 4122 variant). Anything else is no job: 404 without
 * asking Redis. */
static bool id_ok(const char *s, size_t n)
{
    if (n != PC_UUID_LEN || !pc_uuid_is_valid(s, n)) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'F') return false;
    return s[14] == '4' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

static void not_found(struct gw_req *r) { gw_req_error(r, 404, "not_found", "no such job"); }

static bool field_is(const struct gw_bus_reply *f, const char *s)
{
    return f->type == GW_BUS_REPLY_STRING && f->len == strlen(s) && memcmp(f->str, s, f->len) == 0;
}

/* A field as a NUL-terminated string in out (cap bytes); false if it is
 * not a string or does not fit. */
static bool field_str(const struct gw_bus_reply *f, char *out, size_t cap)
{
    if (f->type != GW_BUS_REPLY_STRING || f->len >= cap) return false;
    memcpy(out, f->str, f->len);
    out[f->len] = '\0';
    return true;
}

static bool field_u64(const struct gw_bus_reply *f, unsigned long long *v)
{
    char t[24], *end;
    if (!field_str(f, t, sizeof t) || t[0] < '0' || t[0] > '9') return false;
    *v = strtoull(t, &end, 10);
    return *end == '\0';
}

/* Whether r may read the job: r's credentials pass the rule of the job's
 * route and method now, and give the identity the job was submitted with.
 * Any mismatch looks like an unknown job (404), never 401/403. */
static bool may_read(struct gw_req *r, const struct gw_bus_reply *f)
{
    char route[1024], method[sizeof r->method], mine[GW_JOB_IDENT_MAX];

    if (!field_str(&f[F_ROUTE], route, sizeof route) ||
        !field_str(&f[F_METHOD], method, sizeof method) || f[F_IDENT].type != GW_BUS_REPLY_STRING)
        return false;
    if (!gw_auth_identify(r, route, method)) return false;
    gw_job_identity(r, mine);
    return f[F_IDENT].len == strlen(mine) && memcmp(f[F_IDENT].str, mine, f[F_IDENT].len) == 0;
}

static void answer_pending(struct gw_req *r, const char *id)
{
    char body[64 + PC_UUID_LEN];
    int bl = snprintf(body, sizeof body, "{\"job\":\"%s\",\"status\":\"pending\"}\n", id);
    struct pc_kv h = {"retry-after", 11, GW_JOB_RETRY_AFTER, sizeof GW_JOB_RETRY_AFTER - 1};
    gw_req_respond(r, 202, "application/json", &h, 1, body, (size_t)bl);
}

/* The stored response, as it was to be sent: with the x-request-id of the
 * request that submitted the job (the one its error bodies name). */
static void answer_done(struct gw_req *r, const struct gw_bus_reply *f)
{
    unsigned long long status;
    json_t *hs = NULL;
    struct pc_kv *kv = NULL;
    size_t n = 0;
    char rid[sizeof r->request_id];

    if (field_str(&f[F_REQUEST_ID], rid, sizeof rid) && rid[0] != '\0')
        memcpy(r->request_id, rid, sizeof rid);

    if (!field_u64(&f[F_STATUS], &status) || status < 200 || status > 599 ||
        f[F_HEADERS].type != GW_BUS_REPLY_STRING || f[F_BODY].type != GW_BUS_REPLY_STRING)
        goto bad;
    hs = json_loadb(f[F_HEADERS].str, f[F_HEADERS].len, 0, NULL);
    if (!json_is_array(hs)) goto bad;
    n = json_array_size(hs);
    kv = n ? pc_xmalloc(n * sizeof *kv) : NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *pair = json_array_get(hs, i), *k = json_array_get(pair, 0),
               *v = json_array_get(pair, 1);
        if (json_array_size(pair) != 2 || !json_is_string(k) || !json_is_string(v)) goto bad;
        kv[i] = (struct pc_kv){json_string_value(k), json_string_length(k), json_string_value(v),
                               json_string_length(v)};
    }
    gw_req_respond(r, (int)status, NULL, kv, n, f[F_BODY].str, f[F_BODY].len);
    free(kv);
    json_decref(hs);
    return;
bad:
    free(kv);
    json_decref(hs);
    gw_req_error(r, 502, "bad_reply", "the job's record is damaged");
}

static void on_read(void *priv, const struct gw_bus_reply *rep)
{
    struct gw_req *r = priv;
    const struct gw_bus_reply *f;
    unsigned long long deadline;
    const char *id = r->head.data + PREFIX_LEN + 1;
    char idz[PC_UUID_LEN + 1];

    r->job_pending = false;
    if (r->conn == NULL) { /* the client left meanwhile */
        gw_req_free(r);
        return;
    }
    if (r->done) return;
    if (rep == NULL || rep->type != GW_BUS_REPLY_ARRAY || rep->elements != F_N) {
        gw_req_error(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    f = rep->element;
    if (f[F_STATE].type == GW_BUS_REPLY_NIL || !may_read(r, f)) {
        not_found(r);
        return;
    }
    if (field_is(&f[F_STATE], "done")) {
        answer_done(r, f);
    } else if (!field_is(&f[F_STATE], "pending") || !field_u64(&f[F_DEADLINE], &deadline)) {
        gw_req_error(r, 502, "bad_reply", "the job's record is damaged");
    } else if (gw_now_unix_ms() >= deadline) { /* its gateway is gone, or late storing it */
        gw_req_error(r, 504, "timeout", "the service did not reply in time");
    } else {
        memcpy(idz, id, PC_UUID_LEN);
        idz[PC_UUID_LEN] = '\0';
        answer_pending(r, idz);
    }
}

/* The record's lookup, once the poll is allowed. */
static void lookup(struct gw_req *r)
{
    static const char *const fields[F_N] = {"state",      "deadline", "route",   "method", "ident",
                                            "request_id", "status",   "headers", "body"};
    const char *argv[2 + F_N];
    size_t argvlen[2 + F_N];
    const char *id = r->head.data + PREFIX_LEN + 1;
    pc_buf key;
    int rc;

    if (!gw_bus_is_up(gw.bus)) {
        gw_req_error(r, 503, "bus_unavailable", "the message bus is unavailable");
        return;
    }
    pc_buf_init(&key);
    gw_job_key(&key, "");
    pc_buf_append(&key, id, PC_UUID_LEN);
    if (key.oom) pc_panic("out of memory naming a job");
    argv[0] = "HMGET";
    argv[1] = key.data;
    argvlen[0] = 5;
    argvlen[1] = key.len;
    for (int i = 0; i < F_N; i++) {
        argv[2 + i] = fields[i];
        argvlen[2 + i] = strlen(fields[i]);
    }
    r->job_pending = true;
    rc = gw_bus_command(gw.bus, on_read, r, 2 + F_N, argv, argvlen);
    pc_buf_deinit(&key);
    if (rc != 0) {
        r->job_pending = false;
        gw_req_error(r, 503, "bus_unavailable", "the message bus is unavailable");
    }
}

void gw_job_poll(struct gw_req *r)
{
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        struct pc_kv allow = {"allow", 5, "GET, HEAD", 9};
        gw_req_error_hdr(r, 405, "method_not_allowed", "a job is read with GET or HEAD", &allow);
        return;
    }
    if (r->path_len <= PREFIX_LEN + 1 ||
        !id_ok(r->head.data + PREFIX_LEN + 1, r->path_len - PREFIX_LEN - 1)) {
        not_found(r);
        return;
    }
    /* Polls are limited like a route of that pattern (the default rule,
     * or a rule naming it): each one costs a Redis lookup. */
    if (gw_ratelimit_check(r, GW_JOB_POLL_PATTERN, lookup) != GW_RL_CONTINUE) return;
    lookup(r);
}
