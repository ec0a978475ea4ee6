/* tls.c -- the HTTPS listener's TLS: the server context, handshakes,
 * records in and out, session tickets (see tls.h for the choices).
 *
 * The socket is non-blocking: every call may answer "want read" or "want
 * write", which sock.c turns into waiting on the connection's own read or
 * write event. The error queue is per thread and shared by every
 * connection, so it is emptied after each failure (SSL_get_error is only
 * reliable with an empty queue). */
#include "tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "gw.h"
#include "log.h"
#include "stats.h"
#include "xalloc.h"

/* Mozilla's "intermediate" TLS 1.2 suites (server-side TLS guidelines v5.7),
 * in the server's order; TLS 1.3 keeps OpenSSL's three suites. */
#define GW_TLS12_CIPHERS                                                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define GW_TLS_GROUPS "X25519:prime256v1:secp384r1"
#define GW_TLS_TICKET_PERIOD_S 3600 /* a ticket key is used for one hour... */
/* ...and accepted for one more (a ticket under it is replaced) */
#define GW_TLS_WRITE_MAX 16384 /* one full record per SSL_write */

struct gw_tls {
    SSL *ssl;
    bool established; /* handshake complete */
    bool failed;      /* a fatal error: no close_notify */
    bool ended;       /* close_notify received or failed: the next read reports it */
    bool notified;    /* close_notify sent */
};

static SSL_CTX *server_ctx;

/* ------------------------------------------------------------------------ */
/* Session tickets                                                           */
/* ------------------------------------------------------------------------ */

static unsigned char ticket_secret[32]; /* made at start, before --workers forks */

struct ticket_key {
    bool set;
    uint64_t period; /* hours since the epoch */
    unsigned char name[16], aes[32], hmac[32];
};
static struct ticket_key keys[2]; /* by period parity: this hour and the last */

/* The key of hour `period`: HMAC-SHA512(secret, label || period), the same
 * in every worker without any exchange. */
static const struct ticket_key *ticket_key(uint64_t period)
{
    struct ticket_key *k = &keys[period & 1];
    unsigned char msg[9], out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (k->set && k->period == period) return k;
    for (int i = 0; i < 8; i++) msg[1 + i] = (unsigned char)(period >> (56 - 8 * i));
    msg[0] = 1;
    pc_check(HMAC(EVP_sha512(), ticket_secret, sizeof ticket_secret, msg, sizeof msg, out, &n) &&
             n >= 48);
    memcpy(k->name, out, 16);
    memcpy(k->aes, out + 16, 32);
    msg[0] = 2;
    pc_check(HMAC(EVP_sha512(), ticket_secret, sizeof ticket_secret, msg, sizeof msg, out, &n) &&
             n >= 32);
    memcpy(k->hmac, out, 32);
    OPENSSL_cleanse(out, sizeof out);
    k->period = period;
    k->set = true;
    return k;
}

static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    static char digest[] = "SHA256";
    uint64_t now = gw_now_unix_ms() / 1000 / GW_TLS_TICKET_PERIOD_S;
    const struct ticket_key *k = ticket_key(now);
    int rc = 1;
    OSSL_PARAM params[3];

    (void)s;
    if (enc) {
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1) return -1;
        memcpy(name, k->name, 16);
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1) return -1;
    } else {
        if (memcmp(name, k->name, 16) != 0) {
            k = ticket_key(now - 1);
            if (memcmp(name, k->name, 16) != 0) return 0; /* unknown or too old: full handshake */
            rc = 2;                                       /* good, but issue a new one */
        }
        if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1) return -1;
    }
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The context                                                               */
/* ------------------------------------------------------------------------ */

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1\x08http/1.0";
    unsigned char *sel = NULL;

    (void)s;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301) */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL's reason for the last failure, the queue emptied. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown error";
}

/* Refuses a file that cannot be opened, with the system's reason. */
static int check_readable(const char *flag, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char c;

    if (f == NULL) return pc_errf(err, errlen, "%s %.300s: %s", flag, path, strerror(errno));
    if (fread(&c, 1, 1, f) != 1 && ferror(f)) {
        int e = errno;
        fclose(f);
        return pc_errf(err, errlen, "%s %.300s: %s", flag, path, strerror(e));
    }
    fclose(f);
    return 0;
}

