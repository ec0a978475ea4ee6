/* req.h -- one HTTP request, from its parse to its response.
 *
 * A request lives in its connection's queue (responses leave in request
 * order). The forwarding fields are used by forward.c only. A request whose
 * client went away while a PUBLISH (or a rate-limit call) for it was still
 * unanswered is "orphaned": conn is NULL and that callback frees it. */
#ifndef GW_REQ_H
#define GW_REQ_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "buf.h"
#include "cidr.h"
#include "headers.h"
#include "names.h"
#include "trace.h"
#include "uuid.h"
#include "wire.h"

struct gw_conn;
struct gw_instance;
struct gw_stream;
struct gw_hx;
struct gw_claim_rd;
struct gw_claim_up;

#define GW_AUTH_SUBJECT_MAX 255 /* bytes of a verified JWT "sub" */
#define GW_AUTH_KEY_ID_MAX 64   /* bytes of an API key id */
/* Bytes of the access log's instance: an instance id (PC_INSTANCE_MAX) or
 * an HTTP upstream's URL (GW_UPSTREAM_URL_MAX, upstream.h). */
#define GW_REQ_LOG_INSTANCE_MAX 300

/* How a request reaches its connection (r->conn): conn.c registers its
 * functions (conn.h says what each does) before the first connection is
 * made, and the request layer (req.c, reqbody.c) calls them through this
 * table, never conn.c by name: it does not call back up into the layer
 * that holds it. */
struct gw_req;
struct gw_conn;
struct evbuffer;
struct gw_req_conn_ops {
    struct evbuffer *(*response_buffer)(struct gw_conn *c, struct gw_req *r);
    void (*on_response)(struct gw_conn *c, struct gw_req *r);
    void (*stream_wrote)(struct gw_conn *c, struct gw_req *r);
    void (*body_reading)(struct gw_conn *c, struct gw_req *r, bool on);
    void (*body_continue)(struct gw_conn *c, struct gw_req *r);
};
extern const struct gw_req_conn_ops *gw_req_conn;

struct gw_req {
    struct gw_conn *conn; /* NULL when orphaned */
    TAILQ_ENTRY(gw_req) queue;

    /* -- the parsed request -- */
    char method[24];
    pc_buf head;         /* target, then header names and values */
    uint32_t target_len; /* target is head.data[0..target_len) */
    uint32_t path_len;   /* path is the target up to '?' */
    struct gw_hdr *hdrs;
    uint32_t nhdrs, hdrs_cap;
    pc_buf body;          /* body_room bytes of room, then the body: gw_req_body() */
    size_t body_room;     /* where a v2 request's head goes (forward.c), no copy of the body */
    uint64_t body_length; /* from the head: Content-Length, GW_REQ_NO_LENGTH if chunked, 0 none */
    uint8_t http_minor;   /* 1.0 or 1.1 */
    bool keep_alive;      /* the client's wish (http_should_keep_alive) */
    bool is_head;
    bool admin;                    /* from the admin listener: not in the HTTP metrics */
    bool https;                    /* arrived over TLS: x-forwarded-proto https */
    char remote_addr[GW_ADDR_MAX]; /* the client's address (clientaddr.h): everyone reads this */
    char request_id[GW_REQUEST_ID_MAX + 1];
    bool request_id_made; /* by the gateway (a UUIDv4), not the client's */
    uint64_t start_ms;    /* monotonic, when complete (refused before that: its first byte) */

    /* -- the response -- */
    bool done;        /* response serialized into out */
    bool close_after; /* close the connection after this response */
    int status;
    struct evbuffer *out; /* the serialized response while queued */

    /* -- forwarding (forward.c) -- */
    char id[PC_UUID_LEN + 1];
    struct event deadline;
    bool deadline_set;
    bool in_flight;                   /* in the in-flight table */
    LIST_ENTRY(gw_req) inflight_link; /* its bucket there, while in_flight */
    bool publish_pending;             /* a PUBLISH callback is outstanding */
    int tries;
    uint64_t deadline_ms;     /* unix ms sent to the service */
    struct gw_instance *inst; /* referenced while in flight */
    pc_buf envelope;          /* kept for PUBLISH=0 retries (and a timed-out try's retry) */
    bool probe;               /* this try is inst's probe (outlier.h) */
    bool may_retry;           /* retry route, idempotent method, not retried yet */
    bool waiting;             /* parked in the announcement wait list */
    LIST_ENTRY(gw_req) wait_link;
    struct event try_timer; /* per-try timeout (retry), or the end of the wait */
    bool try_timer_set;
    bool claimed;     /* the envelope carries body_ref: the body is in a Redis key */
    int wire;         /* the envelope's wire version (the instance's, protocol.md 4.2) */
    bool env_in_body; /* the message is env_msg, a v2 head written in front of the body */
    char *env_msg;    /* ... inside r->body (body_room left room for the PUBLISH head) */
    size_t env_msg_len;
    bool claim_reading;         /* a reply's body is being read from Redis (claim.c) */
    struct gw_stream *stream;   /* a streamed reply in progress (stream.c), else NULL */
    bool streaming;             /* its head was written, its end not yet (stream.c, hforward.c) */
    uint32_t stream_head_bytes; /* that head's bytes (the access log's bytes_out) */

