/* portico.h -- libportico, the service SDK of the portico API gateway.
 *
 * A service is a process that answers HTTP requests the gateway forwards to
 * it over Redis pub/sub (docs/protocol.md). This library does the protocol:
 * it registers the service's routes, keeps the registration alive, runs a
 * handler per request, publishes the replies, reconnects to Redis after a
 * loss, and deregisters on a clean stop. The same object can call other
 * services over the bus (portico_call_*) and publish and receive events
 * (portico_event_*).
 *
 * Threads: the library is thread-compatible, not thread-safe. Every object
 * belongs to the event_base it was created on; call every function for a
 * service (and its requests, calls, responses, events) from the thread that
 * runs that event_base. Different services on different bases in different
 * threads are independent.
 *
 * Errors: functions that can fail return 0 or a negative PORTICO_ERR_* code
 * (portico_strerror() names it). The library never aborts and never writes to
 * stdout/stderr; it reports what it does through an optional log callback.
 *
 * Callbacks: every callback runs on the service's event_base, never from
 * inside the function that caused it (portico_call_send, portico_service_stop
 * ...). A call callback runs exactly once. Pointers handed to a callback are
 * borrowed and valid only during that callback unless a function says
 * otherwise (see portico_request_ref).
 *
 * Ownership words used below: "borrowed" = the caller keeps ownership and the
 * pointer need only be valid during the call (the library copies what it
 * keeps); "stolen" = the library takes the reference, even when the function
 * fails (as jansson's *_new functions do); "owned by X" = valid as long as X.
 */
#ifndef PORTICO_PORTICO_H
#define PORTICO_PORTICO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PORTICO_VERSION_MAJOR 0
#define PORTICO_VERSION_MINOR 1
#define PORTICO_VERSION_PATCH 0
#define PORTICO_VERSION_STRING "0.1.0"
/* For #if checks: PORTICO_VERSION_NUMBER >= 0x000100 */
#define PORTICO_VERSION_NUMBER                                                                     \
    ((PORTICO_VERSION_MAJOR << 16) | (PORTICO_VERSION_MINOR << 8) | PORTICO_VERSION_PATCH)

#if defined(__GNUC__)
#define PORTICO_API __attribute__((visibility("default")))
#define PORTICO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PORTICO_API
#define PORTICO_PRINTF(f, a)
#endif

struct event_base;

/* Opaque types. */
typedef struct portico_service portico_service;   /* a service instance (and caller) */
typedef struct portico_request portico_request;   /* a request being served */
typedef struct portico_call portico_call;         /* an outgoing call being built */
typedef struct portico_response portico_response; /* the reply to a call */
typedef struct portico_event portico_event;       /* a received event */

/* Error codes: every failing function returns one of these (negative). */
enum portico_error {
    PORTICO_OK = 0,
    PORTICO_ERR_INVALID = -1, /* bad argument (name, URL, method, pattern, status...) */
    PORTICO_ERR_NOMEM = -2,   /* out of memory */
    PORTICO_ERR_STATE = -3,   /* not allowed now (e.g. route added after start) */
    PORTICO_ERR_BUS = -4,     /* Redis is not reachable right now ("bus_unavailable") */
    PORTICO_ERR_TIMEOUT = -5, /* no reply before the call's deadline */
    PORTICO_ERR_NO_INSTANCE =
        -6,                      /* no live instance of the service (or every try hit a gone one) */
    PORTICO_ERR_BAD_REPLY = -7,  /* the reply was not valid per the protocol */
    PORTICO_ERR_NO_ROUTE = -8,   /* the service has no route for this method and path */
    PORTICO_ERR_DEADLINE = -9,   /* reply after the request's deadline: nothing was sent */
    PORTICO_ERR_REPLIED = -10,   /* the request was already replied to: nothing was sent */
    PORTICO_ERR_CANCELLED = -11, /* the service was freed before the call completed */
};

/* Returns the library version, e.g. "0.1.0" (static string). */
PORTICO_API const char *portico_version(void);

/* Returns a short static description of a PORTICO_ERR_* code, e.g.
 * "timeout" for PORTICO_ERR_TIMEOUT; "unknown" for other values. */
PORTICO_API const char *portico_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Logging                                                                   */
/* ------------------------------------------------------------------------ */