static SSL_CTX *ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
    SSL_CTX *c;

    if (check_readable("--tls-cert", cert, err, errlen) != 0 ||
        check_readable("--tls-key", key, err, errlen) != 0)
        return NULL;
    c = SSL_CTX_new(TLS_server_method());
    pc_check(c != NULL);
    pc_check(SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) == 1 &&
             SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) == 1);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
    pc_check(SSL_CTX_set_cipher_list(c, GW_TLS12_CIPHERS) == 1);
    pc_check(SSL_CTX_set1_groups_list(c, GW_TLS_GROUPS) == 1);
    SSL_CTX_set_dh_auto(c, 1);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF); /* tickets only */
    SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
    SSL_CTX_set_alpn_select_cb(c, alpn_cb, NULL);
    /* No read-ahead: bytes OpenSSL holds are then only the rest of the
     * record being read (SSL_pending), never whole records epoll cannot
     * see; a partial record waits for the socket like any other read. */

    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        pc_errf(err, errlen, "--tls-cert %.300s: no PEM certificate chain (%s)", cert,
                ssl_reason());
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH ||
                                               ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH)) {
            ERR_clear_error();
            pc_errf(err, errlen, "--tls-key %.300s: does not match the certificate in %.300s", key,
                    cert);
        } else {
            pc_errf(err, errlen, "--tls-key %.300s: no PEM private key (%s)", key, ssl_reason());
        }
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        ERR_clear_error();
        pc_errf(err, errlen, "--tls-key %.300s: does not match the certificate in %.300s", key,
                cert);
        goto fail;
    }
    return c;
fail:
    SSL_CTX_free(c);
    return NULL;
}

/* Control bytes (a file name may hold any) would break the one line. */
static int one_line(char *err, size_t errlen)
{
    for (size_t i = 0; i < errlen && err[i]; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f) err[i] = '?';
    return -1;
}

int gw_tls_prepare(const struct gw_config *next, void **staged, char *err, size_t errlen)
{
    SSL_CTX *c;

    *staged = NULL;
    if (next->tls_keep_pair) return 0; /* the pair in use stays (reload.h) */
    if (next->tls_off && next->tls_cert_file[0] == '\0' && next->tls_key_file[0] == '\0')
        return 0; /* no TLS listener, no pair named: nothing to read */
    /* (half a pair without a listener is refused with the settings, config.c) */
    if (next->tls_cert_file[0] == '\0' || next->tls_key_file[0] == '\0') /* a kept listener */
        return pc_errf(err, errlen,
                       "--tls-listen (kept until a restart) needs both --tls-cert and --tls-key");
    c = ctx_new(next->tls_cert_file, next->tls_key_file, err, errlen);
    if (c == NULL) return one_line(err, errlen);
    if (next->tls_off) { /* a pair named without a listener is checked all the same (SPEC §9) */
        SSL_CTX_free(c);
        return 0;
    }
    *staged = c;
    return 0;
}

void gw_tls_commit(void *staged)
{
    if (staged == NULL) return;
    if (server_ctx == NULL) {
        /* The first pair: the ticket secret is made now, before --workers
         * forks, so that every worker derives the same ticket keys. */
        pc_check(RAND_bytes(ticket_secret, sizeof ticket_secret) == 1);
    }
    SSL_CTX_free(server_ctx); /* open sessions hold a reference of their own */
    server_ctx = staged;
}

void gw_tls_discard(void *staged) { SSL_CTX_free(staged); }

int gw_tls_reload(char *err, size_t errlen)
{
    void *staged;

    if (server_ctx == NULL) return 0; /* TLS is off */
    if (gw_tls_prepare(gw.cfg, &staged, err, errlen) != 0) return -1;
    gw_tls_commit(staged);
    return 0;
}

void gw_tls_deinit(void)
{
    SSL_CTX_free(server_ctx);
    server_ctx = NULL;
    OPENSSL_cleanse(ticket_secret, sizeof ticket_secret);
    OPENSSL_cleanse(keys, sizeof keys);
}

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

struct gw_tls *gw_tls_new(evutil_socket_t fd)
{
    struct gw_tls *t = pc_xcalloc(1, sizeof *t);
    t->ssl = SSL_new(server_ctx);
    pc_check(t->ssl != NULL && SSL_set_fd(t->ssl, fd) == 1);
    SSL_set_accept_state(t->ssl);
    return t;
}

void gw_tls_free(struct gw_tls *t)
{
    SSL_free(t->ssl);
    free(t);
}

bool gw_tls_established(const struct gw_tls *t) { return t->established; }

