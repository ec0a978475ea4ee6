/* tls.h -- the HTTPS listener's TLS (OpenSSL libssl); every OpenSSL call of
 * the gateway's client side is in tls.c.
 *
 * One server context per process: TLS 1.2 and 1.3 only, ALPN http/1.1
 * (http/1.0 accepted too), the server's cipher order (Mozilla
 * "intermediate" for 1.2, OpenSSL's TLS 1.3 suites), no renegotiation, no
 * compression, session resumption by tickets only (no server-side cache,
 * which --workers could not share). Ticket keys rotate every hour: the key
 * of hour n is derived from a random secret made at start (before
 * --workers forks, so every worker derives the same keys) and n; tickets
 * of the previous hour are still accepted and replaced by a fresh one.
 *
 * Handshake failures are counted by reason (stats.h):
 *   protocol   -- the client's hello or messages were refused: a version
 *                 below TLS 1.2, no shared cipher or group, no ALPN in
 *                 common, a malformed record or message, an alert
 *   plain_http -- plain HTTP on the TLS port (answered 400 by the owner)
 *   closed     -- the client closed or reset the connection mid-handshake
 *   timeout    -- not done within --header-timeout-ms of the accept */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct evbuffer;
struct gw_tls;

enum gw_tls_step {
    GW_TLS_OK,         /* done (handshake complete, bytes read, all written) */
    GW_TLS_WANT_READ,  /* call again once the socket is readable */
    GW_TLS_WANT_WRITE, /* call again once the socket is writable */
    GW_TLS_PLAIN_HTTP, /* handshake: the client spoke plain HTTP (counted) */
    GW_TLS_FAILED,     /* the session is over (counted when in the handshake) */
};

/* Handshake failure reasons: enum gw_tls_fail in stats.h. */

struct gw_config;

/* The reloadable part (reload.c's table; also at start and for
 * --check-config): prepare reads and checks next's certificate chain and key
 * files (PEM), whenever next names them, into a context not in use yet
 * (*staged; NULL when next has no TLS listener: the pair is only checked;
 * or next->tls_keep_pair: the pair in use stays), or returns -1 with one
 * line naming the file in err; commit
 * puts it in use for connections accepted from then on (the first commit
 * also makes the ticket key secret, before --workers forks); discard frees
 * it unused. */
int gw_tls_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen);
void gw_tls_commit(void *staged);
void gw_tls_discard(void *staged);
/* Loads the certificate and key files named by gw.cfg (tls_cert_file,
 * tls_key_file) into a new context and uses it for connections accepted
 * from now on (open ones keep theirs); ticket keys are kept, so sessions
 * still resume. On failure (-1, one line naming the file in err) the
 * current context stays. */
int gw_tls_reload(char *err, size_t errlen);
/* Frees the context (process exit). */
void gw_tls_deinit(void);

/* A server session on fd, handshake not started. */
struct gw_tls *gw_tls_new(evutil_socket_t fd);
/* Frees it (no alert sent: see gw_tls_close_notify). */
void gw_tls_free(struct gw_tls *t);
/* One step of the handshake: OK, WANT_READ, WANT_WRITE, PLAIN_HTTP, FAILED. */
enum gw_tls_step gw_tls_handshake(struct gw_tls *t, const char *peer);
bool gw_tls_established(const struct gw_tls *t);
/* Counts the handshake as failed: timeout. */
void gw_tls_handshake_timeout(struct gw_tls *t, const char *peer);
/* Reads records into buf[0..len): > 0 bytes (with *step OK), 0 with *step
 * WANT_READ or WANT_WRITE, -1 when the stream ended or failed. */
ssize_t gw_tls_read(struct gw_tls *t, char *buf, size_t len, enum gw_tls_step *step);
/* Decrypted bytes gw_tls_read has not returned yet, or an end it has not
 * reported (epoll will not report either). */
bool gw_tls_pending(const struct gw_tls *t);
/* Writes from out (drained by what was written): OK when out is empty,
 * WANT_WRITE / WANT_READ when the socket must be waited for, FAILED. */
enum gw_tls_step gw_tls_write(struct gw_tls *t, struct evbuffer *out);
/* Sends close_notify once, when the session is established and healthy
 * (best effort: the socket is non-blocking). */
void gw_tls_close_notify(struct gw_tls *t);

#endif