enum portico_log_level {
    PORTICO_LOG_DEBUG = 0,
    PORTICO_LOG_INFO = 1,
    PORTICO_LOG_WARN = 2,
    PORTICO_LOG_ERROR = 3,
};

/* A log line: level, and msg (borrowed, NUL-terminated, no newline, valid
 * during the call only). ud is the pointer given to portico_service_set_log. */
typedef void portico_log_fn(int level, const char *msg, void *ud);

/* Sets the log callback of svc: lines at min_level or above are formatted and
 * passed to fn. fn == NULL (the default) turns logging off. Never logs bodies. */
PORTICO_API void portico_service_set_log(portico_service *svc, int min_level, portico_log_fn *fn,
                                         void *ud);

/* ------------------------------------------------------------------------ */
/* Service life cycle                                                        */
/* ------------------------------------------------------------------------ */

/* Creates a service called name ([a-z0-9][a-z0-9._-]{0,62}) on base
 * (borrowed; must outlive the service) that talks to the Redis at redis_url
 * ("redis://[user:password@]host:port[/db]", "unix:///path[?db=N]", the
 * primary the sentinels name, "redis-sentinel://[user:password@]host[:port]
 * [,host[:port]...]/<master-name>[/db]", or a Redis Cluster's seed nodes,
 * "redis-cluster://[user:password@]host[:port][,host[:port]...]"; NULL means
 * "redis://127.0.0.1:6379"). Nothing is connected until
 * portico_service_start(). name and redis_url are borrowed (copied).
 * Returns the new service (caller frees with portico_service_free), or NULL
 * with *err (if err is not NULL) set to PORTICO_ERR_INVALID or _NOMEM. */
PORTICO_API portico_service *portico_service_new(struct event_base *base, const char *name,
                                                 const char *redis_url, int *err);

/* Sets the channel prefix (default "portico"; same as the gateway's --prefix).
 * prefix is borrowed. Before start only. Returns 0, _INVALID or _STATE. */
PORTICO_API int portico_service_set_prefix(portico_service *svc, const char *prefix);

/* Sets the instance id ([A-Za-z0-9._:-]{1,128}, unique per process; default
 * "<name>-<8 random hex digits>"). instance is borrowed. Before start only.
 * Returns 0, _INVALID or _STATE. */
PORTICO_API int portico_service_set_instance(portico_service *svc, const char *instance);

/* Signs every register and deregister message with HMAC-SHA256 under secret
 * (SPEC §3 "Signed registration"), as a gateway started with
 * --registration-secret-file (or a per-service secret) requires. The bytes
 * are copied (leading/trailing white space is not trimmed here: pass the
 * secret itself). len 1..4096. Before start only.
 * Returns 0, _INVALID or _STATE. */
PORTICO_API int portico_service_set_registration_secret(portico_service *svc, const void *secret,
                                                        size_t len);

/* Reads the secret from a file (leading and trailing white space ignored, as
 * the gateway does) and calls portico_service_set_registration_secret.
 * path is borrowed. Returns 0, _INVALID (unreadable, empty or too long) or
 * _STATE. */
PORTICO_API int portico_service_set_registration_secret_file(portico_service *svc,
                                                             const char *path);

/* Sets the registration TTL (default 10000 ms, clamped to 1000..300000); the
 * heartbeat is sent every ttl/3. Before start only. Returns 0 or _STATE. */
PORTICO_API int portico_service_set_ttl_ms(portico_service *svc, int ttl_ms);

/* Sets the request deadline announced for this service's routes
 * (timeout_ms in the register message, clamped to 1..60000; 0, the default,
 * leaves it to the gateway). Before start only. Returns 0 or _STATE. */
PORTICO_API int portico_service_set_timeout_ms(portico_service *svc, int timeout_ms);

/* Sets the claim-check threshold (default 65536 bytes): a reply body larger
 * than it is stored in a Redis key with a short TTL and the reply message
 * names the key, so that no large message travels through pub/sub (Redis
 * drops a subscriber whose output buffer passes its limit, 32 MB by
 * default). 0 turns it off: replies always inline, and the service does not
 * announce "claim_check", so gateways send it request bodies inline too.
 * Request bodies sent by reference are read before the handler runs,
 * whatever the threshold. Needs a gateway that reads replies by reference
 * (protocol.md 4.1). Before start only. Returns 0 or _STATE. */
