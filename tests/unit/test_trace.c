/* test_trace.c -- W3C Trace Context at the gateway (trace.h): the
 * traceparent rules of level 1, and the headers a request is sent on with. */
#include <string.h>

#include "test.h"
#include "trace.h"

#define TID "0af7651916cd43dd8448eb211c80319c"
#define PID "b7ad6b7169203331"

static int parse(const char *v)
{
    char t[33], p[17], f[3];
    return pc_traceparent_parse(v, strlen(v), t, p, f);
}

static void test_parse(void)
{
    char t[33], p[17], f[3];
    static const char *const bad[] = {
        "",
        "00-" TID "-" PID "-0",   /* short */
        "00-" TID "-" PID "-01-", /* version 00: exactly 55 bytes */
        "00-" TID "-" PID "-01x",
        "00-0AF7651916CD43DD8448EB211C80319C-" PID "-01", /* upper-case */
        "00-" TID "-B7AD6B7169203331-01",
        "00-" TID "-" PID "-0A",
        "00-00000000000000000000000000000000-" PID "-01", /* all-zero trace-id */
        "00-" TID "-0000000000000000-01",                 /* all-zero parent-id */
        "ff-" TID "-" PID "-01",                          /* version ff */
        "0g-" TID "-" PID "-01",
        "00_" TID "-" PID "-01",
        "00-" TID "_" PID "-01",
        "01-" TID "-" PID "-01x", /* a later version: more only after a '-' */
        "00-" TID "-" PID "-0g",
        " 00-" TID "-" PID "-01",
    };
    CHECK(pc_traceparent_parse("00-" TID "-" PID "-01", 55, t, p, f));
    CHECK_EQ_STR(t, TID);
    CHECK_EQ_STR(p, PID);
    CHECK_EQ_STR(f, "01");
    CHECK(parse("00-" TID "-" PID "-00"));
    CHECK(parse("00-" TID "-" PID "-ff"));
    /* a later version is read by the 00 rules for its first fields */
    CHECK(parse("01-" TID "-" PID "-01"));
    CHECK(parse("cc-" TID "-" PID "-01-what-the-future-says"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse(bad[i])) fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(!parse(bad[i]));
    }
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i])) return false;
    return true;
}

/* out[0..n) holds exactly one traceparent: returned (NUL-terminated copy). */
static const char *header(const struct pc_kv *out, size_t n, const char *name, int *count)
{
    static char v[1024];
    *count = 0;
    v[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i].name_len == strlen(name) && memcmp(out[i].name, name, out[i].name_len) == 0) {
            (*count)++;
            snprintf(v, sizeof v, "%.*s", (int)out[i].value_len, out[i].value);
        }
    return v;
}

static long run(struct gw_trace *t, const struct pc_kv *in, size_t n, struct pc_kv *out,
                pc_buf *scratch)
{
    memcpy(out, in, n * sizeof *in);
    memset(t, 0, sizeof *t);
    return gw_trace_headers(t, in, n, out, n, scratch);
}

