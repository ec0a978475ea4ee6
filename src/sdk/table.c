/* table.c -- the caller's view of other services, learnt from P:register
 * exactly as the gateway learns it: instances live until deregistered, gone
 * (PUBLISH answered 0) or silent for their TTL; each target keeps the routes
 * of its latest register message; picking is least-in-flight with
 * round-robin among ties. Pure logic, no I/O (unit-tested directly). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void routes_free(struct pc_route_decl *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)r[i].method);
        free((char *)r[i].path);
    }
    free(r);
}

static void target_free(struct pt_target *tg)
{
    if (tg == NULL) return;
    free(tg->name);
    free(tg->insts);
    routes_free(tg->routes, tg->nroutes);
    free(tg);
}

static void inst_free(struct pt_inst *in)
{
    if (in == NULL) return;
    free(in->id);
    free(in->channel);
    free(in->service);
    free(in);
}

int pt_table_init(struct pt_table *t)
{
    t->targets = pc_map_new();
    t->insts = pc_map_new();
    if (t->targets == NULL || t->insts == NULL) {
        pc_map_free(t->targets);
        pc_map_free(t->insts);
        t->targets = t->insts = NULL;
        return -1;
    }
    return 0;
}

void pt_table_deinit(struct pt_table *t)
{
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;

    if (t->insts != NULL)
        while (pc_map_next(t->insts, &pos, &k, &kl, &v)) inst_free(v);
    pos = 0;
    if (t->targets != NULL)
        while (pc_map_next(t->targets, &pos, &k, &kl, &v)) target_free(v);
    pc_map_free(t->insts);
    pc_map_free(t->targets);
    t->insts = t->targets = NULL;
}

struct pt_target *pt_table_target(const struct pt_table *t, const char *service)
{
    return pc_map_get(t->targets, service, strlen(service));
}

struct pt_inst *pt_table_inst(const struct pt_table *t, const char *instance)
{
    return pc_map_get(t->insts, instance, strlen(instance));
}

/* Removes in from its target's list (the target itself stays, with its
 * routes, so that a later call says "no instance" rather than "no route"). */
static void target_remove(struct pt_table *t, struct pt_inst *in)
{
    struct pt_target *tg = pt_table_target(t, in->service);

    if (tg == NULL) return;
    for (size_t i = 0; i < tg->ninst; i++) {
        if (tg->insts[i] == in) {
            memmove(tg->insts + i, tg->insts + i + 1, (tg->ninst - i - 1) * sizeof *tg->insts);
            tg->ninst--;
            if (tg->rr > i) tg->rr--;
            break;
        }
    }
    if (tg->rr >= tg->ninst) tg->rr = 0;
}

void pt_table_drop(struct pt_table *t, const char *instance)
{
    struct pt_inst *in = pc_map_del(t->insts, instance, strlen(instance));

    if (in == NULL) return;
    target_remove(t, in);
    inst_free(in);
}

static struct pt_target *target_get(struct pt_table *t, const char *service)
{
    struct pt_target *tg = pt_table_target(t, service);

    if (tg != NULL) return tg;
    tg = calloc(1, sizeof *tg);
    if (tg == NULL || (tg->name = strdup(service)) == NULL ||
        pc_map_put(t->targets, service, strlen(service), tg) != 0) {
        target_free(tg);
        return NULL;
    }
    return tg;
}

/* Replaces the target's routes with the message's (all or nothing). */
static int target_set_routes(struct pt_target *tg, const struct pc_register *r)
{
    struct pc_route_decl *nr = calloc(r->nroutes ? r->nroutes : 1, sizeof *nr);
    size_t i;

    if (nr == NULL) return -1;
    for (i = 0; i < r->nroutes; i++) {
        nr[i].method = strdup(r->routes[i].method);
        nr[i].path = strdup(r->routes[i].path);
        if (nr[i].method == NULL || nr[i].path == NULL) {
            routes_free(nr, i + 1);
            return -1;
        }
    }
    routes_free(tg->routes, tg->nroutes);
    tg->routes = nr;
    tg->nroutes = r->nroutes;
    tg->timeout_ms = r->timeout_ms;
    return 0;
}

int pt_table_apply(struct pt_table *t, const struct pc_register *r, uint64_t now_ms)
{
    struct pt_inst *in;
    struct pt_target *tg;

    if (r->type == PC_MSG_DEREGISTER) {
        in = pt_table_inst(t, r->instance);
        if (in != NULL && strcmp(in->service, r->service) == 0) pt_table_drop(t, r->instance);
        return 0;
    }
    in = pt_table_inst(t, r->instance);
    if (in != NULL && strcmp(in->service, r->service) != 0) {
        pt_table_drop(t, r->instance);
        in = NULL;
    }
    tg = target_get(t, r->service);
    if (tg == NULL || target_set_routes(tg, r) != 0) return -1;
    if (in == NULL) {
        struct pt_inst **grown;
        if (tg->ninst == tg->cap) {
            size_t cap = tg->cap ? tg->cap * 2 : 4;
            grown = realloc(tg->insts, cap * sizeof *grown);
            if (grown == NULL) return -1;
            tg->insts = grown;
            tg->cap = cap;
        }
        in = calloc(1, sizeof *in);
        if (in == NULL || (in->id = strdup(r->instance)) == NULL ||
            (in->channel = strdup(r->channel)) == NULL ||
            (in->service = strdup(r->service)) == NULL ||
            pc_map_put(t->insts, r->instance, strlen(r->instance), in) != 0) {
            inst_free(in);
            return -1;
        }
        tg->insts[tg->ninst++] = in;
    }
    in->last_ms = now_ms;
    in->ttl_ms = r->ttl_ms;
    in->wire = r->wire;
    return 0;
}

size_t pt_table_expire(struct pt_table *t, uint64_t now_ms)
{
    size_t pos = 0, n = 0, kl;
    const char *k;
    void *v;

    while (pc_map_next(t->insts, &pos, &k, &kl, &v)) {
        struct pt_inst *in = v;
        if (now_ms - in->last_ms >= (uint64_t)in->ttl_ms) {
            pc_map_del(t->insts, k, kl);
            target_remove(t, in);
            inst_free(in);
            n++;
        }
    }
    return n;
}

struct pt_inst *pt_table_pick(struct pt_table *t, const char *service)
{
    struct pt_target *tg = pt_table_target(t, service);
    struct pt_inst *best = NULL;
    size_t best_i = 0;

    if (tg == NULL || tg->ninst == 0) return NULL;
    for (size_t j = 0; j < tg->ninst; j++) {
        size_t i = (tg->rr + j) % tg->ninst;
        if (best == NULL || tg->insts[i]->inflight < best->inflight) {
            best = tg->insts[i];
            best_i = i;
        }
    }
    tg->rr = (best_i + 1) % tg->ninst;
    return best;
}
