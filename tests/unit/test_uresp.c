/* test_uresp.c -- an upstream's response head (uresp.h): header names come
 * out lower-cased and whole, values as sent, whatever the cuts between the
 * reads (every split point, and one byte at a time); a head over the header
 * count limit is refused; the body of a response with a length can be taken
 * by the caller past the head (gw_uresp_body_left/_taken), and only that; a
 * Transfer-Encoding other than one "chunked" is refused. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "uresp.h"

static char names[GW_URESP_MAX_HEADERS + 1][64], values[GW_URESP_MAX_HEADERS + 1][64];
static size_t nheads, nnames, nbody, ndone;
static int status;

static int on_head(void *ctx, const struct gw_uresp_head *h)
{
    (void)ctx;
    nheads++;
    status = h->status;
    nnames = h->nheaders;
    for (size_t i = 0; i < h->nheaders && i <= GW_URESP_MAX_HEADERS; i++) {
        snprintf(names[i], sizeof names[i], "%.*s", (int)h->headers[i].name_len,
                 h->headers[i].name);
        snprintf(values[i], sizeof values[i], "%.*s", (int)h->headers[i].value_len,
                 h->headers[i].value);
    }
    return 0;
}

static int on_body(void *ctx, const char *data, size_t n)
{
    (void)ctx;
    (void)data;
    nbody += n;
    return 0;
}

static int on_done(void *ctx)
{
    (void)ctx;
    ndone++;
    return 0;
}

static const char resp[] = "HTTP/1.1 200 OK\r\n"
                           "Server: nginx\r\n"
                           "Content-TYPE: Text/Plain\r\n"
                           "X-Mixed-CASE-Header-Name: KeepMe\r\n"
                           "content-length: 5\r\n"
                           "\r\n"
                           "hello";

static void check_head(const char *how)
{
    fprintf(stderr, "%s\n", how);
    CHECK_EQ_INT(nheads, 1);
    CHECK_EQ_INT(status, 200);
    CHECK_EQ_INT(nnames, 4);
    CHECK_EQ_STR(names[0], "server");
    CHECK_EQ_STR(values[0], "nginx");
    CHECK_EQ_STR(names[1], "content-type");
    CHECK_EQ_STR(values[1], "Text/Plain");
    CHECK_EQ_STR(names[2], "x-mixed-case-header-name");
    CHECK_EQ_STR(values[2], "KeepMe");
    CHECK_EQ_STR(names[3], "content-length");
    CHECK_EQ_STR(values[3], "5");
    CHECK_EQ_INT(nbody, 5);
    CHECK_EQ_INT(ndone, 1);
}

static void reset_counts(void) { nheads = nnames = nbody = ndone = 0, status = 0; }

static int feed(gw_uresp *p, const char *d, size_t n)
{
    size_t used = 0;
    const char *why = NULL;
    int rc = gw_uresp_feed(p, d, n, &used, &why);
    if (rc == GW_URESP_OK) CHECK_EQ_INT(used, n);
    return rc;
}

static void test_names_at_every_cut(void)
{
    struct gw_uresp_sink sink = {NULL, on_head, on_body, on_done};
    gw_uresp *p = gw_uresp_new(&sink);
    size_t n = sizeof resp - 1;

    for (size_t cut = 0; cut <= n; cut++) { /* the same parser, reused as the pool does */
        gw_uresp_reset(p, false);
        reset_counts();
        CHECK_EQ_INT(feed(p, resp, cut), GW_URESP_OK);
        CHECK_EQ_INT(feed(p, resp + cut, n - cut), GW_URESP_OK);
        if (nheads != 1 || strcmp(names[2], "x-mixed-case-header-name") != 0)
            fprintf(stderr, "cut at %zu\n", cut);
        CHECK_EQ_INT(nheads, 1);
        CHECK_EQ_STR(names[2], "x-mixed-case-header-name");
        CHECK_EQ_STR(values[2], "KeepMe");
    }
    gw_uresp_reset(p, false);
    reset_counts();
    for (size_t i = 0; i < n; i++) CHECK_EQ_INT(feed(p, resp + i, 1), GW_URESP_OK);
    check_head("one byte at a time");
    gw_uresp_free(p);
}

static void test_too_many_headers(void)
{
    struct gw_uresp_sink sink = {NULL, on_head, on_body, on_done};
    gw_uresp *p = gw_uresp_new(&sink);
    char *big = malloc(64 * (GW_URESP_MAX_HEADERS + 2));
    size_t len = 0, used = 0;
    const char *why = NULL;

    len += (size_t)sprintf(big + len, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= GW_URESP_MAX_HEADERS; i++)
        len += (size_t)sprintf(big + len, "X-H%d: v\r\n", i);
    len += (size_t)sprintf(big + len, "Content-Length: 0\r\n\r\n");
    reset_counts();
    CHECK_EQ_INT(gw_uresp_feed(p, big, len, &used, &why), GW_URESP_ERROR);
    CHECK(why != NULL && strstr(why, "too many") != NULL);
    CHECK_EQ_INT(nheads, 0);
    free(big);
    gw_uresp_free(p);
}