PORTICO_API int portico_service_set_claim_check_bytes(portico_service *svc, size_t bytes);

/* A request handler. req is owned by the library: it is valid until it is
 * replied to or until its deadline passes, whichever comes first (longer if
 * you hold a reference, see portico_request_ref). The handler may reply
 * before returning, or keep req and reply later from any callback on the
 * same event_base. ud is the pointer given to portico_service_route. */
typedef void portico_handler_fn(portico_request *req, void *ud);

/* Adds a route: method is an upper-case token or "*" (any method), pattern a
 * route pattern such as "/users/{id}", or "/files/" then a final "*" (see
 * docs/protocol.md §3). A HEAD request uses the GET route when there is no HEAD route. method and pattern
 * are borrowed (copied); ud is passed to handler as is. Before start only.
 * Returns 0, _INVALID (bad method/pattern, duplicate, > 1000 routes), _NOMEM
 * or _STATE. Their total size is checked by portico_service_start. */
PORTICO_API int portico_service_route(portico_service *svc, const char *method, const char *pattern,
                                      portico_handler_fn *handler, void *ud);

/* Marks a route added with portico_service_route (same method and pattern) as
 * asynchronous: it is announced "async":true, so that a client may ask for it
 * with "Prefer: respond-async" and get 202 Accepted and a job to poll, from
 * any gateway (docs/protocol.md 5.8). Nothing else changes for the handler:
 * it gets the request and replies as usual, within the request's deadline
 * (the gateway's --async-timeout-ms, 5 minutes by default, for a job). Before
 * start only. Returns 0, _INVALID (no such route) or _STATE. */
PORTICO_API int portico_service_route_async(portico_service *svc, const char *method,
                                            const char *pattern);

/* Makes this service a caller too: it will follow the registration channel to
 * learn the instances of other services (needed by portico_call_send).
 * Before start only. Returns 0 or _STATE. */
PORTICO_API int portico_service_enable_calls(portico_service *svc);

/* Called when the service has (re)connected to Redis and published its
 * registration (after the first start and after every reconnect). Also for a
 * service with no routes (a pure caller), once it is subscribed. */
typedef void portico_ready_fn(portico_service *svc, void *ud);

/* Sets the ready callback (fn may be NULL). Returns nothing; any time. */
PORTICO_API void portico_service_set_on_ready(portico_service *svc, portico_ready_fn *fn, void *ud);

/* Starts the service: connects to Redis (in the background: this never
 * blocks), subscribes to its instance channel and to discover (and, for a
 * caller, to the registration channel and its own reply channel), then
 * registers and sends the heartbeat every ttl/3. While Redis is unreachable
 * it retries every 100..200 ms for 30 attempts, then with a jittered backoff
 * up to 5 s (docs/protocol.md 5.3), and registers again when it is back. A service with no routes does not register.
 * Returns 0, _STATE (already started), _NOMEM, or _INVALID: the register
 * message would be larger than every gateway accepts (64 KiB, SPEC §3, also
 * inside a signed envelope; the envelope 128 KiB + 256), so these routes,
 * with this name, instance and prefix, cannot be announced; one ERROR line
 * says its size and the limit. A start that failed leaves the service
 * unstarted. */
PORTICO_API int portico_service_start(portico_service *svc);

/* Called once when a stop has completed. */
typedef void portico_stopped_fn(portico_service *svc, void *ud);

/* How long a stop lets open streams go on before it ends them, ms. */
#define PORTICO_STOP_STREAM_MS 10000

/* Stops the service cleanly: publishes deregister at once (gateways drop the
 * instance immediately), stops taking requests, waits for the requests and
 * calls in flight (bounded by their deadlines), then disconnects and calls
 * fn (may be NULL). Freeing the service from fn is allowed.
 * Streams open at the stop go on; the instance channel is kept until the
 * last is over, so that a cancel still reaches them, and a request that
 * arrives on it meanwhile is answered 503 "stopping" at once. Streams still
 * open 10 s into the stop (PORTICO_STOP_STREAM_MS) are ended as a cancel
 * ends them (cancelled, their cancel callback runs, nothing more is sent:
 * the client's response is cut short, never falsely complete): end long
 * streams yourself when you stop.
 * Returns 0, or _STATE if not started or already stopping. */
