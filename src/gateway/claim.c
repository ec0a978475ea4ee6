/* claim.c -- large bodies through Redis keys (see claim.h). */
#include "claim.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "config.h"
#include "gw.h"
#include "inflight.h"
#include "log.h"
#include "registry.h"
#include "stats.h"
#include "xalloc.h"

static gw_claim_done_fn *claim_done;
static gw_claim_head_fn *claim_head;
static pc_buf key; /* the last key named */
static struct pc_ratelimit claim_log = {.interval_ms = 10000};

/* A reply body being read: the reply's status and headers (copied), where
 * the body goes, how far it is read. Collected (a job, a HEAD, a bodiless
 * status), it is found again by request id only; streamed, the request is
 * out of flight once the head is out and r (NULL when the client left)
 * points to it and back (r->claim_rd). */
struct gw_claim_rd {
    char id[PC_UUID_LEN + 1];
    int status;
    size_t len, off;             /* off: bytes received */
    size_t asked;                /* bytes asked for (off + those of the GETRANGEs unanswered) */
    bool streamed;               /* sent to the client slice by slice */
    bool head_out;               /* ... and its head went out: r is set, not in flight */
    bool dead;                   /* ended while GETRANGEs were unanswered: the last one frees it */
    unsigned pending;            /* GETRANGEs unanswered (up to GW_CLAIM_AHEAD)... */
    unsigned first;              /* ...the oldest one's place in want */
    size_t want[GW_CLAIM_AHEAD]; /* ...for these many bytes each (see fetch_next) */
    struct gw_req *r;
    struct evbuffer *body;
    struct pc_kv *headers; /* into text */
    size_t nheaders;
    char *text;
    char key[];
};

bool gw_claim_wanted(const struct gw_req *r, const struct gw_instance *inst)
{
    if (r->body_stream) return inst->claim_check; /* stored as it arrives (claimstore.c) */
    return gw.cfg->claim_check_bytes > 0 &&
           r->body.len - r->body_room > (size_t)gw.cfg->claim_check_bytes && inst->claim_check;
}

const char *gw_claim_request_key(const struct gw_req *r)
{
    pc_body_key(&key, gw.cfg->prefix, r->id, false);
    if (key.oom) pc_panic("out of memory naming a body key");
    return key.data;
}

static void on_stored(void *priv, const struct gw_bus_reply *rep)
{
    (void)priv;
    if (rep != NULL && rep->type == GW_BUS_REPLY_ERROR &&
        pc_ratelimit_allow(&claim_log, gw_now_mono_ms()))
        pc_log(PC_LOG_WARN, "claim", "storing a request body failed: %.*s",
               (int)(rep->len > 200 ? 200 : rep->len), rep->str);
}

int gw_claim_store(struct gw_req *r)
{
    uint64_t now = gw_now_unix_ms();
    uint64_t ttl = (r->deadline_ms > now ? r->deadline_ms - now : 0) + GW_CLAIM_TTL_MARGIN_MS;
    char ms[24];
    int msl = snprintf(ms, sizeof ms, "%llu", (unsigned long long)ttl);
    const char *k = gw_claim_request_key(r);
    size_t body_len;
    const char *argv[5] = {"SET", k, gw_req_body(r, &body_len), "PX", ms};
    size_t argvlen[5] = {3, key.len, body_len, 2, (size_t)msl};

    if (gw_bus_command(gw.bus, on_stored, NULL, 5, argv, argvlen) != 0) return -1;
    gw_stats->claim_stored++;
    return 0;
}

static void on_deleted(void *priv, const struct gw_bus_reply *rep)
{
    (void)priv;
    (void)rep;
}

static void delete_key(const char *k)
{
    const char *argv[2] = {"DEL", k};
    size_t argvlen[2] = {3, strlen(k)};
    (void)gw_bus_command(gw.bus, on_deleted, NULL, 2, argv, argvlen);
}

void gw_claim_unstore(struct gw_req *r) { delete_key(gw_claim_request_key(r)); }

/* ---------------------------------------------------------------- replies */

static unsigned transfers; /* large bodies in transfer, both ways */
static size_t reading;     /* bytes asked for by GETRANGEs not yet answered */

