/* test_wire.c -- the wire format: data-driven decode cases and round trips.
 *
 * argv[1] is tests/unit/data. Under wire/<kind>/{valid,invalid}/ each
 * NAME.json is one message (kind: register, reply, request):
 *   - invalid cases must be rejected; NAME.reason, when present, holds the
 *     expected err.reason;
 *   - valid cases must be accepted; NAME.expect, when present, holds
 *     "field=value" lines compared with the decoded message (see *_field).
 * Register messages are decoded with the prefix "portico". */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "test.h"
#include "wire.h"

#define MAX_CASE_BYTES (1024 * 1024)
#define MAX_CASES 512
#define PREFIX_SCAN_MAX 4096 /* truncate valid cases up to this size */

static const char *cur_case; /* for failure messages */

/* ============================================================== file I/O */

/* Reads a whole file (NUL-terminated, length in *len); NULL if missing. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    char *data = malloc(MAX_CASE_BYTES + 1);
    size_t n = data ? fread(data, 1, MAX_CASE_BYTES + 1, f) : 0;
    fclose(f);
    if (data == NULL || n > MAX_CASE_BYTES) {
        free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

/* Strips trailing white space in place. */
static void rstrip(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
}

/* Sorted list of the NAME part of every NAME.json in dir. */
static size_t list_cases(const char *dir, char **names, size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (d == NULL) {
        fprintf(stderr, "cannot open %s: %s\n", dir, strerror(errno));
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
            names[n++] = strndup(e->d_name, l - 5);
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) { /* insertion sort: tens of names */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    }
    return n;
}

/* ======================================================== field getters */

/* Each *_field writes the decoded value of `key` into v and returns false
 * for an unknown key. Absent strings print as "(null)". */

static void put_str(pc_buf *v, const char *s) { pc_buf_puts(v, s ? s : "(null)"); }

/* "header.N.name" / "header.N.value" from a [[name,value],...] array. */
static bool header_field(json_t *headers, const char *key, pc_buf *v)
{
    char *end;
    unsigned long i = strtoul(key + 7, &end, 10);
    json_t *h = json_array_get(headers, i);
    if (h == NULL) return false;
    json_t *s = json_array_get(h, strcmp(end, ".name") == 0 ? 0 : 1);
    pc_buf_append(v, json_string_value(s), json_string_length(s));
    return true;
}

static bool register_field(const struct pc_register *r, const char *key, pc_buf *v)
{
    if (strcmp(key, "type") == 0)
        put_str(v, r->type == PC_MSG_REGISTER ? "register" : "deregister");
    else if (strcmp(key, "service") == 0)
        put_str(v, r->service);
    else if (strcmp(key, "instance") == 0)
        put_str(v, r->instance);
    else if (strcmp(key, "channel") == 0)
        put_str(v, r->channel);
    else if (strcmp(key, "ttl_ms") == 0)
        pc_buf_printf(v, "%d", r->ttl_ms);
    else if (strcmp(key, "claim_check") == 0)
        put_str(v, r->claim_check ? "true" : "false");
    else if (strcmp(key, "wire") == 0)
        pc_buf_printf(v, "%d", r->wire);
    else if (strcmp(key, "timeout_ms") == 0)
        pc_buf_printf(v, "%d", r->timeout_ms);
    else if (strcmp(key, "has_ts") == 0)
        pc_buf_printf(v, "%d", r->has_ts);
    else if (strcmp(key, "ts_ms") == 0)
        pc_buf_printf(v, "%" PRId64, r->ts_ms);
    else if (strcmp(key, "nroutes") == 0)
        pc_buf_printf(v, "%zu", r->nroutes);
    else if (strncmp(key, "route.", 6) == 0) {
        char *end;
        unsigned long i = strtoul(key + 6, &end, 10);
        if (i >= r->nroutes) return false;
        if (strcmp(end, ".async") == 0)
            pc_buf_printf(v, "%d", r->routes[i].async);
        else
            put_str(v, strcmp(end, ".method") == 0 ? r->routes[i].method : r->routes[i].path);
    } else
        return false;
    return true;
}

