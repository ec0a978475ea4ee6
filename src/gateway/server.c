/* server.c -- listeners, the connection cap, graceful shutdown. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "forward.h"
#include "gw.h"
#include "log.h"
#include "stats.h"

struct gw_server {
    struct evconnlistener *pub;
    struct evconnlistener *adm;
    char pub_addr[300];
    char adm_addr[300];
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    enum gw_listener_kind kind = (enum gw_listener_kind)(intptr_t)arg;
    int one = 1;
    (void)l;
    (void)salen;

    if (kind == GW_LISTENER_PUBLIC) {
        gw_stats.connections_accepted++;
        if (gw_conn_count(GW_LISTENER_PUBLIC) >= (size_t)gw.cfg->max_connections) {
            gw_stats.connections_refused++;
            evutil_closesocket(fd);
            return;
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    gw_conn_new(fd, sa, kind);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    (void)l;
    (void)arg;
    /* EMFILE and friends: log and keep going; the listener retries. */
    pc_log(PC_LOG_WARN, "server", "accept: %s", evutil_socket_error_to_string(e));
}

/* Binds host:port; writes the bound address (with the real port) to addr. */
static struct evconnlistener *listen_on(const struct gw_hostport *hp, enum gw_listener_kind kind,
                                        char *addr, size_t addrlen, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct evconnlistener *l;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char port[8], host[INET6_ADDRSTRLEN];
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%d", hp->port);
    rc = getaddrinfo(hp->host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", hp->host, gai_strerror(rc));
        return NULL;
    }
    if (gw.cfg->workers > 1) flags |= LEV_OPT_REUSEABLE_PORT;
    l = evconnlistener_new_bind(gw.base, on_accept, (void *)(intptr_t)kind, flags, 1024,
                                ai->ai_addr, (int)ai->ai_addrlen);
    freeaddrinfo(ai);
    if (l == NULL) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", hp->host, hp->port, strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, on_accept_error);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(addr, addrlen, "[%s]:%d", host, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(addr, addrlen, "%s:%d", host, ntohs(s4->sin_port));
    }
    return l;
}

struct gw_server *gw_server_new(char *err, size_t errlen)
{
    struct gw_server *s = calloc(1, sizeof *s);
    if (s == NULL) abort();
    s->pub = listen_on(&gw.cfg->listen, GW_LISTENER_PUBLIC, s->pub_addr, sizeof s->pub_addr,
                       err, errlen);
    if (s->pub == NULL) goto fail;
    if (gw.cfg->admin_off) {
        snprintf(s->adm_addr, sizeof s->adm_addr, "off");
    } else {
        s->adm = listen_on(&gw.cfg->admin, GW_LISTENER_ADMIN, s->adm_addr, sizeof s->adm_addr,
                           err, errlen);
        if (s->adm == NULL) goto fail;
    }
    return s;
fail:
    gw_server_free(s);
    return NULL;
}

void gw_server_free(struct gw_server *s)
{
    if (s == NULL) return;
    if (s->pub) evconnlistener_free(s->pub);
    if (s->adm) evconnlistener_free(s->adm);
    free(s);
}

const char *gw_server_listen_addr(const struct gw_server *s) { return s->pub_addr; }
const char *gw_server_admin_addr(const struct gw_server *s) { return s->adm_addr; }

void gw_server_drain(struct gw_server *s)
{
    if (s->pub) {
        evconnlistener_free(s->pub);
        s->pub = NULL;
    }
    gw_conn_drain_all();
    gw_server_check_drained(s);
}

void gw_server_check_drained(struct gw_server *s)
{
    (void)s;
    if (gw.draining && gw_conn_count(GW_LISTENER_PUBLIC) == 0 && gw_forward_inflight() == 0)
        event_base_loopexit(gw.base, NULL);
}
