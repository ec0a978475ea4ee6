/* test_tls.c -- gw_tls_reload: a new certificate for new connections, the
 * old one kept when the new files are bad, tickets still resuming across a
 * reload. Real handshakes over a socketpair against an OpenSSL client;
 * the certificates are made with `openssl req` in a temporary directory. */
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "gw.h"
#include "tls.h"
#include "test.h"

static char dir[64];

/* dir/name.crt and dir/name.key, CN=name. */
static void make_pair(const char *name)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/%s.key -out %s/%s.crt "
             "-days 2 -subj /CN=%s >/dev/null 2>&1",
             dir, name, dir, name, name);
    CHECK_EQ_INT(system(cmd), 0);
}

static void path(char *out, size_t cap, const char *name, const char *ext)
{
    snprintf(out, cap, "%s/%s.%s", dir, name, ext);
}

/* One handshake against the gateway's current context: the server
 * certificate's CN into cn ("" on failure); *sess: resume it (may be NULL),
 * replaced by the new session; *reused: whether it was resumed. */
static void handshake(SSL_CTX *cctx, char *cn, size_t cap, SSL_SESSION **sess, bool *reused)
{
    int sv[2];
    SSL *cl;
    struct gw_tls *t;
    bool server_done = false, client_done = false;

    cn[0] = '\0';
    *reused = false;
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    t = gw_tls_new(sv[0]);
    cl = SSL_new(cctx);
    SSL_set_fd(cl, sv[1]);
    SSL_set_connect_state(cl);
    SSL_set_tlsext_host_name(cl, "localhost");
    if (sess && *sess) SSL_set_session(cl, *sess);
    for (int i = 0; i < 100 && !(server_done && client_done); i++) {
        if (!client_done) {
            int rc = SSL_do_handshake(cl);
            if (rc == 1)
                client_done = true;
            else if (SSL_get_error(cl, rc) != SSL_ERROR_WANT_READ)
                break;
        }
        if (!server_done) {
            enum gw_tls_step st = gw_tls_handshake(t, "test");
            if (st == GW_TLS_OK)
                server_done = true;
            else if (st != GW_TLS_WANT_READ && st != GW_TLS_WANT_WRITE)
                break;
        }
    }
    CHECK(server_done && client_done);
    if (server_done && client_done) {
        X509 *peer = SSL_get1_peer_certificate(cl);
        CHECK(peer != NULL);
        if (peer) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, (int)cap);
            X509_free(peer);
        }
        *reused = SSL_session_reused(cl);
        if (sess) {
            if (*sess) SSL_SESSION_free(*sess);
            *sess = SSL_get1_session(cl);
        }
    }
    SSL_shutdown(cl); /* a session freed without it is no longer resumable */
    SSL_free(cl);
    gw_tls_free(t);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    static struct gw_config cfg;
    char cn[64], err[512];
    SSL_CTX *cctx;
    SSL_SESSION *sess = NULL;
    bool reused;

    snprintf(dir, sizeof dir, "%s/portico-tls-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(dir) == NULL) return 1;
    make_pair("one");
    make_pair("two");
    gw.cfg = &cfg;
    cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION); /* the session at once */
    SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_CLIENT);

    path(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "one", "crt");
    path(cfg.tls_key_file, sizeof cfg.tls_key_file, "one", "key");
    {
        void *staged = NULL;
        CHECK_EQ_INT(gw_tls_prepare(&cfg, &staged, err, sizeof err), 0);
        CHECK(staged != NULL);
        gw_tls_commit(staged);
    }
    handshake(cctx, cn, sizeof cn, &sess, &reused);
    CHECK_EQ_STR(cn, "one");
    CHECK(!reused);
    handshake(cctx, cn, sizeof cn, &sess, &reused);
    CHECK(reused); /* before any reload */

    /* a good pair: new connections get it; tickets issued before resume */
    path(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "two", "crt");
    path(cfg.tls_key_file, sizeof cfg.tls_key_file, "two", "key");
    CHECK_EQ_INT(gw_tls_reload(err, sizeof err), 0);
    handshake(cctx, cn, sizeof cn, &sess, &reused);
    CHECK(reused);
    handshake(cctx, cn, sizeof cn, NULL, &reused);
    CHECK_EQ_STR(cn, "two");

    /* a missing key: refused, named, the current pair kept */
    path(cfg.tls_key_file, sizeof cfg.tls_key_file, "three", "key");
    CHECK_EQ_INT(gw_tls_reload(err, sizeof err), -1);
    CHECK(strstr(err, cfg.tls_key_file) != NULL && strstr(err, "No such file") != NULL);
    handshake(cctx, cn, sizeof cn, NULL, &reused);
    CHECK_EQ_STR(cn, "two");

    /* a mismatched pair: refused, both named, the current pair kept */
    path(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "one", "crt");
    path(cfg.tls_key_file, sizeof cfg.tls_key_file, "two", "key");
    CHECK_EQ_INT(gw_tls_reload(err, sizeof err), -1);
    CHECK(strstr(err, "does not match the certificate") != NULL &&
          strstr(err, cfg.tls_cert_file) != NULL && strstr(err, cfg.tls_key_file) != NULL);
    handshake(cctx, cn, sizeof cn, NULL, &reused);
    CHECK_EQ_STR(cn, "two");

    /* a certificate file that is not PEM */
    path(cfg.tls_cert_file, sizeof cfg.tls_cert_file, "two", "key");
    CHECK_EQ_INT(gw_tls_reload(err, sizeof err), -1);
    CHECK(strstr(err, "--tls-cert") != NULL && strstr(err, "no PEM certificate") != NULL);

    SSL_SESSION_free(sess);
    SSL_CTX_free(cctx);
    gw_tls_deinit();
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK_EQ_INT(system(cmd), 0);
    }
    return test_finish("tls");
}