static void test_body_taken(void)
{
    struct gw_uresp_sink sink = {NULL, on_head, on_body, on_done};
    gw_uresp *p = gw_uresp_new(&sink);
    const char *why = NULL;
    size_t head_len = sizeof resp - 1 - 5, used = 0;
    static const char *const no_counted[] = {
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n", /* until the close */
        "HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
    };

    /* Before the head nothing is counted; after it, the length; taken in
     * pieces, done comes with the last one and nothing is left. */
    gw_uresp_reset(p, false);
    reset_counts();
    CHECK_EQ_INT(feed(p, resp, 10), GW_URESP_OK);
    CHECK_EQ_INT(gw_uresp_body_left(p), 0);
    CHECK_EQ_INT(feed(p, resp + 10, head_len - 10 + 1), GW_URESP_OK); /* the head and "h" */
    CHECK_EQ_INT(gw_uresp_body_left(p), 4);
    CHECK_EQ_INT(nbody, 1);
    gw_uresp_body_taken(p, 3);
    CHECK_EQ_INT(gw_uresp_body_left(p), 1);
    CHECK_EQ_INT(ndone, 0);
    CHECK_EQ_INT(nbody, 1); /* taken bytes are the caller's: not given to body() */
    /* Fed after a take: counted as body up to the length, the rest not used. */
    CHECK_EQ_INT(gw_uresp_feed(p, "oXYZ", 4, &used, &why), GW_URESP_OK);
    CHECK_EQ_INT(used, 1);
    CHECK_EQ_INT(nbody, 2);
    CHECK_EQ_INT(ndone, 1);
    CHECK_EQ_INT(gw_uresp_body_left(p), 0);
    CHECK_EQ_INT(gw_uresp_eof(p, &why), GW_URESP_OK);

    /* The upstream closes before the last taken byte: cut short. */
    gw_uresp_reset(p, false);
    reset_counts();
    CHECK_EQ_INT(feed(p, resp, head_len), GW_URESP_OK);
    gw_uresp_body_taken(p, 4);
    why = NULL;
    CHECK_EQ_INT(gw_uresp_eof(p, &why), GW_URESP_ERROR);
    CHECK(why != NULL && strstr(why, "closed") != NULL);
    CHECK_EQ_INT(ndone, 0);

    /* A HEAD's response and bodies without a length are never counted. */
    gw_uresp_reset(p, true);
    reset_counts();
    CHECK_EQ_INT(feed(p, resp, head_len), GW_URESP_OK);
    CHECK_EQ_INT(gw_uresp_body_left(p), 0);
    CHECK_EQ_INT(ndone, 1);
    for (size_t i = 0; i < sizeof no_counted / sizeof no_counted[0]; i++) {
        gw_uresp_reset(p, false);
        reset_counts();
        CHECK_EQ_INT(feed(p, no_counted[i], strlen(no_counted[i])), GW_URESP_OK);
        CHECK_EQ_INT(nheads, 1);
        CHECK_EQ_INT(gw_uresp_body_left(p), 0);
    }
    gw_uresp_free(p);
}

/* Transfer-Encoding other than one "chunked" is refused at the head, with
 * http_parser alone or not; "chunked" in any case with spaces is read. */
static void test_transfer_encoding(void)
{
    struct gw_uresp_sink sink = {NULL, on_head, on_body, on_done};
    gw_uresp *p = gw_uresp_new(&sink);
    static const char *const refused[] = {
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "identity",
        "gzip",
        "chunked,",
        "chunked\r\nTransfer-Encoding: chunked",
        "x\r\nx-a: 1\r\ntransfer-encoding: chunked",
    };
    static const char *const read[] = {"chunked", "Chunked", "  CHUNKED  "};
    char buf[256];
    size_t used;
    const char *why;

    for (int slow = 0; slow < 2; slow++) {
        gw_uresp_slow_only(p, slow);
        for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
            int n = snprintf(buf, sizeof buf,
                             "HTTP/1.1 200 OK\r\ntransfer-encoding: %s\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                             refused[i]);
            gw_uresp_reset(p, false);
            reset_counts();
            why = NULL;
            CHECK_EQ_INT(gw_uresp_feed(p, buf, (size_t)n, &used, &why), GW_URESP_ERROR);
            CHECK(why != NULL && strstr(why, "Transfer-Encoding") != NULL);
            CHECK_EQ_INT(nheads, 0);
        }
        for (size_t i = 0; i < sizeof read / sizeof read[0]; i++) {
            int n = snprintf(buf, sizeof buf,
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                             read[i]);
            gw_uresp_reset(p, false);
            reset_counts();
            CHECK_EQ_INT(feed(p, buf, (size_t)n), GW_URESP_OK);
            CHECK_EQ_INT(nheads, 1);
            CHECK_EQ_INT(nbody, 2);
            CHECK_EQ_INT(ndone, 1);
        }
    }
    gw_uresp_free(p);
}

int main(void)
{
    test_names_at_every_cut();
    test_body_taken();
    test_too_many_headers();
    test_transfer_encoding();
    return test_finish("uresp");
}