void gw_claim_transfer(bool begins)
{
    if (begins)
        transfers++;
    else if (transfers > 0)
        transfers--;
}

size_t gw_claim_share(size_t min)
{
    size_t share = GW_CLAIM_BUDGET / (transfers ? transfers : 1);
    if (share > GW_CLAIM_SHARE_MAX) share = GW_CLAIM_SHARE_MAX;
    return share < min ? min : share;
}

static void fetch_free(struct gw_claim_rd *f);

/* f is over: freed now, or by the last of its unanswered GETRANGEs. */
static void fetch_drop(struct gw_claim_rd *f)
{
    if (f->pending > 0)
        f->dead = true;
    else
        fetch_free(f);
}

static void fetch_free(struct gw_claim_rd *f)
{
    gw_claim_transfer(false);
    if (f->body) evbuffer_free(f->body);
    free(f->headers);
    free(f->text);
    free(f);
}

/* The request f reads for, if it still waits for it. */
static struct gw_req *fetch_req(const struct gw_claim_rd *f)
{
    struct gw_req *r = gw_inflight_find(f->id, PC_UUID_LEN);
    return r != NULL && r->claim_reading ? r : NULL;
}

/* Ends f for r: with the body when why is NULL, else a 502. */
static void fetch_end(struct gw_claim_rd *f, struct gw_req *r, const char *why)
{
    if (why != NULL && strcmp(why, "missing") == 0) gw_stats->claim_missing++;
    if (why == NULL) gw_stats->claim_fetched++;
    claim_done(r, f->status, f->headers, f->nheaders, why ? NULL : f->body, why);
    fetch_drop(f);
}

static void on_range(void *priv, const struct gw_bus_reply *rep);

/* Asks for the next slice; on the last one one byte more than announced,
 * so that a longer value is seen. 0, -1 (bus down) or 1: not asked, the
 * budget has no room for a slice ahead. */
static int fetch_next(struct gw_claim_rd *f)
{
    size_t left = f->len - f->asked, slice = gw_claim_share(GW_CLAIM_SLICE), want;

    /* A slice ahead only within the budget; the first one unanswered within
     * what the budget has left (GW_CLAIM_SLICE always: progress). */
    if (f->pending > 0 && reading + (left < slice ? left : slice) > GW_CLAIM_BUDGET) return 1;
    if (reading + slice > GW_CLAIM_BUDGET)
        slice =
            reading + GW_CLAIM_SLICE < GW_CLAIM_BUDGET ? GW_CLAIM_BUDGET - reading : GW_CLAIM_SLICE;
    want = left > slice ? slice : left;
    char from[24], to[24];
    int fl = snprintf(from, sizeof from, "%zu", f->asked);
    int tl = snprintf(to, sizeof to, "%zu", f->asked + want - (want < left ? 1 : 0));
    const char *argv[4] = {"GETRANGE", f->key, from, to};
    size_t argvlen[4] = {8, strlen(f->key), (size_t)fl, (size_t)tl};

    if (gw_bus_command(gw.bus, on_range, f, 4, argv, argvlen) != 0) return -1;
    f->want[(f->first + f->pending) % GW_CLAIM_AHEAD] = want;
    f->pending++;
    f->asked += want;
    reading += want;
    return 0;
}

/* A streamed body cut short after its head went out: the key deleted, the
 * response truncated and the connection closed (r NULL: the client left). */
static void stream_abort(struct gw_claim_rd *f, struct gw_req *r, bool missing)
{
    if (missing) gw_stats->claim_missing++;
    delete_key(f->key);
    fetch_drop(f);
    if (r == NULL) return;
    r->claim_rd = NULL;
    gw_req_stream_abort(r);
}

/* The client's output held for r, written or not. */
static size_t held(struct gw_req *r) { return evbuffer_get_length(gw_req_stream_buffer(r)); }

/* Asks for the next slices of a streamed body, up to GW_CLAIM_AHEAD
 * unanswered, while the client's output holds no more than a slice
 * (GW_CLAIM_OUT_LOW at least); else waits for it to drain (r->on_drain).
 * False when the bus is down: the response was cut short, f is dropped. */