static bool reply_field(const struct pc_reply_in *r, const char *key, pc_buf *v)
{
    if (strcmp(key, "id") == 0)
        pc_buf_append(v, r->id, r->id_len);
    else if (strcmp(key, "status") == 0)
        pc_buf_printf(v, "%d", r->status);
    else if (strcmp(key, "nheaders") == 0)
        pc_buf_printf(v, "%zu", json_array_size(r->headers));
    else if (strncmp(key, "header.", 7) == 0)
        return header_field(r->headers, key, v);
    else if (strcmp(key, "body") == 0)
        pc_buf_append(v, r->body, r->body_len);
    else if (strcmp(key, "body_len") == 0)
        pc_buf_printf(v, "%zu", r->body_len);
    else if (strcmp(key, "body_ref") == 0)
        put_str(v, r->body_ref);
    else if (strcmp(key, "seq") == 0)
        pc_buf_printf(v, "%lld", r->seq);
    else if (strcmp(key, "more") == 0)
        put_str(v, r->more ? "true" : "false");
    else if (strcmp(key, "wire") == 0)
        pc_buf_printf(v, "%d", r->wire);
    else
        return false;
    return true;
}

static bool request_field(const struct pc_request_in *r, const char *key, pc_buf *v)
{
    if (strcmp(key, "id") == 0)
        put_str(v, r->id);
    else if (strcmp(key, "reply_to") == 0)
        put_str(v, r->reply_to);
    else if (strcmp(key, "method") == 0)
        put_str(v, r->method);
    else if (strcmp(key, "path") == 0)
        put_str(v, r->path);
    else if (strcmp(key, "query") == 0)
        put_str(v, r->query);
    else if (strcmp(key, "route") == 0)
        put_str(v, r->route);
    else if (strcmp(key, "remote_addr") == 0)
        put_str(v, r->remote_addr);
    else if (strcmp(key, "deadline_ms") == 0)
        pc_buf_printf(v, "%" PRIu64, r->deadline_ms);
    else if (strcmp(key, "nparams") == 0)
        pc_buf_printf(v, "%zu", json_object_size(r->params));
    else if (strncmp(key, "param.", 6) == 0)
        put_str(v, json_string_value(json_object_get(r->params, key + 6)));
    else if (strcmp(key, "nheaders") == 0)
        pc_buf_printf(v, "%zu", json_array_size(r->headers));
    else if (strncmp(key, "header.", 7) == 0)
        return header_field(r->headers, key, v);
    else if (strcmp(key, "body") == 0)
        pc_buf_append(v, r->body, r->body_len);
    else if (strcmp(key, "body_len") == 0)
        pc_buf_printf(v, "%zu", r->body_len);
    else if (strcmp(key, "body_ref") == 0)
        put_str(v, r->body_ref);
    else if (strcmp(key, "wire") == 0)
        pc_buf_printf(v, "%d", r->wire);
    else
        return false;
    return true;
}

/* ============================================================ one case */

enum kind { K_REGISTER, K_REPLY, K_REQUEST };
static const char *const kind_name[] = {"register", "reply", "request"};

/* A decoded message of any kind. */
struct decoded {
    enum kind kind;
    struct pc_register reg;
    struct pc_reply_in rep;
    struct pc_request_in req;
};

/* Decodes msg as `kind`; returns the decoder's result. */
static int decode(struct decoded *d, enum kind kind, const char *msg, size_t len,
                  struct pc_wire_err *err)
{
    d->kind = kind;
    switch (kind) {
    case K_REGISTER:
        return pc_wire_decode_register(&d->reg, msg, len, "portico", err);
    case K_REPLY:
        return pc_wire_decode_reply(&d->rep, msg, len, err);
    case K_REQUEST:
        return pc_wire_decode_request(&d->req, msg, len, err);
    }
    return -99;
}

static void decoded_deinit(struct decoded *d)
{
    switch (d->kind) {
    case K_REGISTER:
        pc_wire_register_deinit(&d->reg);
        break;
    case K_REPLY:
        pc_wire_reply_in_deinit(&d->rep);
        break;
    case K_REQUEST:
        pc_wire_request_in_deinit(&d->req);
        break;
    }
}

