/* server.c -- listeners, the connection cap, graceful shutdown. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addrcount.h"
#include "admin.h"
#include "clock.h"
#include "forward.h"
#include "gw.h"
#include "log.h"
#include "notify.h"
#include "stats.h"
#include "errf.h"
#include "stream.h"
#include "xalloc.h"

struct gw_server {
    struct evconnlistener *pub;
    struct evconnlistener *tls; /* --tls-listen: public, HTTPS */
    struct evconnlistener *adm;
    char pub_addr[300];
    char tls_addr[300];
    char adm_addr[300];
};

/* A listener's callback argument: its kind, and whether it speaks TLS. */
#define ACCEPT_TLS 0x100

static void on_conns_gone(void) { gw_server_check_drained(gw.server); }

/* What each listener's connections do with their requests. */
static const struct gw_conn_hooks hooks[] = {
    [GW_LISTENER_PUBLIC] = {.request = gw_forward_handle,
                            .cancel = gw_stream_cancel,
                            .gone = on_conns_gone,
                            .head = gw_forward_head},
    [GW_LISTENER_ADMIN] = {.request = gw_admin_handle,
                           .cancel = gw_req_release,
                           .gone = on_conns_gone,
                           .head = NULL}, /* admin requests' bodies are read whole */
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    enum gw_listener_kind kind = (enum gw_listener_kind)((intptr_t)arg & ~ACCEPT_TLS);
    bool tls = ((intptr_t)arg & ACCEPT_TLS) != 0;
    int one = 1;

    struct gw_addrkey addr, *counted = NULL;
    (void)l;
    (void)salen;

    if (kind == GW_LISTENER_PUBLIC) {
        gw_stats->connections_accepted++;
        if (gw_conn_count(GW_LISTENER_PUBLIC) >= (size_t)gw.cfg->max_connections) {
            gw_stats->connections_refused++;
            evutil_closesocket(fd);
            return;
        }
        if (gw.cfg->max_connections_per_ip > 0) {
            gw_addrkey_of(sa, &addr);
            if (!gw_addrcount_add(&addr, (unsigned)gw.cfg->max_connections_per_ip)) {
                gw_stats->connections_refused_per_ip++;
                evutil_closesocket(fd);
                return;
            }
            counted = &addr;
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    gw_conn_new(fd, sa, kind, &hooks[kind], counted, tls);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int e = EVUTIL_SOCKET_ERROR();
    (void)l;
    (void)arg;
    /* EMFILE and friends: log and keep going; the listener retries. */
    pc_log(PC_LOG_WARN, "server", "accept: %s", evutil_socket_error_to_string(e));
}

/* The first address to listen on for host:port (freeaddrinfo it), or NULL
 * with a reason in err. */
static struct addrinfo *resolve(const struct gw_hostport *hp, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char port[8];
    int rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%d", hp->port);
    rc = getaddrinfo(hp->host, port, &hints, &ai);
    if (rc != 0) {
        pc_errf(err, errlen, "cannot resolve %s: %s", hp->host, gai_strerror(rc));
        return NULL;
    }
    return ai;
}

/* Binds host:port; writes the bound address (with the real port) to addr. */
static struct evconnlistener *listen_on(const struct gw_hostport *hp, intptr_t arg, char *addr,
                                        size_t addrlen, char *err, size_t errlen)
{
    struct addrinfo *ai = resolve(hp, err, errlen);
    struct evconnlistener *l;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN];
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;

    if (ai == NULL) return NULL;
    if (gw.cfg->workers > 1) flags |= LEV_OPT_REUSEABLE_PORT;
    l = evconnlistener_new_bind(gw.base, on_accept, (void *)arg, flags, 1024, ai->ai_addr,
                                (int)ai->ai_addrlen);
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
    struct gw_server *s = pc_xcalloc(1, sizeof *s);
    if (gw.cfg->listen_off) {
        snprintf(s->pub_addr, sizeof s->pub_addr, "off");
    } else {
        s->pub = listen_on(&gw.cfg->listen, GW_LISTENER_PUBLIC, s->pub_addr, sizeof s->pub_addr,
                           err, errlen);
        if (s->pub == NULL) goto fail;
    }
    if (!gw.cfg->tls_off) {
        s->tls = listen_on(&gw.cfg->tls_listen, GW_LISTENER_PUBLIC | ACCEPT_TLS, s->tls_addr,
                           sizeof s->tls_addr, err, errlen);
        if (s->tls == NULL) goto fail;
    }
    if (gw.cfg->admin_off) {
        snprintf(s->adm_addr, sizeof s->adm_addr, "off");
    } else {
        s->adm = listen_on(&gw.cfg->admin, GW_LISTENER_ADMIN, s->adm_addr, sizeof s->adm_addr, err,
                           errlen);
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
    if (s->tls) evconnlistener_free(s->tls);
    if (s->adm) evconnlistener_free(s->adm);
    free(s);
}

const char *gw_server_listen_addr(const struct gw_server *s) { return s->pub_addr; }
const char *gw_server_admin_addr(const struct gw_server *s) { return s->adm_addr; }
const char *gw_server_tls_addr(const struct gw_server *s) { return s->tls ? s->tls_addr : NULL; }

void gw_server_drain(struct gw_server *s)
{
    if (s->pub) {
        evconnlistener_free(s->pub);
        s->pub = NULL;
    }
    if (s->tls) {
        evconnlistener_free(s->tls);
        s->tls = NULL;
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

/* ------------------------------------------------------------------------ */
/* --workers N: a supervising parent and N single-threaded workers           */
/* ------------------------------------------------------------------------ */

/* Binds (without listening) a SO_REUSEPORT socket on the public address so
 * that port 0 becomes one concrete port that every worker then binds too.
 * Returns the socket (kept open until the workers listen) or -1. */
static int reserve_port(struct gw_hostport *hp, char *err, size_t errlen)
{
    struct addrinfo *ai = resolve(hp, err, errlen);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd, one = 1;

    if (ai == NULL) return -1;
    if (hp->port == 0) {
        /* bind(0) with SO_REUSEPORT set may hand out a port that another
         * SO_REUSEPORT listener of this user holds: pick the port without
         * it first, then take that port with it. */
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
            uint16_t p = ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port;
            if (ai->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = p;
            else
                ((struct sockaddr_in *)ai->ai_addr)->sin_port = p;
        }
        if (fd >= 0) close(fd);
        sl = sizeof ss;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", hp->host, hp->port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    hp->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Forks worker i. In the child: returns 0 with the signal mask restored and
 * the admin listener kept by worker 0 only. In the parent: the child's pid. */
static pid_t spawn(int i, struct gw_config *cfg, bool admin_off, const sigset_t *old)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    gw_notify_disable(); /* the supervisor speaks for all */
    sigprocmask(SIG_SETMASK, old, NULL);
    if (i != 0)
        cfg->admin_off = true;
    else
        cfg->admin_off = admin_off;
    return 0;
}

int gw_workers_start(struct gw_config *cfg, int *ready_fd, char *err, size_t errlen)
{
    int n = cfg->workers, pipefd[2], alive = 0, code = 0, ready = 0, reserved = -1,
        reserved_tls = -1;
    bool admin_off = cfg->admin_off, stopping = false;
    pid_t *pids = pc_xcalloc((size_t)n, sizeof *pids);
    char line[1024], first[1024] = "", ids[256 * (PC_UUID_LEN + 1) + 1] = "";
    size_t got = 0;
    sigset_t set, old;
    uint64_t last_restart_ms = 0;

    bool failed =
        (!cfg->listen_off && (reserved = reserve_port(&cfg->listen, err, errlen)) < 0) ||
        (!cfg->tls_off && (reserved_tls = reserve_port(&cfg->tls_listen, err, errlen)) < 0);
    if (!failed && pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        failed = true;
    }
    if (failed) {
        if (reserved >= 0) close(reserved);
        if (reserved_tls >= 0) close(reserved_tls);
        free(pids);
        return -1;
    }
    /* Signals are taken synchronously in the parent (sigtimedwait below). */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < n; i++) {
        if ((pids[i] = spawn(i, cfg, admin_off, &old)) == 0) {
            close(pipefd[0]);
            if (reserved >= 0) close(reserved);
            if (reserved_tls >= 0) close(reserved_tls);
            fcntl(pipefd[1], F_SETFL, 0);
            *ready_fd = pipefd[1];
            free(pids);
            return i;
        }
        if (pids[i] < 0) {
            snprintf(err, errlen, "fork: %s", strerror(errno));
            n = i;
            stopping = true;
            code = 1;
            break;
        }
        alive++;
    }
    close(pipefd[1]);
    if (stopping)
        for (int i = 0; i < n; i++) kill(pids[i], SIGTERM);

    for (;;) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        siginfo_t si;
        int sig = sigtimedwait(&set, &si, &tick);
        pid_t pid;
        int status;
        ssize_t r;

        if (sig == SIGHUP) {
            /* Each worker reloads on its own (and counts it). */
            gw_notify_reloading();
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) kill(pids[i], SIGHUP);
            gw_notify_reloaded();
        }
        if (sig == SIGUSR1) /* each worker reopens its access log */
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) kill(pids[i], SIGUSR1);
        if (sig == SIGTERM || sig == SIGINT) {
            /* Each worker drains on the first signal, exits on the second. */
            if (!stopping) gw_notify_stopping();
            stopping = true;
            for (int i = 0; i < n; i++)
                if (pids[i] > 0) kill(pids[i], sig);
        }
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < n; i++) {
                if (pids[i] != pid) continue;
                pids[i] = 0;
                alive--;
                if (stopping) {
                    /* A worker that did not drain cleanly fails the exit. */
                    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) code = 1;
                    break;
                }
                if (ready < n) {
                    /* A worker that fails to start (its reason is on stderr):
                     * the whole gateway fails to start. */
                    stopping = true;
                    code = 1;
                    for (int k = 0; k < n; k++)
                        if (pids[k] > 0) kill(pids[k], SIGTERM);
                    break;
                }
                pc_log(PC_LOG_WARN, "server", "worker %d (pid %d) ended (status %d); restarting", i,
                       (int)pid, status);
                /* At most one restart a second: a worker that keeps dying must
                 * not turn the parent into a fork loop. */
                if (pc_mono_ms() - last_restart_ms < GW_WORKER_RESTART_MS) {
                    struct timespec pause = {GW_WORKER_RESTART_MS / 1000, 0};
                    nanosleep(&pause, NULL);
                }
                last_restart_ms = pc_mono_ms();
                if ((pids[i] = spawn(i, cfg, admin_off, &old)) == 0) {
                    close(pipefd[0]);
                    *ready_fd = -1; /* the ready line was printed already */
                    free(pids);
                    return i;
                }
                if (pids[i] > 0)
                    alive++;
                else
                    pids[i] = 0;
                break;
            }
        }
        /* Ready lines from the workers: "listen=... admin=... gateway_id=...". */
        while ((r = read(pipefd[0], line + got, sizeof line - 1 - got)) > 0) {
            char *nl;
            got += (size_t)r;
            line[got] = '\0';
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                /* Pin the admin port a worker really bound (it may have been
                 * 0): a restarted admin worker binds the same one again. */
                const char *adm = strstr(line, " admin=");
                if (adm && strncmp(adm + 7, "off", 3) != 0) {
                    const char *end = strchr(adm + 7, ' ');
                    const char *colon =
                        memrchr(adm + 7, ':', end ? (size_t)(end - adm - 7) : strlen(adm + 7));
                    if (colon) cfg->admin.port = atoi(colon + 1);
                }
                if (ready < n) {
                    const char *id = strstr(line, "gateway_id=");
                    if (ready == 0 || strstr(line, "admin=off") == NULL)
                        snprintf(first, sizeof first, "%s", line);
                    if (id) {
                        if (ids[0]) strncat(ids, ",", sizeof ids - strlen(ids) - 1);
                        strncat(ids, id + 11, sizeof ids - strlen(ids) - 1);
                    }
                    if (++ready == n) {
                        /* every worker listens: the ports are held */
                        if (reserved >= 0) close(reserved);
                        if (reserved_tls >= 0) close(reserved_tls);
                        reserved = reserved_tls = -1;
                        fprintf(stderr, "portico ready %s workers=%d gateway_ids=%s\n", first, n,
                                ids);
                        fflush(stderr);
                        gw_notify_ready();
                    }
                }
                got -= (size_t)(nl + 1 - line);
                memmove(line, nl + 1, got + 1);
            }
            if (got == sizeof line - 1) got = 0; /* an overlong line: dropped */
        }
        if (stopping && alive == 0) break;
    }
    if (reserved >= 0) close(reserved);
    if (reserved_tls >= 0) close(reserved_tls);
    close(pipefd[0]);
    free(pids);
    exit(code);
}
