/* internal.h -- libportico's private structures and functions.
 *
 * Everything here is hidden (-fvisibility=hidden plus a version script) and
 * prefixed pt_. Module map:
 *   service.c  life cycle, registration, heartbeat, message dispatch
 *   drain.c    callback depth (deferred free) and "nothing in flight" (stop)
 *   bus.c      the two Redis connections, handshake, reconnect with backoff
 *              (the schedule is src/common/backoff.h, shared with the gateway),
 *              subscribe, the dispatch by Redis mode; with bus_publish.c
 *              (PUBLISH, commands with an answer) and bus_cluster.c (Redis
 *              Cluster) the only files that include hiredis (bus_int.h)
 *   request.c  the request object, its arrival and deadline
 *   reply.c    replies: envelopes, bodies written in place, JSON trees
 *   match.c    route patterns: path matching, method choice, normal forms
 *   table.c    the caller's instance table (TTL, balancing) -- pure logic
 *   call.c     outgoing calls: pick, publish, retry, reply, timeout
 *   event.c    events: publish, subscribe, dispatch
 *   log.c      log callback, error strings, version
 */
#ifndef PT_INTERNAL_H
#define PT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "portico/portico.h"

#include "buf.h"
#include "log.h"
#include "map.h"
#include "names.h"
#include "redisurl.h"
#include "sign.h"
#include "traceparent.h"
#include "wire.h"

struct event;
struct event_base;

#define PT_CONNECT_TIMEOUT_MS 5000 /* connect + handshake */
#define PT_CALL_TRIES 3            /* PUBLISH==0 retries, tries in all */
#define PT_CALL_TIMEOUT_MS 5000    /* when neither call nor target sets one */
#define PT_SWEEP_MS 1000           /* instance table TTL sweep */
#define PT_EVENT_MAX (1024 * 1024) /* bytes of one event message */
#define PT_TOPIC_MAX 128
#define PT_PREFIX_MAX 64
#define PT_STOP_DEREG_WAIT_MS 1000  /* how long stop waits for the deregister PUBLISH */
#define PT_BUF_KEEP (256 * 1024)    /* the service's reply buffers: larger are given back */
#define PT_SPARE_MAX (16 << 20)     /* a reply writer's memory kept while large replies go on */
#define PT_CLAIM_TTL_MARGIN_MS 5000 /* a reply body's key lives until the deadline + this */
#define PT_JSON_MAX_DEPTH 1000      /* nesting of a reply written from a json_t tree */