PORTICO_API int portico_service_stop(portico_service *svc, portico_stopped_fn *fn, void *ud);

/* Frees the service (NULL is fine): disconnects at once without deregistering
 * (use portico_service_stop first for that), completes every pending call with
 * PORTICO_ERR_CANCELLED, and detaches requests still referenced by the
 * application (replying to them then returns PORTICO_ERR_STATE). Called from
 * inside one of this service's callbacks, the release is deferred until the
 * callback returns to the event loop. */
PORTICO_API void portico_service_free(portico_service *svc);

/* The service name and the instance id (owned by svc). */
PORTICO_API const char *portico_service_name(const portico_service *svc);
PORTICO_API const char *portico_service_instance(const portico_service *svc);

/* True while both Redis connections are up and subscribed. */
PORTICO_API bool portico_service_is_connected(const portico_service *svc);

/* ------------------------------------------------------------------------ */
/* Requests: accessors (every returned pointer is owned by req)              */
/* ------------------------------------------------------------------------ */

/* The service that received req; NULL once that service was freed. */
PORTICO_API portico_service *portico_request_service(const portico_request *req);
/* The method ("GET"), the raw path without the query ("/users/42"), the raw
 * query ("" when none), the route pattern that matched ("/users/{id}"),
 * the request's UUID and the client address ("" when unknown). */
PORTICO_API const char *portico_request_method(const portico_request *req);
PORTICO_API const char *portico_request_path(const portico_request *req);
PORTICO_API const char *portico_request_query(const portico_request *req);
PORTICO_API const char *portico_request_route(const portico_request *req);
PORTICO_API const char *portico_request_id(const portico_request *req);
PORTICO_API const char *portico_request_remote_addr(const portico_request *req);
/* The x-request-id header ("" when absent): pass it on in logs. */
PORTICO_API const char *portico_request_request_id(const portico_request *req);
/* W3C trace context: the request's traceparent header when it is valid
 * ("00-<trace-id>-<parent-id>-<flags>", the gateway's span as the parent),
 * else ""; and its trace-id (32 lower-case hex), else "". Calls and events
 * made while the handler runs (or later with portico_call_set_parent)
 * continue this trace as child spans: same trace-id, a new parent-id. */
PORTICO_API const char *portico_request_traceparent(const portico_request *req);
PORTICO_API const char *portico_request_trace_id(const portico_request *req);
/* The request's tracestate ("vendor1=v1,vendor2=v2": its tracestate headers
 * as one list, at most 32 members and 512 bytes, members past the bound left
 * off), only with a valid traceparent; else "". Calls and events that
 * continue the trace carry it on unchanged. */
PORTICO_API const char *portico_request_tracestate(const portico_request *req);
/* The value of route param name ("id" for "/users/{id}", "*" for a final
 * wildcard), or NULL. name is borrowed. */
PORTICO_API const char *portico_request_param(const portico_request *req, const char *name);
/* Every route param as a JSON object of strings (borrowed from req; never
 * NULL while req is valid, possibly empty). */
PORTICO_API json_t *portico_request_params(const portico_request *req);
/* The first header called name (case-insensitive), or NULL. */
PORTICO_API const char *portico_request_header(const portico_request *req, const char *name);
/* Header count, and the i-th header (0-based, arrival order, lower-case
 * names). Returns 0, or _INVALID when i is out of range. */
PORTICO_API size_t portico_request_header_count(const portico_request *req);
PORTICO_API int portico_request_header_at(const portico_request *req, size_t i, const char **name,
                                          const char **value);
/* The body (NULL when empty) and its length in *len (len may be NULL). The
 * bytes are followed by a NUL that is not counted. */
PORTICO_API const void *portico_request_body(const portico_request *req, size_t *len);
/* Parses the body as JSON. Returns a new reference (caller json_decref()s),
 * or NULL when the body is empty or not JSON. */
PORTICO_API json_t *portico_request_json(const portico_request *req);
/* The deadline (unix ms) and the time left until it (ms, 0 when passed). */
PORTICO_API uint64_t portico_request_deadline_ms(const portico_request *req);
PORTICO_API int64_t portico_request_remaining_ms(const portico_request *req);
/* True once req was replied to, its stream ended or was cancelled, or (when
 * it does not stream) its deadline passed. */
