/* test_path.c -- path.h: decoding (byte-exact), segments, patterns, the one
 * prefix rule, method ranking. Tables first, then the limits. */
#include <stdbool.h>
#include <stdlib.h>

#include "names.h"
#include "path.h"
#include "test.h"

#define B(s) s, sizeof(s) - 1 /* a literal with its length: NULs allowed */

/* ------------------------------------------------------------- decoding */

struct decode_case {
    const char *in;
    size_t inlen;
    int rc;
    const char *out; /* decoded segments, each NUL-ended */
    size_t outlen;
    size_t nsegs;
};

static const struct decode_case decode_cases[] = {
    /* shape */
    {B("/"), PC_PATH_OK, B(""), 0},
    {B("/a"), PC_PATH_OK, B("a\0"), 1},
    {B("/users/42"), PC_PATH_OK,
     B("users\0"
       "42\0"),
     2},
    {B("/a/"), PC_PATH_OK, B("a\0\0"), 2}, /* trailing '/': an empty segment */
    {B("//"), PC_PATH_OK, B("\0\0"), 2},
    {B("/a//b"), PC_PATH_OK, B("a\0\0b\0"), 3},
    {B(""), PC_PATH_NOT_ABSOLUTE, B(""), 0},
    {B("a"), PC_PATH_NOT_ABSOLUTE, B(""), 0},
    {B("a/b"), PC_PATH_NOT_ABSOLUTE, B(""), 0},
    {B("%2Fa"), PC_PATH_NOT_ABSOLUTE, B(""), 0},
    {B("*"), PC_PATH_NOT_ABSOLUTE, B(""), 0},
    /* percent escapes */
    {B("/%41"), PC_PATH_OK, B("A\0"), 1},
    {B("/%4a%4A"), PC_PATH_OK, B("JJ\0"), 1}, /* either case */
    {B("/a%2Fb"), PC_PATH_OK, B("a/b\0"), 1}, /* %2F does not split */
    {B("/a%2fb/c"), PC_PATH_OK, B("a/b\0c\0"), 2},
    {B("/%25"), PC_PATH_OK, B("%\0"), 1},
    {B("/%252F"), PC_PATH_OK, B("%2F\0"), 1}, /* decoded once only */
    {B("/%20x%3F"), PC_PATH_OK, B(" x?\0"), 1},
    {B("/+"), PC_PATH_OK, B("+\0"), 1}, /* '+' is not a space */
    {B("/%7B%7D"), PC_PATH_OK, B("{}\0"), 1},
    {B("/%"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%4"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/a%"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/a%2"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%4/"), PC_PATH_BAD_ESCAPE, B(""), 0}, /* the '/' is no hex digit */
    {B("/%/41"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%G1"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%1g"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%%41"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/%x"), PC_PATH_BAD_ESCAPE, B(""), 0},
    {B("/ok/%-1"), PC_PATH_BAD_ESCAPE, B(""), 0},
    /* NUL, raw or decoded */
    {B("/%00"), PC_PATH_NUL, B(""), 0},
    {B("/a%00b"), PC_PATH_NUL, B(""), 0},
    {B("/a\0b"), PC_PATH_NUL, B(""), 0},
    {B("/%00/.."), PC_PATH_NUL, B(""), 0}, /* found first */
    /* dot segments, also encoded */
    {B("/."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/.."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a/."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a/./"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a/../b"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/./a"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/%2e"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/%2E%2e"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/.%2e"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/users/%2e%2e"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/..."), PC_PATH_OK, B("...\0"), 1},
    {B("/.a"), PC_PATH_OK, B(".a\0"), 1},
    {B("/a."), PC_PATH_OK, B("a.\0"), 1},
    /* a "." or ".." part between the decoded '/'s of one segment ("%2F") */
    {B("/..%2F"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/..%2f"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/.%2F"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/files/..%2f..%2fetc"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a%2F.."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a%2F."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a%2F..%2Fb"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a%2F.%2Fb"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/a%2F%2e%2E%2Fb"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/%2F.."), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/x/a%2F../y"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/%2F..%2F"), PC_PATH_DOT_SEGMENT, B(""), 0},
    {B("/..%2F%00"), PC_PATH_DOT_SEGMENT, B(""), 0}, /* found first */
    {B("/...%2F"), PC_PATH_OK, B(".../\0"), 1},
    {B("/%2F...%2F.a%2Fa.%2F"), PC_PATH_OK, B("/.../.a/a./\0"), 1},
    {B("/a%2F%2Fb"), PC_PATH_OK, B("a//b\0"), 1}, /* empty parts are not dot parts */
    {B("/%2F"), PC_PATH_OK, B("/\0"), 1},
    {B("/a%2F..b"), PC_PATH_OK, B("a/..b\0"), 1},
    {B("/a..%2Fb"), PC_PATH_OK, B("a../b\0"), 1},
    /* UTF-8, checked per decoded segment */
    {B("/caf%C3%A9"), PC_PATH_OK, B("caf\xc3\xa9\0"), 1},
    {B("/caf\xc3\xa9"), PC_PATH_OK, B("caf\xc3\xa9\0"), 1},
    {B("/%F0%9F%98%80"), PC_PATH_OK, B("\xf0\x9f\x98\x80\0"), 1},
    {B("/%F4%8F%BF%BF"), PC_PATH_OK, B("\xf4\x8f\xbf\xbf\0"), 1}, /* U+10FFFF */
    {B("/%C3"), PC_PATH_BAD_UTF8, B(""), 0},                      /* truncated */
    {B("/%C3/%A9"), PC_PATH_BAD_UTF8, B(""), 0},                  /* split over two segments */
    {B("/%C0%AF"), PC_PATH_BAD_UTF8, B(""), 0},                   /* overlong '/' */
    {B("/%C1%BF"), PC_PATH_BAD_UTF8, B(""), 0},                   /* overlong */
    {B("/%E0%80%AF"), PC_PATH_BAD_UTF8, B(""), 0},                /* overlong, 3 bytes */
    {B("/%F0%80%80%AF"), PC_PATH_BAD_UTF8, B(""), 0},             /* overlong, 4 bytes */
    {B("/%C0%AE%C0%AE"), PC_PATH_BAD_UTF8, B(""), 0}, /* overlong "..": not a dot segment */
    {B("/%ED%A0%80"), PC_PATH_BAD_UTF8, B(""), 0},    /* surrogate */
    {B("/%F4%90%80%80"), PC_PATH_BAD_UTF8, B(""), 0}, /* above U+10FFFF */
    {B("/%FF"), PC_PATH_BAD_UTF8, B(""), 0},
    {B("/\xff"), PC_PATH_BAD_UTF8, B(""), 0},
    {B("/a/\x80"), PC_PATH_BAD_UTF8, B(""), 0},
};

static void test_decode_table(void)
{
    static char out[PC_PATH_MAX];

    for (size_t i = 0; i < sizeof decode_cases / sizeof decode_cases[0]; i++) {
        const struct decode_case *c = &decode_cases[i];
        size_t total = 99, nsegs = 99;
        int rc = pc_path_decode(c->in, c->inlen, out, &total, &nsegs);
        int before = test_failures;

        CHECK_EQ_STR(pc_path_error_name(rc), pc_path_error_name(c->rc));
        if (rc == PC_PATH_OK) {
            CHECK_EQ_MEM(out, total, c->out, c->outlen);
            CHECK_EQ_INT(nsegs, c->nsegs);
            CHECK(total <= c->inlen); /* out needs len bytes */
        } else {
            CHECK_EQ_INT(total, 0);
            CHECK_EQ_INT(nsegs, 0);
        }
        if (test_failures != before)
            fprintf(stderr, "  decode case %zu: \"%.*s\"\n", i, (int)c->inlen, c->in);
    }
}

/* Every byte as a %-escape: hex digits in both cases, each alone in its
 * segment; refused exactly for NUL, '.' (a dot segment) and the bytes that
 * are not UTF-8 on their own. */
static void test_decode_every_escape(void)
{
    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
    char in[8], out[8];

    for (int c = 0; c < 256; c++) {
        for (int up = 0; up < 2; up++) {
            size_t total, nsegs;
            int want = c == 0      ? PC_PATH_NUL
                       : c == '.'  ? PC_PATH_DOT_SEGMENT
                       : c >= 0x80 ? PC_PATH_BAD_UTF8
                                   : PC_PATH_OK;
            snprintf(in, sizeof in, "/%%%c%c", hex[up * 16 + c / 16], hex[up * 16 + c % 16]);
            int rc = pc_path_decode(in, 4, out, &total, &nsegs);
            CHECK_EQ_INT(rc, want);
            if (rc == PC_PATH_OK) {
                CHECK_EQ_INT(total, 2);
                CHECK_EQ_INT((unsigned char)out[0], c);
                CHECK_EQ_INT(out[1], 0);
            }
            if (rc != want) fprintf(stderr, "  escape %s\n", in);
        }
    }
    /* every byte that is not a hex digit, after the '%' and in second place */
    for (int c = 0; c < 256; c++) {
        size_t total, nsegs;
        if (pc_hex_value(c) >= 0) continue;
        in[0] = '/';
        in[1] = '%';
        in[2] = (char)c;
        in[3] = '1';
        CHECK_EQ_INT(pc_path_decode(in, 4, out, &total, &nsegs), PC_PATH_BAD_ESCAPE);
        in[2] = '1';
        in[3] = (char)c;
        CHECK_EQ_INT(pc_path_decode(in, 4, out, &total, &nsegs), PC_PATH_BAD_ESCAPE);
    }
}

static void test_decode_limits(void)
{
    static char in[PC_PATH_MAX + 2], out[PC_PATH_MAX];
    size_t total, nsegs;

    /* one long segment, exactly at the limit and one byte over */
    in[0] = '/';
    memset(in + 1, 'x', PC_PATH_MAX);
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX, out, &total, &nsegs), PC_PATH_OK);
    CHECK_EQ_INT(total, PC_PATH_MAX);
    CHECK_EQ_INT(nsegs, 1);
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX + 1, out, &total, &nsegs), PC_PATH_TOO_LONG);
    CHECK_EQ_INT(pc_path_decode("x", PC_PATH_MAX + 1, out, &total, &nsegs), PC_PATH_TOO_LONG);

    /* "/a" 8192 times: 8192 segments, far beyond the SDK's old 256 */
    for (size_t i = 0; i < PC_PATH_MAX; i += 2) {
        in[i] = '/';
        in[i + 1] = 'a';
    }
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX, out, &total, &nsegs), PC_PATH_OK);
    CHECK_EQ_INT(nsegs, PC_PATH_MAX / 2);
    CHECK_EQ_INT(total, PC_PATH_MAX);

    /* only slashes: every segment empty */
    memset(in, '/', PC_PATH_MAX);
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX, out, &total, &nsegs), PC_PATH_OK);
    CHECK_EQ_INT(nsegs, PC_PATH_MAX);
    CHECK_EQ_INT(total, PC_PATH_MAX);

    /* an escape at the very end of a path at the limit */
    memset(in + 1, 'x', PC_PATH_MAX);
    memcpy(in + PC_PATH_MAX - 3, "%41", 3);
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX, out, &total, &nsegs), PC_PATH_OK);
    CHECK_EQ_INT(total, PC_PATH_MAX - 2);
    CHECK_EQ_INT(out[total - 2], 'A');
    CHECK_EQ_INT(pc_path_decode(in, PC_PATH_MAX - 1, out, &total, &nsegs), PC_PATH_BAD_ESCAPE);
}