/* Compares every "key=value" line of an .expect file with the message. */
static void check_expect(struct decoded *d, char *expect)
{
    pc_buf v;
    pc_buf_init(&v);
    for (char *line = strtok(expect, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (eq == NULL) continue;
        *eq = '\0';
        const char *want = eq + 1;
        bool known;
        pc_buf_reset(&v);
        pc_buf_putc(&v, '\0'); /* data non-NULL even for an empty value */
        v.len = 0;
        switch (d->kind) {
        case K_REGISTER:
            known = register_field(&d->reg, line, &v);
            break;
        case K_REPLY:
            known = reply_field(&d->rep, line, &v);
            break;
        default:
            known = request_field(&d->req, line, &v);
            break;
        }
        CHECK(known);
        if (!known) {
            fprintf(stderr, "  %s: unknown expect key %s\n", cur_case, line);
            continue;
        }
        if (v.len != strlen(want) || memcmp(v.data, want, v.len) != 0)
            fprintf(stderr, "  %s: %s is \"%.*s\", expected \"%s\"\n", cur_case, line, (int)v.len,
                    v.data, want);
        CHECK_EQ_MEM(v.data, v.len, want, strlen(want));
    }
    pc_buf_deinit(&v);
}

/* True for the reply reasons that make the message unmatchable (-1). */
static bool reason_is_unmatchable(const char *reason)
{
    return strcmp(reason, "not_json") == 0 || strcmp(reason, "too_deep") == 0 ||
           strcmp(reason, "too_large") == 0 || strcmp(reason, "no_id") == 0;
}

/* Checks the error contract of a rejected message. */
static void check_rejected(struct decoded *d, int rc, const struct pc_wire_err *err,
                           const char *want_reason)
{
    CHECK(err->reason != NULL);
    CHECK(err->message[0] != '\0');
    for (const char *p = err->message; *p; p++) CHECK(*p >= 0x20 && *p < 0x7f);
    if (err->reason && want_reason) {
        if (strcmp(err->reason, want_reason) != 0)
            fprintf(stderr, "  %s: reason %s (%s), expected %s\n", cur_case, err->reason,
                    err->message, want_reason);
        CHECK_EQ_STR(err->reason, want_reason);
    }
    switch (d->kind) {
    case K_REPLY:
        if (err->reason && reason_is_unmatchable(err->reason)) {
            CHECK_EQ_INT(rc, -1);
            CHECK(d->rep.id == NULL && d->rep.root == NULL);
        } else {
            CHECK_EQ_INT(rc, -2);
            CHECK(d->rep.id != NULL && d->rep.root != NULL);
        }
        CHECK(d->rep.body == NULL);
        break;
    case K_REGISTER:
        CHECK_EQ_INT(rc, -1);
        CHECK(d->reg.root == NULL && d->reg.routes == NULL);
        break;
    case K_REQUEST:
        CHECK_EQ_INT(rc, -1);
        CHECK(d->req.root == NULL && d->req.body == NULL);
        break;
    }
}

/* Every strict prefix of a valid message that cuts its JSON is rejected
 * (and, under ASan, read within bounds: each prefix gets its own copy). */
static void check_prefixes(enum kind kind, const char *msg, size_t len)
{
    size_t end = len;
    while (end > 0 && msg[end - 1] != '}') end--;
    if (end == 0 || len > PREFIX_SCAN_MAX) return;
    size_t accepted = 0;
    for (size_t n = 0; n < end; n++) {
        char *copy = malloc(n ? n : 1);
        memcpy(copy, msg, n);
        struct decoded d;
        struct pc_wire_err err;
        if (decode(&d, kind, copy, n, &err) == 0) accepted++;
        decoded_deinit(&d);
        free(copy);
    }
    CHECK_EQ_INT(accepted, 0);
}

/* Runs every case in data/wire/<kind>/<valid|invalid>; returns the count. */
static size_t run_dir(const char *data, enum kind kind, bool valid)
{
    char dir[4096], path[4200];
    char *names[MAX_CASES];
    snprintf(dir, sizeof dir, "%s/wire/%s/%s", data, kind_name[kind], valid ? "valid" : "invalid");
    size_t n = list_cases(dir, names, MAX_CASES);

    for (size_t i = 0; i < n; i++) {
        char label[256];
        size_t len, xlen;
        snprintf(label, sizeof label, "%s/%s/%s", kind_name[kind], valid ? "valid" : "invalid",
                 names[i]);
        cur_case = label;
        snprintf(path, sizeof path, "%s/%s.json", dir, names[i]);
        char *msg = slurp(path, &len);
        CHECK(msg != NULL);
        if (msg == NULL) continue;
        snprintf(path, sizeof path, "%s/%s.%s", dir, names[i], valid ? "expect" : "reason");
        char *side = slurp(path, &xlen);

        struct decoded d;
        struct pc_wire_err err = {0};
        int rc = decode(&d, kind, msg, len, &err);
        if (valid) {
            if (rc != 0)
                fprintf(stderr, "  %s: rejected: %s (%s)\n", label, err.reason, err.message);
            CHECK_EQ_INT(rc, 0);
            if (rc == 0 && side) check_expect(&d, side);
        } else {
            if (rc == 0) fprintf(stderr, "  %s: accepted\n", label);
            CHECK(rc != 0);
            if (side) rstrip(side);
            if (rc != 0) check_rejected(&d, rc, &err, side);
        }
        decoded_deinit(&d);
        if (valid) check_prefixes(kind, msg, len);
        free(side);
        free(msg);
        free(names[i]);
    }
    cur_case = "(none)";
    return n;
}

/* ========================================================== round trips */

static const char *const ID = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9";

/* Encodes a request with every field, decodes it, compares. */
static void request_round_trip(const void *body, size_t body_len, bool want_b64)
{
    struct pc_kv params[] = {{"id", 2, "4\"2", 3}, {"x", 1, "", 0}};
    struct pc_kv headers[] = {
        {"host", 4, "api.example", 11},
        {"x-latin", 7, "caf\xe9", 4}, /* obs-text: sent as U+00E9 */
        {"x-dup", 5, "1", 1},
        {"x-dup", 5, "2", 1},
    };
    struct pc_request_out r = {
        .id = ID,
        .reply_to = "portico:reply:gw",
        .deadline_ms = UINT64_C(1763772350678),
        .method = "PATCH",
        .path = "/users/42?not-a-query",
        .path_len = 9,
        .query = "a=1&b=%20",
        .query_len = 9,
        .route = "/users/{id}",
        .params = params,
        .nparams = 2,
        .headers = headers,
        .nheaders = 4,
        .remote_addr = "203.0.113.9",
        .body = body,
        .body_len = body_len,
    };
    pc_buf b;
    pc_buf_init(&b);
    pc_wire_encode_request(&b, &r);
    CHECK(!b.oom);
    CHECK((strstr(b.data, "\"body_encoding\":\"base64\"") != NULL) == want_b64);
    CHECK((strstr(b.data, "\"body\"") != NULL) == (body_len > 0));

    struct pc_request_in in;
    struct pc_wire_err err;
    int rc = pc_wire_decode_request(&in, b.data, b.len, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_STR(in.id, ID);
        CHECK_EQ_STR(in.reply_to, "portico:reply:gw");
        CHECK_EQ_INT(in.deadline_ms, 1763772350678LL);
        CHECK_EQ_STR(in.method, "PATCH");
        CHECK_EQ_STR(in.path, "/users/42");
        CHECK_EQ_STR(in.query, "a=1&b=%20");
        CHECK_EQ_STR(in.route, "/users/{id}");
        CHECK_EQ_STR(in.remote_addr, "203.0.113.9");
        CHECK_EQ_STR(json_string_value(json_object_get(in.params, "id")), "4\"2");
        CHECK_EQ_STR(json_string_value(json_object_get(in.params, "x")), "");
        CHECK_EQ_INT(json_array_size(in.headers), 4);
        json_t *h1 = json_array_get(in.headers, 1);
        CHECK_EQ_STR(json_string_value(json_array_get(h1, 1)), "caf\xc3\xa9");
        json_t *h3 = json_array_get(in.headers, 3);
        CHECK_EQ_STR(json_string_value(json_array_get(h3, 1)), "2");
        CHECK_EQ_INT(in.body_len, body_len);
        if (body_len > 0 && in.body != NULL) CHECK_EQ_MEM(in.body, in.body_len, body, body_len);
        CHECK((in.body == NULL) == (body_len == 0));
    }
    pc_wire_request_in_deinit(&in);
    pc_buf_deinit(&b);
}

/* Encodes a reply, decodes it, compares. */
static void reply_round_trip(const void *body, size_t body_len, bool want_b64)
{
    struct pc_kv headers[] = {{"content-type", 12, "text/plain", 10}, {"x-e", 3, "", 0}};
    pc_buf b;
    pc_buf_init(&b);
    pc_wire_encode_reply(&b, 1, ID, 418, headers, 2, body, body_len);
    CHECK(!b.oom);
    CHECK((strstr(b.data, "\"body_encoding\":\"base64\"") != NULL) == want_b64);

    struct pc_reply_in in;
    struct pc_wire_err err;
    int rc = pc_wire_decode_reply(&in, b.data, b.len, &err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_MEM(in.id, in.id_len, ID, strlen(ID));
        CHECK_EQ_INT(in.status, 418);
        CHECK_EQ_INT(json_array_size(in.headers), 2);
        CHECK_EQ_INT(in.body_len, body_len);
        if (body_len > 0 && in.body != NULL) CHECK_EQ_MEM(in.body, in.body_len, body, body_len);
    }
    pc_wire_reply_in_deinit(&in);
    pc_buf_deinit(&b);
}

static void test_round_trips(void)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
    static const char utf8_nul[] = "caf\xc3\xa9\0\"\\\n\x01 \xf0\x9f\x98\x80";

    request_round_trip(all, sizeof all, true);
    request_round_trip(utf8_nul, sizeof utf8_nul - 1, false);
    request_round_trip("", 0, false);
    request_round_trip("\xff", 1, true);
    reply_round_trip(all, sizeof all, true);
    reply_round_trip(utf8_nul, sizeof utf8_nul - 1, false);
    reply_round_trip(NULL, 0, false);

    /* A reply with no headers encodes an empty array and no body. */
    pc_buf b;
    pc_buf_init(&b);
    pc_wire_encode_reply(&b, 1, ID, 204, NULL, 0, NULL, 0);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\","
                         "\"status\":204,\"headers\":[]}");

    /* The claim check, byte for byte as protocol.md 4.1 shows it. */
    struct pc_kv ct = {"content-type", 12, "application/octet-stream", 24};
    pc_buf key;
    pc_buf_init(&key);
    pc_body_key(&key, "portico", ID, true);
    pc_buf_reset(&b);
    pc_wire_encode_reply_ref(&b, 1, ID, 200, &ct, 1, key.data, 40000000);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"status\":200,"
                         "\"headers\":[[\"content-type\",\"application/octet-stream\"]],"
                         "\"body_ref\":\"portico:body:0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9:rep\","
                         "\"body_len\":40000000}");
    /* A request by reference: body_ref and body_len in place of the body. */
    struct pc_request_out o = {.id = ID,
                               .reply_to = "portico:reply:g",
                               .deadline_ms = 7,
                               .method = "POST",
                               .path = "/files",
                               .path_len = 6,
                               .route = "/files",
                               .body = "x",
                               .body_len = 5000000};
    pc_body_key(&key, "portico", ID, false);
    o.body_ref = key.data;
    pc_buf_reset(&b);
    pc_wire_encode_request(&b, &o);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\","
                         "\"reply_to\":\"portico:reply:g\",\"deadline_ms\":7,\"method\":\"POST\","
                         "\"path\":\"/files\",\"query\":\"\",\"route\":\"/files\",\"params\":{},"
                         "\"headers\":[],\"body_ref\":"
                         "\"portico:body:0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9:req\","
                         "\"body_len\":5000000}");
    pc_buf_deinit(&key);
    pc_buf_deinit(&b);
}