static void test_headers(void)
{
    struct pc_kv in[40], out[42];
    struct gw_trace t;
    pc_buf sc;
    int c;
    long n;
    const char *v;
    char big[700];

    pc_buf_init(&sc);
    /* none: a new trace, flags 01; a tracestate without a traceparent is dropped */
    in[0] = (struct pc_kv){"accept", 6, "*/*", 3};
    in[1] = (struct pc_kv){"tracestate", 10, "a=1", 3};
    n = run(&t, in, 2, out, &sc);
    CHECK_EQ_INT(n, 2);
    v = header(out, (size_t)n, "traceparent", &c);
    CHECK_EQ_INT(c, 1);
    CHECK_EQ_INT(strlen(v), 55);
    CHECK(parse(v) && strncmp(v, "00-", 3) == 0 && strcmp(v + 53, "01") == 0);
    CHECK(is_hex(v + 3, 32) && strncmp(v + 3, t.trace_id, 32) == 0);
    header(out, (size_t)n, "tracestate", &c);
    CHECK_EQ_INT(c, 0);
    CHECK(!t.client);

    /* valid: same trace-id and flags, a new parent-id; tracestate joined */
    in[0] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-00", 55};
    in[1] = (struct pc_kv){"tracestate", 10, "a=1, b=2", 8};
    in[2] = (struct pc_kv){"x", 1, "y", 1};
    in[3] = (struct pc_kv){"tracestate", 10, "c=3", 3};
    n = run(&t, in, 4, out, &sc);
    CHECK_EQ_INT(n, 3);
    v = header(out, (size_t)n, "traceparent", &c);
    CHECK_EQ_INT(c, 1);
    CHECK(strncmp(v, "00-" TID "-", 36) == 0 && strcmp(v + 53, "00") == 0);
    CHECK(strncmp(v + 36, PID, 16) != 0 && is_hex(v + 36, 16));
    CHECK(t.client);
    CHECK_EQ_STR(t.trace_id, TID);
    v = header(out, (size_t)n, "tracestate", &c);
    CHECK_EQ_INT(c, 1);
    CHECK_EQ_STR(v, "a=1,b=2,c=3");

    /* a later version goes on as 00 */
    in[0] = (struct pc_kv){"traceparent", 11, "01-" TID "-" PID "-01-zz", 58};
    n = run(&t, in, 1, out, &sc);
    v = header(out, (size_t)n, "traceparent", &c);
    CHECK(strncmp(v, "00-" TID "-", 36) == 0 && strlen(v) == 55);

    /* invalid, or two of them: a new trace, tracestate dropped */
    in[0] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-01", 55};
    in[1] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-01", 55};
    in[2] = (struct pc_kv){"tracestate", 10, "a=1", 3};
    n = run(&t, in, 3, out, &sc);
    CHECK_EQ_INT(n, 1);
    v = header(out, (size_t)n, "traceparent", &c);
    CHECK(c == 1 && strncmp(v + 3, TID, 32) != 0 && strcmp(v + 53, "01") == 0);
    in[0] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-0X", 55};
    n = run(&t, in, 1, out, &sc);
    v = header(out, (size_t)n, "traceparent", &c);
    CHECK(c == 1 && strncmp(v + 3, TID, 32) != 0);

    /* tracestate: bounded to 512 bytes of whole members; bad member or
     * more than 32: none */
    in[0] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-01", 55};
    memset(big, 'k', sizeof big);
    big[0] = 'a', big[1] = '=';
    in[1] = (struct pc_kv){"tracestate", 10, "x=1", 3};
    in[2] = (struct pc_kv){"tracestate", 10, big, 600};
    in[3] = (struct pc_kv){"tracestate", 10, "y=2", 3};
    n = run(&t, in, 4, out, &sc);
    v = header(out, (size_t)n, "tracestate", &c);
    CHECK_EQ_STR(v, "x=1,y=2");
    in[1] = (struct pc_kv){"tracestate", 10, "x=1,novalue", 11};
    n = run(&t, in, 2, out, &sc);
    header(out, (size_t)n, "tracestate", &c);
    CHECK_EQ_INT(c, 0);
    {
        char many[33 * 4 + 1];
        size_t k = 0;
        for (int i = 0; i < 33; i++) k += (size_t)sprintf(many + k, "%c=1,", 'a' + i % 26);
        in[1] = (struct pc_kv){"tracestate", 10, many, k};
        n = run(&t, in, 2, out, &sc);
        header(out, (size_t)n, "tracestate", &c);
        CHECK_EQ_INT(c, 0);
        in[1].value_len = 32 * 4; /* 32 members: kept */
        n = run(&t, in, 2, out, &sc);
        header(out, (size_t)n, "tracestate", &c);
        CHECK_EQ_INT(c, 1);
    }
    /* two requests never share a parent-id */
    {
        char a[56], b[56];
        in[0] = (struct pc_kv){"traceparent", 11, "00-" TID "-" PID "-01", 55};
        n = run(&t, in, 1, out, &sc);
        snprintf(a, sizeof a, "%s", header(out, (size_t)n, "traceparent", &c));
        n = run(&t, in, 1, out, &sc);
        snprintf(b, sizeof b, "%s", header(out, (size_t)n, "traceparent", &c));
        CHECK(strcmp(a, b) != 0);
    }
    pc_buf_deinit(&sc);
}

int main(void)
{
    test_parse();
    test_headers();
    return test_finish("test_trace");
}