/* Walking what pc_path_decode wrote, and joining a "*" rest. */
static void test_decoded_walk(void)
{
    char out[32];
    size_t total, nsegs, off = 0, len, n = 0;
    const char *seg;
    static const char *const want[] = {"a", "b/c", ""};

    CHECK_EQ_INT(pc_path_decode(B("/a/b%2Fc/"), out, &total, &nsegs), PC_PATH_OK);
    CHECK_EQ_INT(nsegs, 3);
    while (pc_path_decoded_next(out, total, &off, &seg, &len)) {
        CHECK(n < 3);
        if (n < 3) CHECK_EQ_MEM(seg, len, want[n], strlen(want[n]));
        n++;
    }
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(off, total);
    CHECK_EQ_INT(pc_path_rest_len(total, total), 0);
    CHECK_EQ_INT(pc_path_rest_len(0, 0), 0);
    CHECK_EQ_INT(pc_path_rest_len(2, total), 4); /* "b/c" + "/" + "" */
    pc_path_rest_join(out, 2, total);
    CHECK_EQ_MEM(out + 2, 4, "b/c/", 4);
    CHECK_EQ_MEM(out, 2, "a\0", 2); /* before off: untouched */
}

/* ------------------------------------------------------------- patterns */

static void test_segments(void)
{
    static const struct {
        const char *s;
        enum pc_seg_kind k;
    } kinds[] = {
        {"users", PC_SEG_LITERAL}, {"*", PC_SEG_WILD},      {"**", PC_SEG_LITERAL},
        {"{id}", PC_SEG_PARAM},    {"{a_1}", PC_SEG_PARAM}, {"{", PC_SEG_LITERAL},
        {"{a", PC_SEG_LITERAL},    {"a}", PC_SEG_LITERAL},  {"", PC_SEG_LITERAL},
        {"x*", PC_SEG_LITERAL},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        CHECK_EQ_INT(pc_seg_kind(kinds[i].s, strlen(kinds[i].s)), kinds[i].k);
    CHECK(pc_seg_kind("{}", 2) == PC_SEG_PARAM); /* never valid; still a param */

    static const struct {
        const char *p;
        size_t n;
    } counts[] = {
        {"/", 0}, {"/a", 1}, {"/a/{b}/*", 3}, {"/a/", 1}, {"/a//b", 3}, {"", 0}, {"a/b", 0},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        CHECK_EQ_INT(pc_path_count_segments(counts[i].p, strlen(counts[i].p)), counts[i].n);

    /* the walk itself: where it stops */
    const char *pat = "/u/{id}/*", *p = pat, *end = pat + strlen(pat), *seg;
    size_t len;
    CHECK(pc_path_next(&p, end, &seg, &len) && len == 1 && seg[0] == 'u');
    CHECK(pc_path_next(&p, end, &seg, &len) && len == 4 && memcmp(seg, "{id}", 4) == 0);
    CHECK(pc_path_next(&p, end, &seg, &len) && len == 1 && seg[0] == '*');
    CHECK(!pc_path_next(&p, end, &seg, &len));
    CHECK(p == end);
}

struct pair_case {
    const char *a, *b;
    bool want;
};

static const struct pair_case equal_cases[] = {
    {"/", "/", true},          {"/u/{id}", "/u/{uid}", true},  {"/{a}/{b}", "/{c}/{d}", true},
    {"/a/b", "/a/b", true},    {"/files/*", "/files/*", true}, {"/u/{id}", "/u/me", false},
    {"/u/*", "/u/{x}", false}, {"/u", "/u/{x}", false},        {"/u/{x}", "/u", false},
    {"/a/b", "/a/c", false},   {"/a/b", "/a/bc", false},       {"/", "", false},
    {"/", "/a", false},        {"/u/", "/u", false}, /* not patterns: still compared exactly */
    {"/{x}", "/{", false},     {"/Users", "/users", false},
};

/* prefix, pattern, covered */
static const struct pair_case covers_cases[] = {
    {"/api", "/api", true},
    {"/api", "/api/x", true},
    {"/api", "/api/{id}/*", true},
    {"/api", "/apix", false}, /* whole segments, never characters */
    {"/api", "/ap", false},
    {"/api", "/", false},
    {"/api", "/x/api", false},
    {"/api/x", "/api", false},
    {"/api/", "/api", true}, /* a trailing '/' changes nothing */
    {"/api/", "/api/x", true},
    {"/api/", "/apix", false},
    {"/api/*", "/api", true}, /* nor does a final "*" */
    {"/api/*", "/api/{id}", true},
    {"/api/*", "/api/*", true},
    {"/api/*", "/apix", false},
    {"/api/*", "/apix/y", false},
    {"/", "/", true}, /* the root covers everything */
    {"/", "/anything/{x}/*", true},
    {"/*", "/x", true},
    {"/*", "/", true},
    {"/users/{id}", "/users/{uid}/posts", true}, /* names do not count */
    {"/users/{id}", "/users/42", false},         /* a param is not a literal */
    {"/users/42", "/users/{id}", false},
    {"/{any}", "/x", false},
    {"/files/*", "/files/*", true},
    {"/a", "/a/*", true},
    {"/a", "/A", false},
    {"/a//b", "/a//b", true}, /* empty segments compare like any other */
    {"/a", "/a//b", true},
    {"/a//b", "/a/b", false},
    {"", "/a", false},
    {"api", "/api", false},
    {"/a", "", false},
    {"/a", "a", false},
};

static void test_pattern_pairs(void)
{
    for (size_t i = 0; i < sizeof equal_cases / sizeof equal_cases[0]; i++) {
        const struct pair_case *c = &equal_cases[i];
        bool got = pc_pattern_equal(c->a, strlen(c->a), c->b, strlen(c->b));
        bool rev = pc_pattern_equal(c->b, strlen(c->b), c->a, strlen(c->a));
        CHECK(got == c->want && rev == c->want);
        if (got != c->want || rev != c->want)
            fprintf(stderr, "  equal(\"%s\", \"%s\")\n", c->a, c->b);
    }
    for (size_t i = 0; i < sizeof covers_cases / sizeof covers_cases[0]; i++) {
        const struct pair_case *c = &covers_cases[i];
        bool got = pc_path_covers(c->a, strlen(c->a), c->b, strlen(c->b));
        CHECK(got == c->want);
        if (got != c->want) fprintf(stderr, "  covers(\"%s\", \"%s\") is %d\n", c->a, c->b, got);
    }

    static const struct {
        const char *p;
        size_t n;
    } lens[] = {
        {"/", 1},      {"/*", 1},     {"/api", 4},  {"/api/", 4},
        {"/api/*", 4}, {"/a/{b}", 6}, {"/a/*/", 4}, {"*", 1},
    };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        CHECK_EQ_INT(pc_prefix_len(lens[i].p, strlen(lens[i].p)), lens[i].n);
}

/* -------------------------------------------------------------- methods */

static void test_method_rank(void)
{
    static const struct {
        const char *route, *req;
        int rank;
    } cases[] = {
        {"GET", "GET", 0},    {"HEAD", "HEAD", 0}, {"*", "*", 0},       {"GET", "HEAD", 1},
        {"*", "PATCH", 2},    {"*", "HEAD", 2},    {"*", "GET", 2},     {"POST", "GET", -1},
        {"HEAD", "GET", -1},  {"GET", "get", -1},  {"GETX", "GET", -1}, {"G", "GET", -1},
        {"GET", "HEADX", -1}, {"**", "GET", -1},   {"", "GET", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = pc_method_rank(cases[i].route, cases[i].req);
        CHECK_EQ_INT(r, cases[i].rank);
        if (r != cases[i].rank) fprintf(stderr, "  rank(%s, %s)\n", cases[i].route, cases[i].req);
    }
}

int main(void)
{
    test_decode_table();
    test_decode_every_escape();
    test_decode_limits();
    test_decoded_walk();
    test_segments();
    test_pattern_pairs();
    test_method_rank();
    return test_finish("test_path");
}