static bool stream_pump(struct gw_claim_rd *f, struct gw_req *r)
{
    bool asked = false;

    while (f->pending < GW_CLAIM_AHEAD && f->asked < f->len) {
        if (held(r) > gw_claim_share(GW_CLAIM_OUT_LOW)) {
            r->on_drain = gw_claim_drained;
            break;
        }
        int rc = fetch_next(f);
        if (rc > 0) break; /* no room ahead: asked when a slice comes */
        if (rc < 0) {      /* bus down: nothing more can come */
            fetch_drop(f);
            r->claim_rd = NULL;
            gw_req_stream_abort(r);
            return false;
        }
        asked = true;
    }
    /* Alone, its asks go out before its client is written to (latency);
     * many transfers' asks leave together at the end of the iteration. */
    if (asked && transfers == 1) gw_bus_send_now(gw.bus);
    return true;
}

void gw_claim_drained(struct gw_req *r)
{
    struct gw_claim_rd *f = r->claim_rd;
    if (f != NULL) (void)stream_pump(f, r);
}

void gw_claim_cancel(struct gw_req *r)
{
    struct gw_claim_rd *f = r->claim_rd;
    if (f == NULL) return;
    r->claim_rd = NULL;
    if (f->pending > 0) {
        f->r = NULL; /* on_range deletes the key */
        return;
    }
    delete_key(f->key);
    fetch_free(f);
}