    /* -- asynchronous requests (job.h) -- */
    bool job;         /* a job: no connection; its response goes to the job sink */
    bool job_pending; /* a job record write or read for r is outstanding in Redis */

    /* -- verified identity (auth.c), forwarded as x-auth-subject / x-auth-key-id -- */
    char auth_subject[GW_AUTH_SUBJECT_MAX + 1]; /* JWT "sub"; "" = none */
    char auth_key_id[GW_AUTH_KEY_ID_MAX + 1];   /* API key id; "" = none */

    /* -- rate limiting (ratelimit.c) -- */
    bool rl_pending;                  /* a shared-limit Redis call is outstanding */
    bool rl_known;                    /* the response carries the RateLimit-* below */
    uint32_t rl_limit, rl_remaining;  /* bucket size, requests left after this one */
    uint32_t rl_reset_s, rl_window_s; /* seconds until full; the policy's window */
    unsigned auth_gen;                /* gw_auth_generation() its auth check passed under */

    /* -- what the access log and the metrics read (accesslog.h, trace.h) -- */
    uint64_t bytes_in;     /* request bytes read (head and body as received) */
    const char *error;     /* the error code answered (static text), NULL = none */
    uint64_t sent_ms;      /* monotonic: the current try's PUBLISH, or its HTTP try's start */
    uint64_t upstream_ms;  /* sent_ms to the reply (an HTTP response's head), when upstream_known */
    bool upstream_known;   /* a reply came */
    struct gw_trace trace; /* trace context (trace.h) */
    char log_route[256];   /* the route's pattern (cut at 255 bytes), "" = none */
    char log_service[PC_SERVICE_MAX + 1];
    char log_instance[GW_REQ_LOG_INSTANCE_MAX + 1];
    bool logged; /* its access-log line was written (one per request) */

    /* -- a streamed response (gw_req_stream_head): its head is out, the body follows -- */
    void (*on_drain)(struct gw_req *r); /* the client's output went down to its low mark */
    struct gw_hx *hx;                   /* an HTTP upstream exchange (hforward.h), or NULL */
    uint64_t stream_bytes_out;          /* bytes appended after the head (access log) */
    uint64_t stream_body_out;           /* of which body bytes */

    /* -- a body passed on as it arrives (reqbody.h) -- */
    bool expect_continue; /* the client waits for 100 Continue (not sent yet) */
    bool body_stream;     /* taken at its head: its body goes through gw_reqbody_in */
    bool body_end;        /* the body's last byte was read */
    bool body_held;       /* the client is not read: the consumer is full */
    bool body_dropped;    /* the consumer is gone: pieces are dropped */
    bool (*body_sink)(struct gw_req *r, const char *data, size_t n, bool end);

    /* -- a reply body read from Redis and streamed, its head out (claim.c) -- */
    struct gw_claim_rd *claim_rd;
    /* -- a request body stored in its key as it arrives (claimstore.c) -- */
    struct gw_claim_up *claim_up;
};

/* True if no request is queued behind r on its connection: a draining
 * gateway closes the connection after this one's response (SPEC §5:
 * in-flight requests finish first). */
static inline bool gw_req_is_last(const struct gw_req *r)
{
    return r->conn == NULL || TAILQ_NEXT(r, queue) == NULL;
}

/* Header i's name / value, valid until the request is freed. */
static inline const char *gw_req_hdr_name(const struct gw_req *r, uint32_t i)
{
    return r->head.data + r->hdrs[i].name_off;
}
static inline const char *gw_req_hdr_value(const struct gw_req *r, uint32_t i)
{
    return r->head.data + r->hdrs[i].value_off;
}
/* First header with this lower-case name, or NULL (len in *n). */
const char *gw_req_header(const struct gw_req *r, const char *lname, size_t *n);
/* Copies src's parsed head into dst (a new request): its method, target and
 * headers; nothing else. */
void gw_req_copy_head(struct gw_req *dst, const struct gw_req *src);
/* The id r goes by on the bus (SPEC §4 "id"; a job's id) into id: its
 * x-request-id when the gateway made that up (one UUID for the client, the
 * logs and the service), else a new UUIDv4 (a client's x-request-id is
 * neither unique nor a UUID). Returns 0, or -1 when there is no randomness. */
int gw_req_bus_id(const struct gw_req *r, char id[PC_UUID_LEN + 1]);
/* r's current try was answered (a reply came, or an HTTP upstream's
 * response head): the upstream time, sent_ms to now, goes to the access log
 * (upstream_ms) and to portico_upstream_duration_seconds. */
void gw_req_upstream_answered(struct gw_req *r);

/* Requests come from a pool (buffers kept); _free returns r to it. */
/* The request body (after the room http.c leaves in front of it). */
static inline const char *gw_req_body(const struct gw_req *r, size_t *len)
{
    *len = r->body.len - r->body_room;
    return r->body.data != NULL ? r->body.data + r->body_room : NULL;
}

