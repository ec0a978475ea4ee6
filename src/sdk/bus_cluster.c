/* bus_cluster.c -- the bus on a Redis Cluster (redis-cluster://).
 *
 * src/common/cluster.h connects, routes and follows the slots; this file
 * keeps the bus's contract on top of it (up/down, subscribe confirmations,
 * PUBLISH outcomes). A PUBLISH nobody waits for (a reply) goes after CLIENT
 * REPLY SKIP there too (src/common/cluster_skip.c: a MOVED it would have
 * met is not seen, the message is lost; docs/scaling.md). bus.c and bus_publish.c hand every call to it when bus->cl is
 * set (the mode is chosen once, in pt_bus_new). Messages are not taken
 * (pt_bus_take_message returns NULL here: the caller copies). */
#include <string.h>

#include "bus_int.h"
#include "cluster.h"

static void cl_log(void *ud, enum pc_cluster_log lvl, const char *line)
{
    struct pt_bus *bus = ud;
    pt_log(bus->svc,
           lvl == PC_CLUSTER_LOG_WARN   ? PORTICO_LOG_WARN
           : lvl == PC_CLUSTER_LOG_INFO ? PORTICO_LOG_INFO
                                        : PORTICO_LOG_DEBUG,
           "%s", line);
}

static void cl_on_up(void *ud)
{
    struct pt_bus *bus = ud;
    bus->state = PT_BUS_UP;
    bus->ops->on_up(bus, bus->ud);
}

static void cl_on_down(void *ud)
{
    struct pt_bus *bus = ud;
    bool was_up = bus->state == PT_BUS_UP;
    bus->state = PT_BUS_WAITING;
    if (was_up) bus->ops->on_down(bus, bus->ud);
}

static void cl_on_message(void *ud, const char *ch, size_t chlen, const char *msg, size_t len)
{
    struct pt_bus *bus = ud;
    bus->ops->on_message(bus, bus->ud, ch, chlen, msg, len);
}

static void cl_on_subscribed(void *ud, const char *ch, size_t chlen)
{
    struct pt_bus *bus = ud;
    bus->ops->on_subscribed(bus, bus->ud, ch, chlen);
}

static const struct pc_cluster_ops cluster_ops = {cl_on_up, cl_on_down, cl_on_message,
                                                  cl_on_subscribed, cl_log};

struct pc_cluster *pt_bus_cl_new(struct pt_bus *bus, const struct pc_redis_addr *addr)
{
    return pc_cluster_new(bus->base, addr, &cluster_ops, bus);
}

void pt_bus_cl_free(struct pt_bus *bus) { pc_cluster_free(bus->cl); }

void pt_bus_cl_start(struct pt_bus *bus)
{
    bus->state = PT_BUS_CONNECTING;
    pc_cluster_start(bus->cl);
}

void pt_bus_cl_close(struct pt_bus *bus)
{
    bool was_up = bus->state == PT_BUS_UP;
    pc_cluster_stop(bus->cl);
    bus->state = PT_BUS_IDLE;
    if (was_up) bus->ops->on_down(bus, bus->ud);
}

int pt_bus_cl_subscribe(struct pt_bus *bus, const char *const *channels, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (pc_cluster_subscribe(bus->cl, channels[i]) != 0) return -1;
    return 0;
}

int pt_bus_cl_unsubscribe(struct pt_bus *bus, const char *channel)
{
    return pc_cluster_unsubscribe(bus->cl, channel);
}

static void cl_published(void *priv, redisReply *reply) { pt_bus_on_published(NULL, reply, priv); }

int pt_bus_cl_publish(struct pt_bus *bus, const char *cmd, size_t len, const char *channel,
                      const void *msg, pt_published_fn *fn, void *ud)
{
    struct pt_pub *p = NULL;
    int rc;
    if (fn != NULL && (p = pt_bus_pub_get(bus, fn, ud)) == NULL) return -1;
    if (cmd != NULL)
        rc = pc_cluster_publish_resp(bus->cl, cmd, len, p ? cl_published : NULL, p);
    else
        rc = pc_cluster_publish(bus->cl, channel, strlen(channel), msg, len,
                                p ? cl_published : NULL, p);
    if (rc != 0 && p != NULL) pt_bus_pub_put(bus, p);
    return rc;
}

static void cl_command(void *priv, redisReply *reply) { pt_bus_on_command(NULL, reply, priv); }

int pt_bus_cl_command(struct pt_bus *bus, int argc, const char *const *argv, const size_t *argvlen,
                      struct pt_cmd *c)
{
    return pc_cluster_command(bus->cl, argc, argv, argvlen, c ? cl_command : NULL, c) == 0 ? 0 : -1;
}