static void free_taken(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

/* A slice onto r's response: the reply's own bytes, referenced (no copy). */
static void slice_out(struct gw_req *r, const struct gw_bus_reply *rep)
{
    char *s;

    if (r->conn == NULL) return; /* (as gw_req_stream_append) */
    if ((s = gw_bus_reply_take(rep)) == NULL) {
        gw_req_stream_append(r, rep->str, rep->len, false);
        return;
    }
    pc_check(evbuffer_add_reference(gw_req_stream_buffer(r), s, rep->len, free_taken, NULL) == 0);
    gw_req_stream_appended(r, rep->len);
}

/* A slice of a streamed body for r (the first one: the head goes out with
 * it, the request leaves flight). The next slices are asked for before
 * this one is written: Redis reads them meanwhile. */
static void stream_slice(struct gw_claim_rd *f, struct gw_req *r, const struct gw_bus_reply *rep)
{
    size_t n = rep->len;

    if (!f->head_out) {
        if (!claim_head(r, f->status, f->headers, f->nheaders, f->len)) { /* client gone */
            delete_key(f->key);
            fetch_drop(f);
            return;
        }
        f->head_out = true;
        f->r = r;
        r->claim_rd = f;
    }
    f->off += n;
    if (f->off == f->len) {
        slice_out(r, rep);
        gw_stats->claim_fetched++;
        delete_key(f->key);
        fetch_drop(f); /* (nothing is unanswered: everything asked came) */
        r->claim_rd = NULL;
        gw_req_stream_end(r);
        return;
    }
    if (!stream_pump(f, r)) return;
    slice_out(r, rep);
    gw_req_stream_push(r);
}

static void on_range(void *priv, const struct gw_bus_reply *rep)
{
    struct gw_claim_rd *f = priv;
    struct gw_req *r;
    size_t want = f->want[f->first];

    f->first = (f->first + 1) % GW_CLAIM_AHEAD;
    f->pending--;
    reading -= want;
    if (f->dead) { /* ended meanwhile: its key is deleted */
        if (f->pending == 0) fetch_free(f);
        return;
    }
    if (f->head_out) {
        r = f->r;
        if (rep == NULL) { /* bus gone: the rest cannot be read */
            stream_abort(f, r, false);
            return;
        }
    } else {
        r = rep != NULL ? fetch_req(f) : NULL;
        if (rep == NULL) { /* bus gone: its requests were answered 503 */
            fetch_drop(f);
            return;
        }
    }
    if (r == NULL) { /* answered meanwhile (deadline, client gone) */
        delete_key(f->key);
        fetch_drop(f);
        return;
    }
    if (rep->type != GW_BUS_REPLY_STRING) {
        if (pc_ratelimit_allow(&claim_log, gw_now_mono_ms()))
            pc_log(PC_LOG_WARN, "claim", "reading a reply body for %s failed: %.*s", f->id,
                   (int)(rep->len > 200 ? 200 : rep->len), rep->str ? rep->str : "");
        if (f->head_out)
            stream_abort(f, r, false);
        else
            fetch_end(f, r, "redis_error");
        return;
    }
    /* A slice short of what was asked: the key is gone, expired or shorter
     * than announced; one byte more on the last: longer. Before the head
     * went out that is a 502; after it, a truncated response. */
    if (rep->len != want) {
        if (f->head_out) {
            stream_abort(f, r, true);
            return;
        }
        delete_key(f->key);
        fetch_end(f, r, "missing");
        return;
    }
    if (f->streamed) {
        stream_slice(f, r, rep);
        return;
    }
    pc_check(evbuffer_add(f->body, rep->str, rep->len) == 0);
    f->off += rep->len;
    if (f->off == f->len) {
        delete_key(f->key);
        fetch_end(f, r, NULL);
    } else if (fetch_next(f) != 0) {
        fetch_drop(f); /* bus down: r is answered 503 with the others */
    }
}

/* True if ref is exactly "<prefix>:body:<id>:rep". */
static bool ref_is_reply_key(const char *ref, const char *id, size_t id_len)
{
    if (id_len != PC_UUID_LEN) return false;
    char idz[PC_UUID_LEN + 1];
    memcpy(idz, id, PC_UUID_LEN);
    idz[PC_UUID_LEN] = '\0';
    pc_body_key(&key, gw.cfg->prefix, idz, true);
    return !key.oom && strcmp(ref, key.data) == 0;
}

void gw_claim_fetch(struct gw_req *r, int status, const struct pc_kv *headers, size_t nheaders,
                    const char *ref, size_t len)
{
    size_t klen = strlen(ref), bytes = 0;
    struct gw_claim_rd *f;
    char *t;

    f = pc_xcalloc(1, sizeof *f + klen + 1);
    gw_claim_transfer(true);
    memcpy(f->id, r->id, sizeof f->id);
    memcpy(f->key, ref, klen + 1);
    f->status = status;
    f->len = len;
    for (size_t i = 0; i < nheaders; i++) bytes += headers[i].name_len + headers[i].value_len;
    f->headers = nheaders ? pc_xmalloc(nheaders * sizeof *f->headers) : NULL;
    f->text = t = pc_xmalloc(bytes + 1);
    for (size_t i = 0; i < nheaders; i++) {
        f->headers[i] =
            (struct pc_kv){t, headers[i].name_len, t + headers[i].name_len, headers[i].value_len};
        memcpy(t, headers[i].name, headers[i].name_len);
        t += headers[i].name_len;
        memcpy(t, headers[i].value, headers[i].value_len);
        t += headers[i].value_len;
    }
    f->nheaders = nheaders;
    f->body = evbuffer_new();
    pc_check(f->body != NULL);

    if (!ref_is_reply_key(ref, r->id, strlen(r->id))) {
        fetch_end(f, r, "bad_ref");
        return;
    }
    if (len > (size_t)gw.cfg->max_reply_bytes) {
        delete_key(f->key);
        fetch_end(f, r, "reply_too_large");
        return;
    }
    if (len == 0) {
        delete_key(f->key);
        fetch_end(f, r, NULL);
        return;
    }
    /* A client waits and the response has a body: it streams. */
    f->streamed = !r->job && r->conn != NULL && !r->is_head && status != 204 && status != 304;
    if (fetch_next(f) != 0) fetch_free(f); /* bus down: r is answered 503 with the others */
}

void gw_claim_discard(const char *id, size_t id_len, const char *ref)
{
    if (ref_is_reply_key(ref ? ref : "", id, id_len) || (ref == NULL && !key.oom))
        delete_key(key.data);
}

void gw_claim_init(gw_claim_done_fn *done, gw_claim_head_fn *head)
{
    claim_done = done;
    claim_head = head;
    pc_buf_init(&key);
}

void gw_claim_deinit(void) { pc_buf_deinit(&key); }
