/* job.c -- asynchronous requests: accepting a job, storing its response
 * (see job.h; polls are in jobpoll.c). */
#include "job.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus.h"
#include "config.h"
#include "gw.h"
#include "jw.h"
#include "log.h"
#include "registry.h"
#include "stats.h"
#include "uuid.h"
#include "xalloc.h"

static struct pc_ratelimit job_log = {.interval_ms = 10000};

void gw_job_key(pc_buf *out, const char *id)
{
    pc_buf_reset(out);
    pc_buf_printf(out, "%s:job:%s", gw.cfg->prefix, id);
    if (out->oom) pc_panic("out of memory naming a job");
}

void gw_job_identity(const struct gw_req *r, char out[GW_JOB_IDENT_MAX])
{
    int n = 0;

    out[0] = '\0';
    if (r->auth_key_id[0] != '\0') n = snprintf(out, GW_JOB_IDENT_MAX, "key:%s", r->auth_key_id);
    if (r->auth_subject[0] != '\0')
        snprintf(out + n, GW_JOB_IDENT_MAX - (size_t)n, "%ssub:%s", n ? " " : "", r->auth_subject);
}

/* ------------------------------------------------------------------------ */
/* Prefer: respond-async                                                     */
/* ------------------------------------------------------------------------ */

/* Whether a Prefer value (RFC 7240: preference *( "," preference ), each
 * token [ "=" value ] *( ";" parameter )) holds respond-async. */
static bool prefer_async(const char *v, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t start;
        bool quoted = false;

        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        start = i;
        while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - start == 13 && strncasecmp(v + start, "respond-async", 13) == 0) return true;
        for (; i < n; i++) { /* to the next preference, past quoted strings */
            if (quoted) {
                if (v[i] == '\\')
                    i++;
                else if (v[i] == '"')
                    quoted = false;
            } else if (v[i] == '"') {
                quoted = true;
            } else if (v[i] == ',') {
                break;
            }
        }
    }
    return false;
}

