/* cluster_skip.c -- PUBLISHes nobody waits for, sent after CLIENT REPLY
 * SKIP on a primary's command connection (cluster_int.h).
 *
 * A service's reply, a heartbeat, a cancel: nobody reads the receiver
 * count, so the primary need not write an answer and the client need not
 * read one, nor keep a copy of the command to send again. What is given
 * up: a MOVED (the slot of a shard channel moved away) is not seen on
 * such a PUBLISH. The message is then lost (a reply: the gateway answers
 * 504 at the request's deadline, counted), and the map is corrected by the
 * periodic refresh or by the MOVED of any command that has an answer
 * (docs/scaling.md). Each connection is probed once (CLIENT REPLY ON,
 * before its first PING): an ACL or a Redis that refuses it keeps the
 * ordinary path. */
#include <string.h>

#include "cluster_int.h"
#include "xalloc.h"

/* CLIENT REPLY SKIP: Redis sends no answer to it, nor to the command after
 * it (errors included). */
static const char skip_cmd[] = "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n";

static void on_probe(redisAsyncContext *ac, void *r, void *priv)
{
    struct cl_node *n = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (reply == NULL || n->cmd != ac) return;
    n->reply_skip = reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0;
    if (!n->reply_skip)
        pc_cl_log(n->c, PC_CLUSTER_LOG_INFO,
                  "redis cluster: CLIENT REPLY not available at %s:%d (%.200s): PUBLISHes "
                  "there get answers",
                  ac->c.tcp.host, ac->c.tcp.port,
                  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
}

void pc_cl_skip_probe(struct cl_node *n)
{
    n->reply_skip = false;
    redisAsyncCommand(n->cmd, on_probe, NULL, "CLIENT REPLY ON");
}

int pc_cl_skip_send(struct pc_cluster *c, int node, const char *a, size_t alen, const char *b,
                    size_t blen)
{
    if (node < 0 || c->sets != NULL || c->held != NULL) return -1; /* SET before PUBLISH */
    struct cl_node *n = &c->nodes[node];
    redisAsyncContext *ac = n->cmd;
    if (!n->reply_skip || ac == NULL || (ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING)))
        return -1;
    /* No callback is queued: Redis answers neither command, so hiredis'
     * replies queue stays in step. The pieces go into the output buffer
     * adjacent; hiredis writes them on the next loop turn. */
    if (redisAppendFormattedCommand(&ac->c, skip_cmd, sizeof skip_cmd - 1) != REDIS_OK ||
        redisAppendFormattedCommand(&ac->c, a, alen) != REDIS_OK ||
        (blen > 0 && redisAppendFormattedCommand(&ac->c, b, blen) != REDIS_OK))
        pc_panic("out of memory writing a command");
    if (ac->ev.addWrite != NULL) ac->ev.addWrite(ac->ev.data);
    return 0;
}