PORTICO_API bool portico_request_is_done(const portico_request *req);

/* Takes a reference: req then stays valid (accessors work, replies return
 * PORTICO_ERR_DEADLINE / _REPLIED / _STATE as appropriate) until the matching
 * portico_request_unref, even past its deadline. Returns req. */
PORTICO_API portico_request *portico_request_ref(portico_request *req);
/* Drops a reference taken with portico_request_ref (NULL is fine). */
PORTICO_API void portico_request_unref(portico_request *req);

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */
/* ------------------------------------------------------------------------ */

/* Replies to req with status (200..599), headers and body. headers is NULL
 * or a NULL-terminated array of name, value pairs, e.g.
 *   const char *h[] = {"content-type", "text/plain", NULL};
 * headers and body are borrowed. Returns 0 when the reply was handed to
 * Redis; PORTICO_ERR_DEADLINE when the deadline has passed (nothing sent:
 * the gateway has answered 504), _REPLIED for a second reply, _INVALID (bad
 * status or header), _BUS (Redis down: the gateway has answered 503), _STATE
 * (service freed) or _NOMEM. After any return but _INVALID the request is
 * done: do not use req again unless you hold a reference. */
PORTICO_API int portico_reply(portico_request *req, int status, const char *const *headers,
                              const void *body, size_t body_len);

/* Replies with value serialized as JSON and content-type application/json.
 * value is stolen (decref'd even on failure). Returns as portico_reply, or
 * _INVALID for value == NULL or nested deeper than 1000 levels. The text is
 * what json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) gives (compact, keys
 * in insertion order), written without a copy; portico_reply_begin is the
 * faster way still (no tree). */
PORTICO_API int portico_reply_json(portico_request *req, int status, json_t *value);

/* Replies with printf-formatted text, content-type text/plain; charset=utf-8.
 * Returns as portico_reply. */
PORTICO_API int portico_reply_text(portico_request *req, int status, const char *fmt, ...)
    PORTICO_PRINTF(3, 4);

/* Replies with the gateway's error shape: {"error":code,"message":message,
 * "request_id":<x-request-id>}. code and message are borrowed. */
PORTICO_API int portico_reply_error(portico_request *req, int status, const char *code,
                                    const char *message);

/* ------------------------------------------------------------------------ */
/* Replies written in place (no tree, no allocation per reply)               */
/* ------------------------------------------------------------------------ */

/* For hot paths: write the body straight into the request's reply buffer,
 * then send it. The buffer's memory is reused from one reply to the next.
 *   portico_writer *w = portico_reply_begin(req);
 *   portico_write_str(w, "{\"name\":");
 *   portico_write_json_str(w, name);           (quoted and escaped)
 *   portico_write_str(w, "}");
 *   portico_reply_end(w, 200, (const char *[]){"content-type", "application/json", NULL});
 * The writer belongs to req: begin again to start over; a writer never ended
 * is dropped with req. Writing never fails on its own: an allocation failure
 * is remembered and reported by portico_reply_end. */
typedef struct portico_writer portico_writer;
/* Starts (or restarts) req's reply body. Returns NULL only for req == NULL. */
PORTICO_API portico_writer *portico_reply_begin(portico_request *req);
/* Appends bytes as they are (len of them, or a C string). */
PORTICO_API void portico_write(portico_writer *w, const void *data, size_t len);
PORTICO_API void portico_write_str(portico_writer *w, const char *s);
/* Appends s as a JSON string: quoted, '"', '\\' and control characters
 * escaped. Bytes that are not valid UTF-8 are read as ISO-8859-1. */
PORTICO_API void portico_write_json_str(portico_writer *w, const char *s);
PORTICO_API void portico_write_json_strn(portico_writer *w, const char *s, size_t len);
/* Appends v in decimal. */
PORTICO_API void portico_write_json_int(portico_writer *w, int64_t v);
/* Replies to the request with what was written, as portico_reply(req, status,
 * headers, body): same returns, plus _NOMEM when writing ran out of memory
 * and _INVALID when w was not begun. The writer is done either way. */
PORTICO_API int portico_reply_end(portico_writer *w, int status, const char *const *headers);