static void test_register_round_trip(void)
{
    struct pc_route_decl routes[] = {{"GET", "/users/{id}", true, false},
                                     {"*", "/files/*", false, false},
                                     {"POST", "/", false, true}};
    pc_buf b, ch;
    pc_buf_init(&b);
    pc_buf_init(&ch);
    pc_channel_svc(&ch, "pp", "users-1");
    pc_wire_encode_register(&b, "users", "users-1", ch.data, 3000, 2500, UINT64_C(1763772345678),
                            routes, 3, true, PC_WIRE_V2);
    CHECK(!b.oom);

    struct pc_register r;
    struct pc_wire_err err;
    int rc = pc_wire_decode_register(&r, b.data, b.len, "pp", &err);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_INT(r.type, PC_MSG_REGISTER);
        CHECK_EQ_STR(r.service, "users");
        CHECK_EQ_STR(r.instance, "users-1");
        CHECK_EQ_STR(r.channel, "pp:svc:users-1");
        CHECK_EQ_INT(r.ttl_ms, 3000);
        CHECK_EQ_INT(r.timeout_ms, 2500);
        CHECK(r.has_ts);
        CHECK_EQ_INT(r.ts_ms, 1763772345678LL);
        CHECK_EQ_INT(r.nroutes, 3);
        CHECK(r.claim_check);
        CHECK_EQ_INT(r.wire, PC_WIRE_V2);
        if (r.nroutes == 3) {
            CHECK_EQ_STR(r.routes[0].path, "/users/{id}");
            CHECK_EQ_STR(r.routes[1].method, "*");
            CHECK_EQ_STR(r.routes[2].path, "/");
            CHECK(r.routes[0].retry);
            CHECK(!r.routes[1].retry);
            CHECK(!r.routes[0].async);
            CHECK(r.routes[2].async);
        }
    }
    pc_wire_register_deinit(&r);

    /* The same message under another prefix points at a foreign channel. */
    rc = pc_wire_decode_register(&r, b.data, b.len, "portico", &err);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(err.reason, "bad_channel");
    pc_wire_register_deinit(&r);

    /* Defaults omitted on the wire come back as defaults. */
    pc_buf_reset(&b);
    pc_wire_encode_register(&b, "users", "users-1", ch.data, 0, 0, 0, routes, 1, false, 1);
    CHECK(strstr(b.data, "ttl_ms") == NULL && strstr(b.data, "ts_ms") == NULL);
    rc = pc_wire_decode_register(&r, b.data, b.len, "pp", &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.ttl_ms, PC_TTL_DEFAULT_MS);
    CHECK_EQ_INT(r.timeout_ms, 0);
    CHECK(!r.has_ts);
    pc_wire_register_deinit(&r);

    pc_buf_reset(&b);
    pc_wire_encode_deregister(&b, "users", "users-1", 42);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"type\":\"deregister\",\"service\":\"users\","
                         "\"instance\":\"users-1\",\"ts_ms\":42}");
    rc = pc_wire_decode_register(&r, b.data, b.len, "pp", &err);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.type, PC_MSG_DEREGISTER);
    CHECK_EQ_INT(r.ts_ms, 42);
    CHECK(r.routes == NULL && r.nroutes == 0);
    pc_wire_register_deinit(&r);

    pc_buf_reset(&b);
    pc_wire_encode_discover(&b);
    CHECK_EQ_STR(b.data, "{\"v\":1,\"type\":\"discover\"}");
    /* discover is not a registration message */
    rc = pc_wire_decode_register(&r, b.data, b.len, "pp", &err);
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_STR(err.reason, "bad_type");
    pc_wire_register_deinit(&r);

    pc_buf_deinit(&ch);
    pc_buf_deinit(&b);
}

