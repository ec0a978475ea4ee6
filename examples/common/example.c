/* example.c -- see example.h. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"

static void on_log(int level, const char *msg, void *ud)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const char *svc = ud;

    fprintf(stderr, "%s %s: %s\n", names[level & 3], svc, msg);
}

static void on_ready(portico_service *svc, void *ud)
{
    struct example *ex = ud;

    /* once: later calls are re-registrations after a Redis reconnect */
    if (ex->ready_count++ == 0)
        fprintf(stderr, "%s ready instance=%s\n", portico_service_name(svc),
                portico_service_instance(svc));
}

static void on_stopped(portico_service *svc, void *ud)
{
    struct example *ex = ud;

    (void)svc;
    event_base_loopexit(ex->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *ud)
{
    struct example *ex = ud;

    (void)what;
    fprintf(stderr, "%s: signal %d, stopping\n", portico_service_name(ex->svc), (int)sig);
    if (portico_service_stop(ex->svc, on_stopped, ex) != 0)
        event_base_loopexit(ex->base, NULL); /* second signal, or never started */
}

int example_init(struct example *ex, int argc, char **argv, const char *service)
{
    const char *url = getenv("PORTICO_REDIS");
    const char *prefix = getenv("PORTICO_PREFIX");
    const char *secret_file = getenv("PORTICO_REGISTRATION_SECRET_FILE");
    const char *claim = getenv("PORTICO_CLAIM_CHECK_BYTES");
    bool claim_set = false;
    size_t claim_bytes = 0;
    int err = 0;

    memset(ex, 0, sizeof *ex);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--prefix") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else if (strcmp(argv[i], "--registration-secret-file") == 0 && i + 1 < argc) {
            secret_file = argv[++i];
        } else {
            fprintf(stderr, "usage: %s [--redis URL] [--prefix P] [--registration-secret-file F]\n",
                    argv[0]);
            return -1;
        }
    }
    if (url == NULL || url[0] == '\0') url = "redis://127.0.0.1:6379";
    if (claim != NULL && claim[0] != '\0') { /* checked before anything is made */
        char *end;
        unsigned long long v = strtoull(claim, &end, 10);
        if (claim[0] < '0' || claim[0] > '9' || *end != '\0' || v > 1073741824ull) {
            fprintf(stderr, "%s: PORTICO_CLAIM_CHECK_BYTES=%s: want 0 to 1073741824 bytes\n",
                    service, claim);
            return -1;
        }
        claim_set = true;
        claim_bytes = (size_t)v;
    }
    ex->base = event_base_new();
    if (ex->base == NULL) {
        fprintf(stderr, "%s: cannot create the event base\n", service);
        return -1;
    }
    ex->svc = portico_service_new(ex->base, service, url, &err);
    if (ex->svc == NULL) {
        fprintf(stderr, "%s: bad service name or Redis URL %s: %s\n", service, url,
                portico_strerror(err));
        return -1;
    }
    if (secret_file != NULL && secret_file[0] != '\0' &&
        portico_service_set_registration_secret_file(ex->svc, secret_file) != 0) {
        fprintf(stderr, "%s: cannot read the registration secret from %s\n", service, secret_file);
        return -1;
    }
    if (prefix != NULL && prefix[0] != '\0' && portico_service_set_prefix(ex->svc, prefix) != 0) {
        fprintf(stderr, "%s: bad prefix %s\n", service, prefix);
        return -1;
    }
    if (claim_set) portico_service_set_claim_check_bytes(ex->svc, claim_bytes);
    portico_service_set_log(ex->svc, getenv("PORTICO_DEBUG") ? PORTICO_LOG_DEBUG : PORTICO_LOG_INFO,
                            on_log, (void *)service);
    portico_service_set_on_ready(ex->svc, on_ready, ex);
    return 0;
}

int example_run(struct example *ex)
{
    int rc;

    ex->sigterm = evsignal_new(ex->base, SIGTERM, on_signal, ex);
    ex->sigint = evsignal_new(ex->base, SIGINT, on_signal, ex);
    if (ex->sigterm == NULL || ex->sigint == NULL || evsignal_add(ex->sigterm, NULL) != 0 ||
        evsignal_add(ex->sigint, NULL) != 0) {
        fprintf(stderr, "cannot install signal handlers\n");
        return 1;
    }
    rc = portico_service_start(ex->svc);
    if (rc != 0) {
        fprintf(stderr, "%s: start: %s\n", portico_service_name(ex->svc), portico_strerror(rc));
        return 1;
    }
    event_base_dispatch(ex->base);
    portico_service_free(ex->svc);
    event_free(ex->sigterm);
    event_free(ex->sigint);
    event_base_free(ex->base);
    return 0;
}