/* ------------------------------------------------------------------------ */
/* Streamed replies (docs/protocol.md 4.3; server-sent events and the like)  */
/* ------------------------------------------------------------------------ */

/* A reply in many messages: the client gets the status and headers at once,
 * then each write as one chunk as it is published (content-type
 * text/event-stream makes it server-sent events: write whole events).
 *   portico_stream_begin(req, 200, (const char *[]){"content-type",
 *                        "text/event-stream", NULL});
 *   portico_stream_write(req, "data: 1\n\n", 9);   ... now or later ...
 *   portico_stream_end(req);
 * Once begun, the request's deadline no longer applies: the gateway waits
 * --stream-idle-timeout-ms (default 60 s) between two messages, then cuts the
 * response short. Writing after the handler returned (from a timer or any
 * event on the service's event_base) needs a reference
 * (portico_request_ref), dropped after the end; writing from another thread
 * is not supported (hand the data to the loop's thread first, e.g. with
 * event_active). Each write is one pub/sub message: keep them small (a body
 * never goes by claim check in a stream).
 *
 * When the client goes away (or the gateway aborts the stream) the gateway
 * publishes a cancel: the stream is then over, portico_request_cancelled()
 * turns true, the callback of portico_request_on_cancel runs (once), and
 * further writes return PORTICO_ERR_CANCELLED without sending anything.
 * A stop ends the streams still open after PORTICO_STOP_STREAM_MS the same
 * way (see portico_service_stop). */

/* Starts the stream: status (200..599) and headers as in portico_reply
 * (borrowed). Returns 0; _INVALID (bad status or header), _REPLIED (replied
 * or begun already), _DEADLINE (too late: the gateway said 504), _CANCELLED,
 * _BUS (Redis down: the gateway answered 503; the request is done), _STATE
 * (service freed, or a stop ended its streams already) or _NOMEM. */
PORTICO_API int portico_stream_begin(portico_request *req, int status, const char *const *headers);
/* Sends data[0..len) (borrowed; len 0 sends nothing) as the next message.
 * Returns 0; _STATE (not begun), _REPLIED (ended), _CANCELLED, _INVALID
 * (data NULL with len > 0), _BUS (Redis down: the stream is over and the
 * request done), or _NOMEM. */
PORTICO_API int portico_stream_write(portico_request *req, const void *data, size_t len);
/* Ends the stream (the client's response is complete); the request is done.
 * Returns as portico_stream_write. */
PORTICO_API int portico_stream_end(portico_request *req);
/* True once the gateway cancelled req (its client went away). */
PORTICO_API bool portico_request_cancelled(const portico_request *req);
/* fn(req, ud) runs once when req is cancelled, on the service's event_base;
 * req is valid during the call. Setting it again replaces it; fn NULL
 * removes it. Set it before the handler returns to be sure not to miss the
 * cancel. */
typedef void portico_cancel_fn(portico_request *req, void *ud);
PORTICO_API void portico_request_on_cancel(portico_request *req, portico_cancel_fn *fn, void *ud);

/* ------------------------------------------------------------------------ */
/* Calling other services (needs portico_service_enable_calls before start)  */
/* ------------------------------------------------------------------------ */

/* Creates a call to service (name of the target service) with method and
 * path (may include "?query"). All strings are borrowed (copied). Returns
 * the call (send it with portico_call_send, or drop it with
 * portico_call_free), or NULL with *err set (_INVALID, _NOMEM, _STATE when
 * calls are not enabled). */
PORTICO_API portico_call *portico_call_new(portico_service *svc, const char *service,
                                           const char *method, const char *path, int *err);
/* Adds a header (name and value borrowed). Hop-by-hop headers are refused.
 * Returns 0, _INVALID or _NOMEM. */
PORTICO_API int portico_call_add_header(portico_call *call, const char *name, const char *value);
/* Sets the body (borrowed, copied). Returns 0 or _NOMEM. */
PORTICO_API int portico_call_set_body(portico_call *call, const void *body, size_t len);
/* Sets the body to value as JSON and content-type application/json. value is
 * stolen. Returns 0, _INVALID or _NOMEM. */
PORTICO_API int portico_call_set_json(portico_call *call, json_t *value);
/* Sets the timeout (1..60000 ms; default: the target's announced timeout_ms,
 * else 5000). */