static void handshake_failed(struct gw_tls *t, enum gw_tls_fail why, const char *peer,
                             const char *detail)
{
    t->failed = true;
    gw_stats->tls_handshake_failures[why]++;
    pc_log(PC_LOG_DEBUG, "tls", "%s: handshake failed (%s): %s", peer, gw_tls_fail_names[why],
           detail);
}

enum gw_tls_step gw_tls_handshake(struct gw_tls *t, const char *peer)
{
    int rc = SSL_do_handshake(t->ssl), e;
    unsigned long code;
    enum gw_tls_fail why = GW_TLS_FAIL_CLOSED;

    if (rc == 1) {
        t->established = true;
        gw_stats->tls_handshakes[SSL_session_reused(t->ssl) ? 1 : 0]++;
        return GW_TLS_OK;
    }
    e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) return GW_TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE) return GW_TLS_WANT_WRITE;
    code = ERR_peek_last_error();
    if (e == SSL_ERROR_SSL && ERR_GET_LIB(code) == ERR_LIB_SSL) {
        int r = ERR_GET_REASON(code);
        if (r == SSL_R_HTTP_REQUEST || r == SSL_R_HTTPS_PROXY_REQUEST)
            why = GW_TLS_FAIL_PLAIN_HTTP;
        else if (r != SSL_R_UNEXPECTED_EOF_WHILE_READING)
            why = GW_TLS_FAIL_PROTOCOL;
    } else if (e == SSL_ERROR_SSL) {
        why = GW_TLS_FAIL_PROTOCOL;
    }
    handshake_failed(t, why, peer, e == SSL_ERROR_SSL ? ssl_reason() : "connection closed");
    ERR_clear_error();
    return why == GW_TLS_FAIL_PLAIN_HTTP ? GW_TLS_PLAIN_HTTP : GW_TLS_FAILED;
}

void gw_tls_handshake_timeout(struct gw_tls *t, const char *peer)
{
    handshake_failed(t, GW_TLS_FAIL_TIMEOUT, peer, "not done within the header timeout");
}

ssize_t gw_tls_read(struct gw_tls *t, char *buf, size_t len, enum gw_tls_step *step)
{
    size_t got = 0, n;

    *step = GW_TLS_OK;
    if (t->ended) return -1;
    while (got < len) {
        int rc = SSL_read_ex(t->ssl, buf + got, len - got, &n);
        if (rc == 1) {
            got += n;
            if (SSL_pending(t->ssl) == 0) break; /* the rest is in the socket: epoll says */
            continue;
        }
        switch (SSL_get_error(t->ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            *step = GW_TLS_WANT_READ;
            break;
        case SSL_ERROR_WANT_WRITE:
            *step = GW_TLS_WANT_WRITE;
            break;
        case SSL_ERROR_ZERO_RETURN: /* close_notify */
            t->ended = true;
            break;
        default: /* reset, end of stream without close_notify, a bad record */
            t->ended = t->failed = true;
            ERR_clear_error();
            break;
        }
        break;
    }
    if (got == 0 && t->ended) return -1;
    return (ssize_t)got;
}

bool gw_tls_pending(const struct gw_tls *t) { return t->ended || SSL_pending(t->ssl) > 0; }

enum gw_tls_step gw_tls_write(struct gw_tls *t, struct evbuffer *out)
{
    size_t len, n;

    while ((len = evbuffer_get_length(out)) > 0) {
        /* A retry after WANT_WRITE must offer at least what it offered
         * before: out only grows at its end, so the same prefix or more. */
        size_t chunk = len < GW_TLS_WRITE_MAX ? len : GW_TLS_WRITE_MAX;
        const unsigned char *p = evbuffer_pullup(out, (ev_ssize_t)chunk);
        int rc = SSL_write_ex(t->ssl, p, chunk, &n);
        if (rc == 1) {
            evbuffer_drain(out, n);
            continue;
        }
        switch (SSL_get_error(t->ssl, rc)) {
        case SSL_ERROR_WANT_WRITE:
            return GW_TLS_WANT_WRITE;
        case SSL_ERROR_WANT_READ:
            return GW_TLS_WANT_READ;
        default:
            t->failed = true;
            ERR_clear_error();
            return GW_TLS_FAILED;
        }
    }
    return GW_TLS_OK;
}

void gw_tls_close_notify(struct gw_tls *t)
{
    if (!t->established || t->failed || t->notified) return;
    t->notified = true;
    if (SSL_shutdown(t->ssl) < 0) ERR_clear_error();
}