static void test_channels(void)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_channel_register(&b, "portico");
    CHECK_EQ_STR(b.data, "portico:register");
    pc_channel_discover(&b, "portico"); /* each call resets first */
    CHECK_EQ_STR(b.data, "portico:discover");
    pc_channel_svc(&b, "p", "users-1");
    CHECK_EQ_STR(b.data, "p:svc:users-1");
    pc_channel_reply(&b, "portico", ID);
    CHECK_EQ_STR(b.data, "portico:reply:0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9");
    CHECK_EQ_INT(b.len, strlen("portico:reply:") + 36);
    pc_buf_deinit(&b);
}

static void test_depth(void)
{
    CHECK(pc_json_depth_is_ok("", 0, 1));
    CHECK(pc_json_depth_is_ok("{}", 2, 1));
    CHECK(!pc_json_depth_is_ok("{[]}", 4, 1));
    CHECK(pc_json_depth_is_ok("{[]}", 4, 2));
    CHECK(pc_json_depth_is_ok("[][][][]", 8, 1));           /* siblings */
    CHECK(pc_json_depth_is_ok("{\"[[[[\":1}", 10, 1));      /* inside a string */
    CHECK(pc_json_depth_is_ok("{\"\\\"[[[\":1}", 12, 1));   /* escaped quote */
    CHECK(!pc_json_depth_is_ok("{\"\\\\\":[[1]]}", 13, 2)); /* escaped backslash */
    char deep[200];
    for (int i = 0; i < 100; i++) {
        deep[i] = '[';
        deep[199 - i] = ']';
    }
    CHECK(pc_json_depth_is_ok(deep, 64, PC_WIRE_MAX_DEPTH) == false);
    CHECK(pc_json_depth_is_ok(deep + 100 - 32, 64, PC_WIRE_MAX_DEPTH));
    CHECK(!pc_json_depth_is_ok(deep + 100 - 33, 66, PC_WIRE_MAX_DEPTH));
}