/* ---- log.c ---- */
void pt_log(portico_service *svc, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- bus.c, bus_publish.c (bus_int.h is theirs) ---- */

/* The bus is opaque outside the bus files (the only ones that know hiredis): the
 * rest of the SDK sees channels, payload bytes, receiver counts and -1. */
struct pt_bus;
struct pt_bus_ops {
    void (*on_up)(struct pt_bus *bus, void *ud);
    void (*on_down)(struct pt_bus *bus, void *ud);
    /* a "message" on a subscribed channel; buffers valid during the call */
    void (*on_message)(struct pt_bus *bus, void *ud, const char *ch, size_t chlen, const char *msg,
                       size_t len);
    /* a subscribe confirmation */
    void (*on_subscribed)(struct pt_bus *bus, void *ud, const char *ch, size_t chlen);
};

/* Redis' answer to a PUBLISH, given to its callback exactly once: the
 * number of subscribers that received the message (>= 0), or one of: */
#define PT_PUB_LOST (-1)  /* no answer: connection lost, or the bus freed */
#define PT_PUB_ERROR (-2) /* Redis answered an error (an ACL refusal, ...) */
typedef void pt_published_fn(void *ud, long long receivers);

/* NULL when out of memory. Nothing connects before pt_bus_start. */
struct pt_bus *pt_bus_new(struct event_base *base, portico_service *svc,
                          const struct pc_redis_addr *addr, const struct pt_bus_ops *ops, void *ud);
/* Disconnects (pending PUBLISH callbacks run with PT_PUB_LOST) and frees.
 * NULL is fine. */
void pt_bus_free(struct pt_bus *bus);
int pt_bus_start(struct pt_bus *bus);
void pt_bus_close(struct pt_bus *bus); /* disconnect for good */
bool pt_bus_is_up(const struct pt_bus *bus);
/* SUBSCRIBE / UNSUBSCRIBE channels on the subscriber connection. 0 or -1. */
int pt_bus_subscribe(struct pt_bus *bus, const char *const *channels, size_t n);
int pt_bus_unsubscribe(struct pt_bus *bus, const char *channel);
/* PUBLISH on the command connection. fn (may be NULL: nobody wants the
 * answer) is called exactly once, from the loop. Returns 0, or -1 when the
 * bus is not up or out of memory (fn not called). */
int pt_bus_publish(struct pt_bus *bus, const char *channel, const void *msg, size_t len,
                   pt_published_fn *fn, void *ud);

/* Inside on_message for msg: the message's memory, now the caller's (free()
 * it; msg[len] is a NUL), so that a body in it need not be copied. NULL
 * when msg is not the message being handled (or was taken already). */
char *pt_bus_take_message(struct pt_bus *bus, const char *msg);

/* Same, for a command already written in RESP (resp.h): no formatting. */
int pt_bus_publish_resp(struct pt_bus *bus, const char *cmd, size_t len, pt_published_fn *fn,
                        void *ud);

/* Any command on the command connection (the claim check's SET, GETDEL,
 * GET, DEL), binary-safe. fn (NULL: the answer is dropped) gets the answer,
 * valid during the call, or NULL when the connection was lost or the bus
 * freed first; exactly once, from the loop. 0, or -1 (bus not up, no
 * memory; fn not called). */
enum pt_reply_type { PT_REPLY_OTHER, PT_REPLY_STRING, PT_REPLY_NIL, PT_REPLY_ERROR };
struct pt_bus_reply {
    enum pt_reply_type type;
    const char *str; /* STRING, ERROR */
    size_t len;
    void *own; /* STRING: its hiredis reply, for pt_bus_reply_take */
};
/* Takes a string reply's bytes (len of them and a NUL, malloc'd: the taker
 * frees them), leaving the reply without them: a large value (a claimed
 * body) kept with no copy. NULL when the reply cannot give them. */
char *pt_bus_reply_take(const struct pt_bus_reply *reply);
typedef void pt_command_fn(void *ud, const struct pt_bus_reply *reply);
int pt_bus_command(struct pt_bus *bus, int argc, const char *const *argv, const size_t *argvlen,
                   pt_command_fn *fn, void *ud);

/* ---- claim.c: bodies through Redis keys (protocol.md 3.1, 4.1) ---- */

/* Reads the body a message refers to (GETDEL key, or GET + DEL on a Redis
 * older than 6.2) and calls fn(svc, msg, len, body, body_len, own) with a
 * copy of the message: body NULL when the key is missing or not body_len
 * long; *own, when not NULL, is body itself, malloc'd with a NUL after it,
 * which fn may keep (setting *own to NULL) instead of copying it.
 * Nothing is called when the bus goes away first. 0 or -1 (bus down, no
 * memory). */
typedef void pt_claim_fn(portico_service *svc, const char *msg, size_t len,
                         const unsigned char *body, size_t body_len, char **own);
int pt_claim_fetch(portico_service *svc, const char *key, size_t body_len, const char *msg,
                   size_t len, pt_claim_fn *fn);
/* True if key is "<prefix>:body:<id>:rep" (reply) or ":req": a message may
 * only name the key of its own id, never any other key. */
bool pt_claim_key_ok(const portico_service *svc, const char *key, const char *id, bool reply);
/* Stores body under key (SET PX ttl_ms) before what is published next on
 * the command connection. 0 or -1. */
int pt_claim_store(portico_service *svc, const char *key, const void *body, size_t len,
                   uint64_t ttl_ms);

/* ---- match.c ---- */

enum pt_match_result {
    PT_MATCH_OK = 0,
    PT_MATCH_NOT_FOUND = -1, /* no pattern matches the path */
    PT_MATCH_NO_METHOD = -2, /* patterns match, none has the method */
    PT_MATCH_BAD_PATH = -3,  /* what the gateway answers with 400 (pc_path_decode):
                                  not starting with '/', dot segment, bad escape,
                                  decoded NUL, invalid UTF-8, over 16 KiB */
};
/* True when two patterns are the same but for param names (pc_pattern_equal). */
bool pt_pattern_equal(const char *a, const char *b);
/* Picks the route for method and path among routes[0..n) per SPEC §3, as
 * the gateway's router would (methods ranked by pc_method_rank).
 * On PT_MATCH_OK sets *best and, when params is not NULL, adds the captured
 * params (percent-decoded) to the params object, named as in the first
 * route with the same pattern. */
int pt_route_match(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *path, size_t path_len, size_t *best, json_t *params);
/* Picks the route for method among routes whose pattern equals route (param
 * names ignored). Returns the index or -1. */
long pt_route_find(const struct pc_route_decl *routes, size_t n, const char *method,
                   const char *route);
/* True if topic is a valid event topic ([A-Za-z0-9._-]{1,128}). */
bool pt_topic_is_valid(const char *topic);

/* ---- table.c: what a caller knows of other services ---- */

struct pt_inst {
    char *id;
    char *channel;
    char *service;
    uint64_t last_ms; /* monotonic, last register heard */
    int ttl_ms;
    int inflight;
    int wire; /* its register message's "wire": 2 takes v2 requests */
};

struct pt_target {
    char *name;
    struct pt_inst **insts;
    size_t ninst, cap;
    size_t rr;                    /* round-robin cursor */
    struct pc_route_decl *routes; /* from the latest register; strings owned */
    size_t nroutes;
    int timeout_ms; /* announced, 0 if none */
};

struct pt_table {
    pc_map *targets; /* service name -> struct pt_target* */
    pc_map *insts;   /* instance id -> struct pt_inst* */
};

int pt_table_init(struct pt_table *t);
void pt_table_deinit(struct pt_table *t);
/* Applies a decoded register/deregister message. Returns 0 or -1 (no memory).
 * An instance id already used by another service is moved to the new one. */
int pt_table_apply(struct pt_table *t, const struct pc_register *r, uint64_t now_ms);
/* Drops instances not heard from for their TTL. Returns how many. */
size_t pt_table_expire(struct pt_table *t, uint64_t now_ms);
/* Drops one instance (deregister, PUBLISH answered 0). */
void pt_table_drop(struct pt_table *t, const char *instance);
struct pt_target *pt_table_target(const struct pt_table *t, const char *service);
struct pt_inst *pt_table_inst(const struct pt_table *t, const char *instance);
/* Least in flight, ties round-robin. NULL when none. */
struct pt_inst *pt_table_pick(struct pt_table *t, const char *service);

/* ---- request.c: a request being served (replies: reply.c) ---- */

#define PT_REQ_KV 48 /* params + headers read in place; more take the full decoder */

/* A trace context (W3C): a valid traceparent (kept as version 00) or "",
 * and the tracestate that came with it (bounded: traceparent.h) or "". */
struct pt_trace {
    char traceparent[PC_TRACEPARENT_LEN + 1];
    char tracestate[PC_TRACESTATE_MAX + 1];
};

struct portico_request {
    portico_service *svc;      /* NULL once the service is freed */
    struct pc_request_view in; /* every string NUL-terminated */
    struct pc_request_in full; /* the full decoder's tree, when the lean reader declined */
    struct pc_kv *full_kv;     /* params + headers taken from that tree (malloc'd) */
    unsigned char *full_body;  /* its body plus a NUL */
    char *msg;                 /* the message itself, taken from the bus: in.body points in it */
    json_t *params_obj;        /* params as an object: our own match, or built on demand */
    const char *route;         /* pattern that matched, owned by in or svc */
    char request_id[129];      /* x-request-id or "" */
    struct pt_trace trace;     /* its traceparent and tracestate headers */
    char trace_id[33];         /* the traceparent's trace-id, or "" */
    int refs;
    bool pending; /* the SDK's reference is still held */
    bool replied, expired;
    bool streaming;               /* portico_stream_begin done, not ended (stream.c) */
    bool cancelled;               /* the gateway published a cancel for it */
    long long seq;                /* the next stream message's seq */
    portico_cancel_fn *cancel_fn; /* portico_request_on_cancel's */
    void *cancel_ud;
    struct event *deadline_ev;
    struct portico_request *prev, *next;
    struct portico_writer {   /* portico_reply_begin's */
        pc_buf buf;           /* memory lent by the service (its spare) */
        portico_request *req; /* NULL when not begun */
    } writer;
    struct pc_kv kv[PT_REQ_KV]; /* the lean reader's params and headers */
    char text[];                /* the lean reader's strings (message length + 1) */
};

/* A message on the instance's channel: a request is served, or, once the
 * service is stopping, answered at once with 503 "stopping"; a cancel
 * cancels the request it names. */
void pt_request_dispatch(portico_service *svc, const char *msg, size_t len);
/* Reads a trace context into t: tp[0..tp_len) a traceparent (NULL: none
 * or not one), ts the tracestate that came with it (NULL: none). The
 * traceparent is kept (as version 00) when valid, and the tracestate only
 * with it (W3C); else both are "". trace_id (33 bytes) gets the trace-id,
 * or "". Returns whether the traceparent was valid. */
bool pt_trace_read(struct pt_trace *t, const char *tp, size_t tp_len,
                   const struct pc_tracestate *ts, char *trace_id);
/* The traceparent that continues the trace of parent (a valid traceparent
 * or ""; "" starts a new trace) as a child span, into out
 * (PC_TRACEPARENT_LEN + 1). Returns 0 or -1 (no random bytes). */
int pt_trace_child(const char *parent, char *out);
/* The service's trace context (never NULL: an empty one outside any). */
const struct pt_trace *pt_trace_current(const portico_service *svc);
/* The request is replied to or expired: drops the SDK's reference (req may
 * be freed on return) and lets a stop that waits for it complete. */
void pt_request_done(portico_request *req);
/* Detaches every live request from svc (service free). */
void pt_requests_detach(portico_service *svc);

/* ---- reply.c ---- */

#define PT_REPLY_MAX_HEADERS 100
/* Reads a NULL-terminated name, value array into kv[0..PT_REPLY_MAX_HEADERS)
 * (*n of them). 0, or PORTICO_ERR_INVALID (too many, an invalid name or value). */
int pt_reply_headers(const char *const *headers, struct pc_kv *kv, size_t *n);
/* Publishes the message in b (framed as a PUBLISH in place: resp.h) on
 * req's reply_to. 0, _NOMEM (b ran out) or _BUS. */
int pt_reply_publish(portico_request *req, pc_buf *b);
/* Every sweep (PT_SWEEP_MS): a reply writer's memory past PT_BUF_KEEP that no
 * reply has needed since the last sweep is given back. */
void pt_reply_spare_sweep(portico_service *svc);

/* ---- stream.c ---- */

/* A message on the instance's channel that is not a request: if it is a
 * cancel, the request it names is cancelled and true is returned. */
bool pt_request_cancel(portico_service *svc, const char *msg, size_t len);
/* A stop's bound on streams passed (PORTICO_STOP_STREAM_MS): every open stream
 * is ended as a cancel ends it (its cancel callback runs; nothing more is
 * published for it), and no stream begins from now on. */
void pt_streams_cut(portico_service *svc);

/* Appends v as compact JSON, byte for byte what json_dumps(v, JSON_COMPACT |
 * JSON_ENCODE_ANY) gives (\u escapes in lower-case hex), without its allocations; depth is the nesting
 * already entered (0 at the top). Returns false past PT_JSON_MAX_DEPTH
 * (which also stops on a cyclic tree); b then holds a partial text. */
bool pt_json_write(pc_buf *b, json_t *v, int depth);

/* ---- call.c ---- */
void pt_call_on_reply(portico_service *svc, const char *msg, size_t len);
void pt_calls_fail_all(portico_service *svc, int err);

/* ---- event.c ---- */
void pt_event_dispatch(portico_service *svc, const char *topic, size_t topic_len, const char *msg,
                       size_t len);
/* SUBSCRIBEs every event channel (after a reconnect). */
void pt_events_resubscribe(portico_service *svc);
void pt_events_free(portico_service *svc);

/* ---- service.c: the service object, shared by the modules above ---- */

struct pt_route {
    char *method;
    char *pattern;
    portico_handler_fn *handler;
    void *ud;
    bool async; /* announced "async":true (portico_service_route_async) */
};

struct pt_sub { /* an event handler */
    char *topic;
    char *channel;
    portico_event_fn *fn;
    void *ud;
    struct pt_sub *next;
};

enum pt_svc_state {
    PT_SVC_NEW,      /* configuring: routes and options may change */
    PT_SVC_RUNNING,  /* started: connected or reconnecting */
    PT_SVC_STOPPING, /* deregistered; draining requests, streams and calls */
    PT_SVC_STOPPED,  /* disconnected for good */
};

struct portico_service {
    struct event_base *base;
    char name[PC_SERVICE_MAX + 1];
    char instance[PC_INSTANCE_MAX + 1];
    char prefix[PT_PREFIX_MAX + 1];
    char caller_id[40]; /* UUID of the reply channel */
    struct pc_redis_addr addr;
    int ttl_ms, timeout_ms;
    enum pt_svc_state state;
    unsigned char reg_secret[PC_SIGN_SECRET_MAX]; /* HMAC key for register/deregister */
    size_t reg_secret_len;                        /* 0: unsigned messages */

    struct pt_route *routes;
    size_t nroutes;
    struct pc_route_decl *decls; /* same routes as wire declarations */

    struct pt_bus *bus;
    struct event *heartbeat_ev;
    struct event *sweep_ev;
    struct event *stop_ev;    /* deferred: finish a stop */
    struct event *streams_ev; /* a stop's bound on open streams (PORTICO_STOP_STREAM_MS) */
    struct event *free_ev;    /* deferred: free requested inside a callback */
    int subs_expected;        /* subscribe confirmations before we announce */
    bool announced;           /* registered since the last (re)connect */
    bool dereg_done;
    bool ch_svc_kept; /* stopping: the instance channel kept for the cancels of open streams */
    bool streams_cut; /* stopping: the bound on streams passed (pt_streams_cut) */

    /* channels */
    char *ch_svc, *ch_discover, *ch_register, *ch_reply, *ch_event_prefix;
    size_t ch_event_prefix_len;

    /* callbacks */
    portico_log_fn *log_fn;
    void *log_ud;
    int log_min;
    portico_ready_fn *ready_fn;
    void *ready_ud;
    portico_stopped_fn *stopped_fn;
    void *stopped_ud;

    /* serving */
    struct portico_request *reqs; /* every live request (list) */
    pc_buf reply_env;             /* reply envelopes, written and published at once */
    size_t claim_check_bytes;     /* reply bodies over it go through a key; 0: never (and
                                     claim_check is not announced) */
    pc_buf spare;                 /* a reply writer's memory, kept for the next one */
    bool spare_large;             /* spare grew past PT_BUF_KEEP since the last sweep */
    size_t reqs_pending;          /* not yet replied or expired */
    size_t streams_open;          /* of those, streams begun (stream.c) */
    /* the request being handled right now (deadline propagation) */
    uint64_t ctx_deadline_ms;
    char ctx_request_id[129];
    /* the trace of the work being done (a request, a call's reply, an
     * event), NULL none: calls and events made now continue it. Set
     * around the callback, to a context that outlives it. */
    const struct pt_trace *ctx_trace;

    /* calling */
    bool calls_enabled;
    struct pt_table table;
    pc_map *calls; /* request id -> struct portico_call* */

    /* events */
    struct pt_sub *subs;

    int depth; /* > 0 while a user callback runs */
    bool free_pending;
    struct pc_ratelimit bad_rl; /* "bad message" log lines */
};

/* ---- drain.c: what requests, calls and events report to the service ---- */

/* Enter/leave a user callback (deferred free). */
void pt_svc_enter(portico_service *svc);
void pt_svc_leave(portico_service *svc);
/* True when no request is pending and no call in flight. */
bool pt_svc_is_drained(const portico_service *svc);
/* A request or call finished: a stop may now complete. */
void pt_svc_check_drained(portico_service *svc);

#endif