/* The room left in front of a body for a v2 request's head and the PUBLISH
 * head: the message's fields come from the HTTP head, at most doubled by
 * JSON escapes, plus the fixed ones. A head that does not fit is copied. */
static inline size_t gw_req_body_room(const struct gw_req *r) { return 1024 + 3 * r->head.len; }

struct gw_req *gw_req_new(void);
void gw_req_free(struct gw_req *r);
/* Frees the pooled requests (process exit, for leak checkers). */
void gw_req_pool_free(void);
/* The connection is done with r: free it, or, while a PUBLISH or a
 * rate-limit call for it is outstanding, orphan it (conn = NULL) for that
 * callback to free (likewise a job record write or read: job_pending). */
void gw_req_release(struct gw_req *r);

/* Sends the response (once; later calls are ignored): status, extra headers (names lower-case), body.
 * Adds content-type when ctype is not NULL, content-length, x-request-id,
 * date, the RateLimit-* headers when r->rl_known, and connection as needed. No body for HEAD, 1xx, 204, 304.
 * On an orphaned request only the counters move. r may be freed by this
 * call: the caller must not touch it afterwards. */
void gw_req_respond(struct gw_req *r, int status, const char *ctype, const struct pc_kv *headers,
                    size_t nheaders, const void *body, size_t body_len);
/* The same with the body in an evbuffer, moved into the response without a
 * copy (ebody is left empty unless the response carries no body). */
void gw_req_respond_evbuffer(struct gw_req *r, int status, const struct pc_kv *headers,
                             size_t nheaders, struct evbuffer *body);
/* A streamed response: the head now (as gw_req_respond, with content-length
 * content_length, or none with GW_REQ_NO_LENGTH: then the caller passes
 * transfer-encoding or sets r->close_after), the body later in pieces:
 * gw_req_stream_buffer gives where to append them, gw_req_stream_push sends
 * what was appended, gw_req_stream_end ends the response (r may be freed),
 * gw_req_stream_abort ends it cut short (what was queued is written, then
 * the connection is closed: the client sees a truncated response). While its output is above
 * GW_CONN_OUTPUT_HIGH the producer should pause; r->on_drain is called when
 * it is low again. */
#define GW_REQ_NO_LENGTH ((uint64_t)-1)
void gw_req_stream_head(struct gw_req *r, int status, const struct pc_kv *headers, size_t nheaders,
                        uint64_t content_length);
struct evbuffer *gw_req_stream_buffer(struct gw_req *r);
void gw_req_stream_push(struct gw_req *r);
/* Appends n body bytes to r's streamed response: one chunk when chunked,
 * else as they are; counted for the access log (stream_bytes_out,
 * stream_body_out). Nothing when n is 0 or the client is gone. The bus's
 * streams (stream.c), HTTP upstreams (hforward.c) and claim-checked replies
 * write through it. */
void gw_req_stream_append(struct gw_req *r, const void *data, size_t n, bool chunked);
/* n body bytes were put at the end of gw_req_stream_buffer(r) by the
 * caller (read there straight from a socket, unchunked): counted as
 * gw_req_stream_append counts them. */
void gw_req_stream_appended(struct gw_req *r, size_t n);
/* The last chunk of a chunked streamed response ("0" CRLF CRLF), counted. */
void gw_req_stream_last_chunk(struct gw_req *r);
void gw_req_stream_end(struct gw_req *r);
void gw_req_stream_abort(struct gw_req *r);
/* r's client connection closed before r's response was complete (conn.c,
 * as it frees the connection; r is still queued): r's access-log line. A
 * streamed response: its status and the bytes written, with error
 * "client_closed" when client_gone, else the error that stopped it. Nothing
 * written yet: as nginx writes it, status 499 and error "client_closed",
 * only when client_gone. Nothing for a response already logged. */
void gw_req_conn_closed(struct gw_req *r, bool client_gone);
/* The head of a streamed reply from the bus (stream.c): as gw_req_respond, without
 * content-length, chunked for HTTP/1.1 (chunked true), else close-delimited
 * ("connection: close"); sets r->streaming. The body and its end are
 * stream.c's. */
void gw_req_respond_stream(struct gw_req *r, int status, const struct pc_kv *headers,
                           size_t nheaders, bool chunked);

/* Where the response of a job (r->job) goes instead of a connection: the
 * sink owns r from then on (it frees or releases it). Set once by job.c. */
typedef void gw_req_sink_fn(struct gw_req *r, int status, const char *ctype,
                            const struct pc_kv *headers, size_t nheaders, const void *body,
                            size_t body_len, struct evbuffer *ebody);
void gw_req_set_job_sink(gw_req_sink_fn *fn);
/* An error response per SPEC §5: {"error","message","request_id"}; code
 * must be static text (the access log keeps a pointer to it). */
void gw_req_error(struct gw_req *r, int status, const char *code, const char *message);
/* Same with one extra header (e.g. Allow). */
void gw_req_error_hdr(struct gw_req *r, int status, const char *code, const char *message,
                      const struct pc_kv *hdr);

#endif
