/* bus_publish.c -- PUBLISH and commands with an answer, on the bus's
 * command connection (or through bus_cluster.c on a Redis Cluster).
 *
 * A PUBLISH with a callback carries a token (struct pt_pub, kept for reuse)
 * through hiredis to its answer: the receiver count, or lost / refused. A
 * PUBLISH whose answer nobody wants goes after CLIENT REPLY SKIP when Redis
 * allows it (bus.c probes that in the handshake): no answer comes back, so
 * the service is not woken up for one. Commands with an answer (the claim
 * check: SET, GETDEL, GET, DEL) get the reply flattened. */
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"
#include "redis_send.h"

/* ---- PUBLISH ---- */

/* Gives a token back: kept for the next PUBLISH, up to PUB_KEEP. */
void pt_bus_pub_put(struct pt_bus *bus, struct pt_pub *p)
{
    if (bus->nfree_pubs >= PUB_KEEP) {
        free(p);
        return;
    }
    p->next = bus->free_pubs;
    bus->free_pubs = p;
    bus->nfree_pubs++;
}

/* The answer to a PUBLISH that has a callback: the token goes back to the
 * free list before the callback runs (it may publish again). */
void pt_bus_on_published(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_pub *p = privdata;
    struct pt_bus *bus = p->bus;
    redisReply *reply = r;
    pt_published_fn *fn = p->fn;
    void *ud = p->ud;
    long long n;

    (void)ac;
    if (reply == NULL)
        n = PT_PUB_LOST;
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
        n = reply->integer;
    else
        n = PT_PUB_ERROR;
    pt_bus_pub_put(bus, p);
    fn(ud, n);
}

/* A token for fn, or NULL when out of memory. */
struct pt_pub *pt_bus_pub_get(struct pt_bus *bus, pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = bus->free_pubs;

    if (p != NULL) {
        bus->free_pubs = p->next;
        bus->nfree_pubs--;
    } else if ((p = malloc(sizeof *p)) == NULL) {
        return NULL;
    }
    p->fn = fn;
    p->ud = ud;
    p->bus = bus;
    return p;
}

/* CLIENT REPLY SKIP: Redis sends no answer to it, nor to the command after
 * it (errors included). */
static const char reply_skip_cmd[] = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n";

int pt_bus_publish_resp(struct pt_bus *bus, const char *cmd, size_t len, pt_published_fn *fn,
                        void *ud)
{
    struct pt_pub *p;

    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) return pt_bus_cl_publish(bus, cmd, len, NULL, NULL, fn, ud);
    if (fn == NULL && bus->reply_skip) {
        /* Nothing will answer, so no callback is queued: both commands go
         * straight into the output buffer, adjacent, and hiredis' replies
         * queue stays in step with what Redis sends. */
        int rc =
            pc_redis_send_unanswered(bus->cmd, reply_skip_cmd, sizeof reply_skip_cmd - 1, cmd, len);
        if (rc == PC_REDIS_SEND_BROKEN) {
            /* part of it is out, or the SKIP is queued alone and would
             * swallow the answer of the next command: start again on new
             * connections */
            pt_bus_fail(bus, "out of memory");
            return -1;
        }
        return rc == REDIS_OK ? 0 : -1; /* else nothing was added */
    }
    if (fn == NULL) {
        int rc = pc_redis_send(bus->cmd, NULL, NULL, cmd, len);
        if (rc == PC_REDIS_SEND_BROKEN) pt_bus_fail(bus, "out of memory");
        return rc == REDIS_OK ? 0 : -1;
    }
    if ((p = pt_bus_pub_get(bus, fn, ud)) == NULL) return -1;
    switch (pc_redis_send(bus->cmd, pt_bus_on_published, p, cmd, len)) {
    case REDIS_OK:
        return 0;
    case PC_REDIS_SEND_BROKEN:
        /* queued with its callback, which reports it lost once the
         * connection is dropped */
        pt_bus_fail(bus, "out of memory");
        return 0;
    default:
        pt_bus_pub_put(bus, p);
        return -1;
    }
}

int pt_bus_publish(struct pt_bus *bus, const char *channel, const void *msg, size_t len,
                   pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = NULL;

    if (bus->state != PT_BUS_UP) return -1;
    if (bus->cl != NULL) return pt_bus_cl_publish(bus, NULL, len, channel, msg, fn, ud);
    /* argv form: no format string parsed per message */
    const char *argv[3] = {"PUBLISH", channel, msg};
    size_t lens[3] = {7, strlen(channel), len};

    if (fn != NULL && (p = pt_bus_pub_get(bus, fn, ud)) == NULL) return -1;
    if (redisAsyncCommandArgv(bus->cmd, p != NULL ? pt_bus_on_published : NULL, p, 3, argv, lens) !=
        REDIS_OK) {
        if (p != NULL) pt_bus_pub_put(bus, p);
        return -1;
    }
    return 0;
}

/* ---- commands with an answer (the claim check: SET, GETDEL, GET, DEL) ---- */

void pt_bus_on_command(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pt_cmd *c = privdata;
    redisReply *reply = r;
    struct pt_bus_reply out = {PT_REPLY_OTHER, NULL, 0, NULL};

    (void)ac;
    if (reply != NULL) {
        if (reply->type == REDIS_REPLY_STRING)
            out.type = PT_REPLY_STRING;
        else if (reply->type == REDIS_REPLY_NIL)
            out.type = PT_REPLY_NIL;
        else if (reply->type == REDIS_REPLY_ERROR)
            out.type = PT_REPLY_ERROR;
        if (out.type == PT_REPLY_STRING || out.type == PT_REPLY_ERROR) {
            out.str = reply->str;
            out.len = reply->len;
        }
        if (out.type == PT_REPLY_STRING) out.own = reply;
    }
    c->fn(c->ud, reply != NULL ? &out : NULL);
    free(c);
}

char *pt_bus_reply_take(const struct pt_bus_reply *reply)
{
    return pc_redis_reply_take(reply->own);
}

int pt_bus_command(struct pt_bus *bus, int argc, const char *const *argv, const size_t *argvlen,
                   pt_command_fn *fn, void *ud)
{
    struct pt_cmd *c = NULL;

    if (bus->state != PT_BUS_UP) return -1;
    if (fn != NULL) {
        if ((c = malloc(sizeof *c)) == NULL) return -1;
        c->fn = fn;
        c->ud = ud;
    }
    if (bus->cl != NULL) {
        if (pt_bus_cl_command(bus, argc, argv, argvlen, c) == 0) return 0;
        free(c);
        return -1;
    }
    switch (pc_redis_send_argv(bus->cmd, c != NULL ? pt_bus_on_command : NULL, c, argc, argv,
                               argvlen)) {
    case REDIS_OK:
        return 0;
    case PC_REDIS_SEND_BROKEN:
        pt_bus_fail(bus, "out of memory"); /* c is queued: it hears of the loss */
        return 0;
    default:
        free(c);
        return -1;
    }
}