PORTICO_API void portico_call_set_timeout_ms(portico_call *call, int timeout_ms);
/* Makes the call part of handling parent (borrowed; read now): the call's
 * deadline is never later than parent's, and parent's x-request-id and trace
 * (traceparent, as a child span; tracestate as received) are passed on. A
 * call created while a handler or a call callback of the same service runs
 * gets this automatically from the request being handled. A traceparent
 * added with portico_call_add_header is sent instead of the trace, a
 * tracestate instead of parent's. */
PORTICO_API void portico_call_set_parent(portico_call *call, const portico_request *parent);
/* Frees a call that was not sent (NULL is fine). */
PORTICO_API void portico_call_free(portico_call *call);

/* The completion of a call: err is 0 and res the reply (borrowed, valid
 * during the callback only), or err is PORTICO_ERR_TIMEOUT, _NO_INSTANCE,
 * _BUS, _BAD_REPLY, _NO_ROUTE or _CANCELLED and res is NULL. */
typedef void portico_call_fn(portico_service *svc, int err, const portico_response *res, void *ud);

/* Sends call (taken: the library frees it, also on failure). It picks a live
 * instance of the target (least requests in flight, ties round-robin),
 * publishes the request with the service's own reply channel and retries
 * another instance when one is gone (up to 3 tries). Returns 0 and cb is
 * then called exactly once, later, from the event loop; or returns _INVALID
 * (cb NULL) and cb is never called. */
PORTICO_API int portico_call_send(portico_call *call, portico_call_fn *cb, void *ud);

/* Reply accessors (all pointers owned by res). */
PORTICO_API int portico_response_status(const portico_response *res);
PORTICO_API const char *portico_response_header(const portico_response *res, const char *name);
PORTICO_API size_t portico_response_header_count(const portico_response *res);
PORTICO_API int portico_response_header_at(const portico_response *res, size_t i, const char **name,
                                           const char **value);
PORTICO_API const void *portico_response_body(const portico_response *res, size_t *len);
/* The body parsed as JSON: a new reference (caller decrefs), or NULL. */
PORTICO_API json_t *portico_response_json(const portico_response *res);

/* ------------------------------------------------------------------------ */
/* Events (docs/sdk.md, "Event protocol")                                    */
/* ------------------------------------------------------------------------ */

/* Publishes data on topic ([A-Za-z0-9._-]{1,128}) on channel
 * "<prefix>:event:<topic>": fire and forget, delivered at most once to every
 * instance subscribed at that moment. data is borrowed (serialized now). The
 * service must be started. Returns 0, _INVALID, _BUS (Redis down: the event
 * is lost), _STATE or _NOMEM. */
PORTICO_API int portico_event_publish(portico_service *svc, const char *topic, json_t *data);

/* An event handler: ev is borrowed, valid during the call only. */
typedef void portico_event_fn(portico_service *svc, const portico_event *ev, void *ud);

/* Calls fn for every event published on topic from now on (after start:
 * once the subscription is in place). Several handlers per topic are fine;
 * each runs, in the order added. topic is borrowed. Returns 0, _INVALID or
 * _NOMEM. */
PORTICO_API int portico_event_subscribe(portico_service *svc, const char *topic,
                                        portico_event_fn *fn, void *ud);

/* Event accessors (pointers owned by ev). */
PORTICO_API const char *portico_event_topic(const portico_event *ev);
PORTICO_API const char *portico_event_id(const portico_event *ev);
/* The publishing service's name and instance ("" when not given). */
PORTICO_API const char *portico_event_source(const portico_event *ev);
PORTICO_API const char *portico_event_instance(const portico_event *ev);
PORTICO_API uint64_t portico_event_ts_ms(const portico_event *ev);
/* The event's trace context: a valid "traceparent" of its message (the
 * publisher's span), else "". Calls and events made from the handler
 * continue it. */
PORTICO_API const char *portico_event_traceparent(const portico_event *ev);
/* Its "tracestate" (bounded as portico_request_tracestate's), only with a
 * valid traceparent; else "". */
PORTICO_API const char *portico_event_tracestate(const portico_event *ev);
/* The payload (borrowed from ev: json_incref it to keep it). */
PORTICO_API json_t *portico_event_data(const portico_event *ev);

#ifdef __cplusplus
}
#endif

#endif
