/* claim.c -- bodies through Redis keys instead of pub/sub messages (the
 * claim check, protocol.md 3.1 and 4.1): a request or a call's reply whose
 * message names a key is read (GETDEL) before it is handled; a reply body
 * over the service's threshold is stored (SET PX) and named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct fetch {
    portico_service *svc;
    pt_claim_fn *fn;
    size_t body_len;
    bool fallback; /* GETDEL unknown: GET, then DEL */
    size_t len;    /* of the message */
    size_t key_len;
    char *key; /* in data, after the message */
    char data[];
};

static void on_fetched(void *ud, const struct pt_bus_reply *reply);

static int send_fetch(struct fetch *f)
{
    const char *argv[2] = {f->fallback ? "GET" : "GETDEL", f->key};
    size_t lens[2] = {f->fallback ? 3 : 6, f->key_len};

    if (pt_bus_command(f->svc->bus, 2, argv, lens, on_fetched, f) != 0) return -1;
    if (f->fallback) {
        const char *del[2] = {"DEL", f->key};
        size_t dlens[2] = {3, f->key_len};
        (void)pt_bus_command(f->svc->bus, 2, del, dlens, NULL, NULL);
    }
    return 0;
}

static void on_fetched(void *ud, const struct pt_bus_reply *reply)
{
    struct fetch *f = ud;

    if (reply == NULL) { /* bus gone: the requester gives up at its deadline */
        free(f);
        return;
    }
    /* Redis older than 6.2 has no GETDEL: GET + DEL, pipelined */
    if (reply->type == PT_REPLY_ERROR && !f->fallback && reply->len >= 15 &&
        memcmp(reply->str, "ERR unknown com", 15) == 0) {
        f->fallback = true;
        if (send_fetch(f) != 0) free(f);
        return;
    }
    if (reply->type == PT_REPLY_STRING && reply->len == f->body_len) {
        char *own = pt_bus_reply_take(reply); /* kept by the request: no copy */
        f->fn(f->svc, f->data, f->len, (const unsigned char *)(own != NULL ? own : reply->str),
              f->body_len, &own);
        free(own);
    } else {
        char *own = NULL;
        f->fn(f->svc, f->data, f->len, NULL, 0, &own);
    }
    free(f);
}

int pt_claim_fetch(portico_service *svc, const char *key, size_t body_len, const char *msg,
                   size_t len, pt_claim_fn *fn)
{
    size_t kl = strlen(key);
    struct fetch *f = malloc(sizeof *f + len + 1 + kl + 1);

    if (f == NULL) return -1;
    f->svc = svc;
    f->fn = fn;
    f->body_len = body_len;
    f->fallback = false;
    f->len = len;
    memcpy(f->data, msg, len);
    f->data[len] = '\0';
    f->key = f->data + len + 1;
    memcpy(f->key, key, kl + 1);
    f->key_len = kl;
    if (send_fetch(f) != 0) {
        free(f);
        return -1;
    }
    return 0;
}

int pt_claim_store(portico_service *svc, const char *key, const void *body, size_t len,
                   uint64_t ttl_ms)
{
    char ms[24];
    int n = snprintf(ms, sizeof ms, "%llu", (unsigned long long)ttl_ms);
    const char *argv[5] = {"SET", key, body, "PX", ms};
    size_t lens[5] = {3, strlen(key), len, 2, (size_t)n};

    return pt_bus_command(svc->bus, 5, argv, lens, NULL, NULL);
}

bool pt_claim_key_ok(const portico_service *svc, const char *key, const char *id, bool reply)
{
    size_t pl = strlen(svc->prefix), il = strlen(id), kl = strlen(key);
    return kl == pl + 6 + il + 4 && memcmp(key, svc->prefix, pl) == 0 &&
           memcmp(key + pl, ":body:", 6) == 0 && memcmp(key + pl + 6, id, il) == 0 &&
           memcmp(key + pl + 6 + il, reply ? ":rep" : ":req", 4) == 0;
}
