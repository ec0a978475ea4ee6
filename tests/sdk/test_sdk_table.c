/* The caller's instance table (table.c): registration, TTL expiry,
 * deregistration, dropping gone instances, least-in-flight with round-robin
 * ties. Messages go through the real decoder (wire.c). */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "test.h"

static struct pt_table t;

static void apply(const char *json, uint64_t now)
{
    struct pc_register r;
    struct pc_wire_err err;
    int rc = pc_wire_decode_register(&r, json, strlen(json), "portico", &err);

    CHECK_EQ_INT(rc, 0);
    if (rc != 0) {
        fprintf(stderr, "  decode: %s\n", err.message);
        return;
    }
    CHECK_EQ_INT(pt_table_apply(&t, &r, now), 0);
    pc_wire_register_deinit(&r);
}

static void reg(const char *svc, const char *inst, int ttl, uint64_t now)
{
    char msg[512];

    snprintf(msg, sizeof msg,
             "{\"v\":1,\"type\":\"register\",\"service\":\"%s\",\"instance\":\"%s\","
             "\"channel\":\"portico:svc:%s\",\"ttl_ms\":%d,\"timeout_ms\":700,"
             "\"routes\":[{\"method\":\"GET\",\"path\":\"/%s/{id}\"}]}",
             svc, inst, inst, ttl, svc);
    apply(msg, now);
}

static void dereg(const char *svc, const char *inst)
{
    char msg[256];

    snprintf(msg, sizeof msg,
             "{\"v\":1,\"type\":\"deregister\",\"service\":\"%s\",\"instance\":\"%s\"}", svc, inst);
    apply(msg, 0);
}

static const char *pick(const char *svc)
{
    struct pt_inst *in = pt_table_pick(&t, svc);
    return in ? in->id : "(none)";
}

int main(void)
{
    struct pt_target *tg;

    CHECK_EQ_INT(pt_table_init(&t), 0);
    CHECK(pt_table_pick(&t, "users") == NULL);

    reg("users", "u1", 3000, 1000);
    reg("users", "u2", 3000, 1000);
    reg("users", "u3", 3000, 1000);
    tg = pt_table_target(&t, "users");
    CHECK(tg != NULL);
    CHECK_EQ_INT(tg->ninst, 3);
    CHECK_EQ_INT(tg->timeout_ms, 700);
    CHECK_EQ_INT(tg->nroutes, 1);
    CHECK_EQ_STR(tg->routes[0].path, "/users/{id}");
    CHECK_EQ_STR(pt_table_inst(&t, "u2")->channel, "portico:svc:u2");

    /* all idle: round-robin */
    CHECK_EQ_STR(pick("users"), "u1");
    CHECK_EQ_STR(pick("users"), "u2");
    CHECK_EQ_STR(pick("users"), "u3");
    CHECK_EQ_STR(pick("users"), "u1");

    /* least in flight wins over the round-robin turn */
    pt_table_inst(&t, "u2")->inflight = 2;
    pt_table_inst(&t, "u3")->inflight = 1;
    pt_table_inst(&t, "u1")->inflight = 1;
    CHECK_EQ_STR(pick("users"), "u3"); /* tie u1/u3 at 1: rr cursor is at u2 -> u3 first */
    CHECK_EQ_STR(pick("users"), "u1");
    pt_table_inst(&t, "u1")->inflight = 0;
    CHECK_EQ_STR(pick("users"), "u1");
    CHECK_EQ_STR(pick("users"), "u1");
    pt_table_inst(&t, "u1")->inflight = 0;
    pt_table_inst(&t, "u2")->inflight = 0;
    pt_table_inst(&t, "u3")->inflight = 0;

    /* re-register refreshes, does not duplicate */
    reg("users", "u1", 3000, 3500);
    CHECK_EQ_INT(tg->ninst, 3);

    /* TTL: u2 and u3 last heard at 1000, ttl 3000 */
    CHECK_EQ_INT(pt_table_expire(&t, 3999), 0);
    CHECK_EQ_INT(pt_table_expire(&t, 4000), 2);
    CHECK_EQ_INT(tg->ninst, 1);
    CHECK(pt_table_inst(&t, "u2") == NULL);
    CHECK_EQ_STR(pick("users"), "u1");

    /* deregister removes at once; the target (and its routes) stays */
    dereg("users", "u1");
    CHECK(pt_table_inst(&t, "u1") == NULL);
    CHECK(pt_table_target(&t, "users") != NULL);
    CHECK(pt_table_pick(&t, "users") == NULL);

    /* a deregister naming another service is ignored */
    reg("users", "u4", 3000, 5000);
    dereg("orders", "u4");
    CHECK(pt_table_inst(&t, "u4") != NULL);

    /* dropped after PUBLISH answered 0 */
    reg("users", "u5", 3000, 5000);
    pt_table_drop(&t, "u4");
    CHECK_EQ_STR(pick("users"), "u5");
    pt_table_drop(&t, "nope");

    /* an instance id moving to another service */
    reg("orders", "u5", 3000, 6000);
    CHECK(pt_table_pick(&t, "users") == NULL);
    CHECK_EQ_STR(pick("orders"), "u5");
    CHECK_EQ_STR(pt_table_inst(&t, "u5")->service, "orders");

    pt_table_deinit(&t);
    return test_finish("sdk-table");
}