/* Limits are enforced on the length, before any parsing. */
static void test_limits(void)
{
    size_t n = (size_t)PC_WIRE_MAX_MESSAGE + 1;
    char *big = malloc(n);
    CHECK(big != NULL);
    if (big == NULL) return;
    memset(big, ' ', n);
    struct pc_wire_err err;
    struct pc_reply_in rep;
    CHECK_EQ_INT(pc_wire_decode_reply(&rep, big, n, &err), -1);
    CHECK_EQ_STR(err.reason, "too_large");
    pc_wire_reply_in_deinit(&rep);
    struct pc_request_in req;
    CHECK_EQ_INT(pc_wire_decode_request(&req, big, n, &err), -1);
    CHECK_EQ_STR(err.reason, "too_large");
    struct pc_register reg;
    CHECK_EQ_INT(pc_wire_decode_register(&reg, big, PC_WIRE_MAX_REGISTER + 1, "p", &err), -1);
    CHECK_EQ_STR(err.reason, "too_large");
    free(big);
}

/* Stream messages and the cancel message: encoders read back, the cancel
 * reader's refusals. */
static void test_stream_messages(void)
{
    static const char id[] = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9";
    const struct pc_kv h = {"content-type", 12, "text/event-stream", 17};
    struct pc_reply_in in;
    struct pc_wire_err err;
    char got[37];
    pc_buf b;

    pc_buf_init(&b);
    pc_wire_encode_reply_more(&b, 1, id, 200, &h, 1, "a", 1);
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(in.more && in.seq == 0 && in.status == 200 && in.body_len == 1);
    pc_wire_reply_in_deinit(&in);
    pc_buf_reset(&b);
    pc_wire_encode_stream(&b, 1, id, 7, "\xff\x00", 2, true);
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(in.more && in.seq == 7 && in.status == 0 && in.body_len == 2 && in.body[0] == 0xff);
    pc_wire_reply_in_deinit(&in);
    pc_buf_reset(&b);
    pc_wire_encode_stream(&b, 1, id, 8, NULL, 0, false);
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(!in.more && in.seq == 8 && in.body == NULL);
    pc_wire_reply_in_deinit(&in);

    /* the same in wire version 2: "more"/"seq" in the head, the body raw */
    pc_buf_reset(&b);
    pc_wire_encode_reply_more(&b, PC_WIRE_V2, id, 200, &h, 1, "a\n", 2);
    CHECK_EQ_STR(b.data, "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"status\":200,"
                         "\"headers\":[[\"content-type\",\"text/event-stream\"]],\"more\":true,"
                         "\"body_len\":2}\na\n");
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(in.wire == PC_WIRE_V2 && in.more && in.seq == 0 && in.status == 200 && in.body_len == 2 &&
          memcmp(in.body, "a\n", 2) == 0);
    pc_wire_reply_in_deinit(&in);
    pc_buf_reset(&b);
    pc_wire_encode_stream(&b, PC_WIRE_V2, id, 7, "\xff\x00\n", 3, true);
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(in.wire == PC_WIRE_V2 && in.more && in.seq == 7 && in.status == 0 && in.body_len == 3 &&
          memcmp(in.body, "\xff\x00\n", 3) == 0);
    pc_wire_reply_in_deinit(&in);
    pc_buf_reset(&b);
    pc_wire_encode_stream(&b, PC_WIRE_V2, id, 8, NULL, 0, false);
    CHECK_EQ_STR(b.data, "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"seq\":8,"
                         "\"more\":false}\n");
    CHECK(pc_wire_decode_reply(&in, b.data, b.len, &err) == 0);
    CHECK(in.wire == PC_WIRE_V2 && !in.more && in.seq == 8 && in.body == NULL);
    pc_wire_reply_in_deinit(&in);

    pc_buf_reset(&b);
    pc_wire_encode_cancel(&b, 1, id);
    CHECK_EQ_STR(b.data,
                 "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true}");
    CHECK(pc_wire_decode_cancel(b.data, b.len, got));
    CHECK_EQ_STR(got, id);
    /* to a v2 instance: the same as a v2 head, nothing after its newline */
    static const char v2c[] =
        "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true}\n";
    pc_buf_reset(&b);
    pc_wire_encode_cancel(&b, PC_WIRE_V2, id);
    CHECK_EQ_STR(b.data, v2c);
    memset(got, 0, sizeof got);
    CHECK(pc_wire_decode_cancel(v2c, strlen(v2c), got));
    CHECK_EQ_STR(got, id);
    static const char *const bad[] = {
        "",
        "[]",
        "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\"}",
        "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":false}",
        "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":1}",
        "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true}",
        "{\"v\":1,\"id\":\"not-a-uuid\",\"cancel\":true}",
        "{\"v\":1,\"id\":42,\"cancel\":true}",
        "{\"v\":1,\"cancel\":true}",
        /* v2: bytes after the head's newline, a v2 head without one */
        "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true}\nx",
        ("{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true,\"body_len\":1}"
         "\nx"), /* (one element: a head with body_len, then its body) */
        "{\"v\":2,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":false}\n",
        "{\"v\":3,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"cancel\":true}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!pc_wire_decode_cancel(bad[i], strlen(bad[i]), got));
    pc_buf_deinit(&b);
}