bool gw_job_wanted(const struct gw_req *r)
{
    for (uint32_t i = 0; i < r->nhdrs; i++)
        if (r->hdrs[i].name_len == 6 && memcmp(gw_req_hdr_name(r, i), "prefer", 6) == 0 &&
            prefer_async(gw_req_hdr_value(r, i), r->hdrs[i].value_len))
            return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Accepting a job                                                           */
/* ------------------------------------------------------------------------ */

/* A job waiting for its record to be confirmed. */
struct submit {
    struct gw_req *r; /* the client's request: kept alive by r->job_pending */
    struct gw_req *j; /* the detached copy that will be forwarded */
    gw_job_cont *cont;
};

/* A copy of r that lives without a connection (r->job): what forwarding
 * reads of a request. */
static struct gw_req *detach(const struct gw_req *r)
{
    struct gw_req *j = gw_req_new();

    gw_req_copy_head(j, r);
    pc_buf_append(&j->body, r->body.data, r->body.len); /* with its room (req.h) */
    j->body_room = r->body_room;
    if (j->body.oom) pc_panic("out of memory copying a job");
    j->http_minor = r->http_minor;
    j->is_head = r->is_head;
    j->https = r->https;
    memcpy(j->remote_addr, r->remote_addr, sizeof j->remote_addr);
    memcpy(j->request_id, r->request_id, sizeof j->request_id);
    memcpy(j->auth_subject, r->auth_subject, sizeof j->auth_subject);
    memcpy(j->auth_key_id, r->auth_key_id, sizeof j->auth_key_id);
    j->start_ms = r->start_ms;
    j->trace = r->trace; /* the job's request carries the client's trace context */
    j->job = true;
    return j;
}

static void on_logged(void *priv, const struct gw_bus_reply *rep)
{
    (void)priv;
    if (rep != NULL && rep->type == GW_BUS_REPLY_ERROR &&
        pc_ratelimit_allow(&job_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "job", "writing a job record failed: %.*s",
               (int)(rep->len > 200 ? 200 : rep->len), rep->str);
}

static void delete_record(const char *id)
{
    pc_buf k;
    const char *argv[2] = {"DEL", NULL};
    size_t argvlen[2] = {3, 0};

    pc_buf_init(&k);
    gw_job_key(&k, id);
    argv[1] = k.data;
    argvlen[1] = k.len;
    (void)gw_bus_command(gw.bus, on_logged, NULL, 2, argv, argvlen);
    pc_buf_deinit(&k);
}

static void answer_accepted(struct gw_req *r, const char *id)
{
    char loc[sizeof GW_JOB_POLL_PREFIX + PC_UUID_LEN + 1], body[64 + PC_UUID_LEN];
    int ll = snprintf(loc, sizeof loc, "%s/%s", GW_JOB_POLL_PREFIX, id);
    int bl = snprintf(body, sizeof body, "{\"job\":\"%s\",\"status\":\"pending\"}\n", id);
    struct pc_kv h[2] = {{"location", 8, loc, (size_t)ll},
                         {"preference-applied", 18, "respond-async", 13}};

    gw_req_respond(r, 202, "application/json", h, 2, body, (size_t)bl);
}

/* The PEXPIRE that follows the record's HSET: 1 when the record exists. */
static void on_recorded(void *priv, const struct gw_bus_reply *rep)
{
    struct submit *s = priv;
    struct gw_req *r = s->r, *j = s->j;
    gw_job_cont *cont = s->cont;
    bool ok = rep != NULL && rep->type == GW_BUS_REPLY_INTEGER && rep->integer == 1;

    free(s);
    r->job_pending = false;
    if (r->conn == NULL || r->done) { /* the client left before the 202: nobody has the id */
        if (r->conn == NULL) gw_req_release(r);
        if (ok) delete_record(j->id);
        gw_req_free(j);
        return;
    }
    if (!ok) {
        gw_stats->jobs[GW_JOB_REFUSED]++;
        gw_req_free(j);
        gw_req_error(r, 503, "bus_unavailable", "the job could not be recorded");
        return;
    }
    gw_stats->jobs[GW_JOB_ACCEPTED]++;
    answer_accepted(r, j->id); /* r may be freed here */
    cont(j);
}

void gw_job_submit(struct gw_req *r, const struct gw_route *rt, const char *pattern,
                   gw_job_cont *cont)
{
    char deadline[24], ttl[24], ident[GW_JOB_IDENT_MAX];
    struct gw_req *j;
    struct submit *s;
    pc_buf key;

    if (rt->ninst == 0) {
        gw_req_error(r, 503, "no_instance", "no live instance serves this route");
        return;
    }
    j = detach(r);
    if (gw_req_bus_id(r, j->id) != 0) {
        gw_req_free(j);
        gw_req_error(r, 503, "no_entropy", "no randomness available for a request id");
        return;
    }
    j->deadline_ms = gw_now_unix_ms() + (uint64_t)gw.cfg->async_timeout_ms;
    gw_job_identity(r, ident);
    pc_buf_init(&key);
    gw_job_key(&key, j->id);
    snprintf(deadline, sizeof deadline, "%llu", (unsigned long long)j->deadline_ms);
    snprintf(ttl, sizeof ttl, "%lld", (long long)gw.cfg->async_timeout_ms + gw.cfg->job_ttl_ms);
    const char *hset[16] = {"HSET",       key.data,      "state",   "pending", "deadline", deadline,
                            "route",      pattern,       "method",  r->method, "ident",    ident,
                            "request_id", r->request_id, "gateway", gw.id};
    const char *pexpire[3] = {"PEXPIRE", key.data, ttl};
    size_t hlen[16], plen[3];
    for (int i = 0; i < 16; i++) hlen[i] = strlen(hset[i]);
    for (int i = 0; i < 3; i++) plen[i] = strlen(pexpire[i]);
    if (gw_bus_command(gw.bus, on_logged, NULL, 16, hset, hlen) != 0) goto down;
    s = pc_xmalloc(sizeof *s);
    *s = (struct submit){r, j, cont};
    r->job_pending = true;
    if (gw_bus_command(gw.bus, on_recorded, s, 3, pexpire, plen) != 0) {
        r->job_pending = false;
        free(s);
        goto down;
    }
    pc_buf_deinit(&key);
    return;
down:
    pc_buf_deinit(&key);
    gw_stats->jobs[GW_JOB_REFUSED]++;
    gw_req_free(j);
    gw_req_error(r, 503, "bus_unavailable", "the message bus is unavailable");
}

/* ------------------------------------------------------------------------ */
/* Storing the response                                                      */
/* ------------------------------------------------------------------------ */

struct stored {
    char id[PC_UUID_LEN + 1];
    int status;
    enum gw_job_result result;
};

/* The PEXPIRE after the final HSET: the record is done; tell subscribers. */
static void on_stored(void *priv, const struct gw_bus_reply *rep)
{
    struct stored *d = priv;

    if (rep != NULL && rep->type == GW_BUS_REPLY_INTEGER && rep->integer == 1) {
        /* An event as services publish them (protocol.md, Events); its id is
         * the job's: one completion per job. */
        char ch[96], msg[384];
        int ml = snprintf(msg, sizeof msg,
                          "{\"v\":1,\"type\":\"event\",\"id\":\"%s\",\"topic\":\"portico.job\","
                          "\"source\":\"portico\",\"instance\":\"%s\",\"ts_ms\":%llu,"
                          "\"data\":{\"id\":\"%s\",\"status\":%d,\"state\":\"done\"}}",
                          d->id, gw.id, (unsigned long long)gw_now_unix_ms(), d->id, d->status);
        snprintf(ch, sizeof ch, "%s:event:portico.job", gw.cfg->prefix);
        gw_stats->jobs[d->result]++;
        (void)gw_bus_publish(gw.bus, ch, msg, (size_t)ml, NULL);
    } else {
        gw_stats->jobs[GW_JOB_LOST]++;
        if (pc_ratelimit_allow(&job_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "job", "the response of job %s could not be stored", d->id);
    }
    free(d);
}

/* The job's response (req.h sink): into its record. ctype is set only for
 * the gateway's own answers (errors); a service's reply comes without. */
static void on_response(struct gw_req *j, int status, const char *ctype,
                        const struct pc_kv *headers, size_t nheaders, const void *body,
                        size_t body_len, struct evbuffer *ebody)
{
    char st[16], ttl[24];
    bool has_body = !j->is_head && status != 204 && status != 304;
    struct stored *d = pc_xmalloc(sizeof *d);
    pc_buf key, hj;

    memcpy(d->id, j->id, sizeof d->id);
    d->status = status;
    d->result = ctype == NULL ? GW_JOB_COMPLETED : status == 504 ? GW_JOB_TIMEOUT : GW_JOB_FAILED;
    if (ebody != NULL) {
        body_len = evbuffer_get_length(ebody);
        body = body_len ? (const void *)evbuffer_pullup(ebody, -1) : "";
    }
    pc_buf_init(&key);
    pc_buf_init(&hj);
    gw_job_key(&key, j->id);
    pc_buf_putc(&hj, '[');
    if (ctype != NULL) {
        pc_buf_puts(&hj, "[\"content-type\",");
        pc_jw_cstr(&hj, ctype);
        pc_buf_putc(&hj, ']');
    }
    for (size_t i = 0; i < nheaders; i++) {
        if (hj.len > 1) pc_buf_putc(&hj, ',');
        pc_buf_putc(&hj, '[');
        pc_jw_str(&hj, headers[i].name, headers[i].name_len);
        pc_buf_putc(&hj, ',');
        pc_jw_str(&hj, headers[i].value, headers[i].value_len);
        pc_buf_putc(&hj, ']');
    }
    pc_buf_putc(&hj, ']');
    if (hj.oom) pc_panic("out of memory storing a job");

    snprintf(st, sizeof st, "%d", status);
    snprintf(ttl, sizeof ttl, "%d", gw.cfg->job_ttl_ms);
    const char *argv[10] = {"HSET", key.data,  "state", "done", "status",
                            st,     "headers", hj.data, "body", has_body ? (const char *)body : ""};
    size_t argvlen[10] = {4, key.len, 5, 4, 6, strlen(st), 7, hj.len, 4, has_body ? body_len : 0};
    const char *pexpire[3] = {"PEXPIRE", key.data, ttl};
    size_t plen[3] = {7, key.len, strlen(ttl)};
    /* Both or neither: the bus is up for both within one callback. */
    if (gw_bus_command(gw.bus, on_logged, NULL, 10, argv, argvlen) != 0 ||
        gw_bus_command(gw.bus, on_stored, d, 3, pexpire, plen) != 0) {
        gw_stats->jobs[GW_JOB_LOST]++;
        if (pc_ratelimit_allow(&job_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "job", "job %s ended (%d) with the bus down: not stored", j->id,
                   status);
        free(d);
    }
    pc_buf_deinit(&key);
    pc_buf_deinit(&hj);
    j->job = false;
    gw_req_release(j); /* freed now, or by its outstanding PUBLISH callback */
}

void gw_job_init(void) { gw_req_set_job_sink(on_response); }