/* A reply refused only by strict parsing (a duplicate key, an integer past
 * 64 bits) is JSON with a readable id: matchable and invalid (-2, 502 at
 * once); what is not JSON at all stays unmatchable (-1, 504). */
static void test_lenient_replies(void)
{
#define RID "\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\""
    static const char *const matchable[] = {
        "{\"v\":1," RID ",\"status\":200,\"status\":201}",
        "{\"v\":1," RID ",\"status\":18446744073709551816}",
        "{\"v\":18446744073709551617," RID ",\"status\":200}",
        "{\"v\":2," RID ",\"status\":200,\"status\":200,\"body_len\":1}\nA",
    };
    static const char *const unmatchable[] = {
        "{\"v\":1," RID ",\"status\":200} trailing",
        "{\"v\":1," RID ",\"status\":200}\nnot a v2 head",
        "{\"v\":1," RID "," RID ",\"status\":200,\"x\":1",
        "{\"v\":1," RID ",\"status\":200,\"body\":\"\\ud800\"}",
        "{\"v\":1,\"id\":7,\"id\":8,\"status\":200}",
    };
    struct pc_reply_in in;
    struct pc_wire_err err;

    for (size_t i = 0; i < sizeof matchable / sizeof matchable[0]; i++) {
        CHECK_EQ_INT(pc_wire_decode_reply(&in, matchable[i], strlen(matchable[i]), &err), -2);
        CHECK(in.id != NULL && in.id_len == 36);
        CHECK_EQ_STR(err.reason, "not_json");
        pc_wire_reply_in_deinit(&in);
    }
    for (size_t i = 0; i < sizeof unmatchable / sizeof unmatchable[0]; i++) {
        CHECK_EQ_INT(pc_wire_decode_reply(&in, unmatchable[i], strlen(unmatchable[i]), &err), -1);
        CHECK(in.id == NULL && in.root == NULL);
        pc_wire_reply_in_deinit(&in);
    }
#undef RID
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    static const size_t min_cases[3][2] = {{10, 15}, {8, 8}, {3, 8}}; /* valid, invalid */
    for (int k = K_REGISTER; k <= K_REQUEST; k++) {
        size_t nv = run_dir(argv[1], (enum kind)k, true);
        size_t ni = run_dir(argv[1], (enum kind)k, false);
        fprintf(stderr, "wire/%s: %zu valid, %zu invalid cases\n", kind_name[k], nv, ni);
        CHECK(nv >= min_cases[k][0]);
        CHECK(ni >= min_cases[k][1]);
    }
    test_round_trips();
    test_register_round_trip();
    test_channels();
    test_depth();
    test_limits();
    test_stream_messages();
    test_lenient_replies();
    return test_finish("wire");
}
