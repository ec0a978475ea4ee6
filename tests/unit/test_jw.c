/* test_jw.c -- JSON string escapes, Latin-1 transcoding, base64, numbers. */
#include <jansson.h>
#include <stdint.h>

#include <stdlib.h>

#include "buf.h"
#include "jw.h"
#include "test.h"
#include "utf8.h"

/* Encodes s[0..n) and compares with the expected JSON text. */
static void expect_str(const char *s, size_t n, const char *want)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_jw_str(&b, s, n);
    CHECK(!b.oom);
    CHECK_EQ_STR(b.data, want);
    pc_buf_deinit(&b);
}

/* The output parses back (jansson) to the expected bytes. */
static void expect_parses_to(const char *s, size_t n, const char *want, size_t wlen)
{
    pc_buf b;
    json_error_t jerr;
    pc_buf_init(&b);
    pc_buf_putc(&b, '[');
    pc_jw_str(&b, s, n);
    pc_buf_putc(&b, ']');
    json_t *j = json_loadb(b.data, b.len, JSON_ALLOW_NUL, &jerr);
    CHECK(j != NULL);
    if (j) {
        json_t *e = json_array_get(j, 0);
        CHECK_EQ_MEM(json_string_value(e), json_string_length(e), want, wlen);
        json_decref(j);
    }
    pc_buf_deinit(&b);
}

static void test_escapes(void)
{
    expect_str("", 0, "\"\"");
    expect_str("plain text", 10, "\"plain text\"");
    expect_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    expect_str("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    expect_str("\x01\x1f", 2, "\"\\u0001\\u001f\"");
    expect_str("a\0b", 3, "\"a\\u0000b\"");
    expect_str("/", 1, "\"/\"");                                       /* no need to escape '/' */
    expect_str("\x7f", 1, "\"\x7f\"");                                 /* DEL kept raw */
    expect_str("\xc3\xa9\xe2\x82\xac", 5, "\"\xc3\xa9\xe2\x82\xac\""); /* UTF-8 kept */
    expect_str("\xf0\x9f\x98\x80\n", 5, "\"\xf0\x9f\x98\x80\\n\"");

    /* Every control byte parses back to itself. */
    char all[32];
    for (int i = 0; i < 32; i++) all[i] = (char)i;
    expect_parses_to(all, sizeof all, all, sizeof all);

    pc_buf b;
    pc_buf_init(&b);
    pc_jw_cstr(&b, "x\"y");
    CHECK_EQ_STR(b.data, "\"x\\\"y\"");
    pc_buf_deinit(&b);
}

/* Invalid UTF-8 is read as ISO-8859-1, byte by byte. */
static void test_latin1(void)
{
    expect_str("caf\xe9", 4, "\"caf\xc3\xa9\"");
    expect_str("\xff", 1, "\"\xc3\xbf\"");
    expect_str("\x80", 1, "\"\xc2\x80\"");
    /* One bad byte makes the whole string Latin-1, valid pairs included. */
    expect_str("\xc3\xa9\xe9", 3, "\"\xc3\x83\xc2\xa9\xc3\xa9\"");
    /* Escapes still apply in Latin-1 mode. */
    expect_str("\xe9\"\n\x7f", 4, "\"\xc3\xa9\\\"\\n\x7f\"");

    /* All 256 byte values: the result is valid JSON and each byte maps to
     * its code point. */
    char bytes[256], want[384];
    size_t wl = 0;
    for (int i = 0; i < 256; i++) {
        bytes[i] = (char)i;
        if (i < 0x80) {
            want[wl++] = (char)i;
        } else {
            want[wl++] = (char)(0xc0 | i >> 6);
            want[wl++] = (char)(0x80 | (i & 0x3f));
        }
    }
    expect_parses_to(bytes, sizeof bytes, want, wl);
}

/* The JSON string of s[0..n) the slow, obvious way: one byte at a time. */
static void ref_str(pc_buf *b, const unsigned char *s, size_t n)
{
    bool utf8 = pc_utf8_is_valid(s, n);
    pc_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        switch (c) {
        case '"':
            pc_buf_puts(b, "\\\"");
            break;
        case '\\':
            pc_buf_puts(b, "\\\\");
            break;
        case '\n':
            pc_buf_puts(b, "\\n");
            break;
        case '\r':
            pc_buf_puts(b, "\\r");
            break;
        case '\t':
            pc_buf_puts(b, "\\t");
            break;
        case '\b':
            pc_buf_puts(b, "\\b");
            break;
        case '\f':
            pc_buf_puts(b, "\\f");
            break;
        default:
            if (c < 0x20) {
                pc_buf_printf(b, "\\u%04x", c);
            } else if (c >= 0x80 && !utf8) {
                pc_buf_putc(b, (char)(0xc0 | c >> 6));
                pc_buf_putc(b, (char)(0x80 | (c & 0x3f)));
            } else {
                pc_buf_putc(b, (char)c);
            }
        }
    }
    pc_buf_putc(b, '"');
}

/* A byte drawn from one of several mixes: plain ASCII, JSON text (quotes and
 * backslashes every few bytes), controls, bytes >= 0x80, valid UTF-8. */
static size_t random_fill(unsigned char *s, size_t n, unsigned mix)
{
    static const char json[] = "{\"a\":\"b\\\\c\",\"d\":[1,2],\"e\":\"\\n\"}\n";
    size_t i = 0;
    while (i < n) {
        unsigned r = (unsigned)rand();
        switch (mix) {
        case 0:
            s[i++] = (unsigned char)('a' + r % 26);
            break;
        case 1:
            s[i++] = (unsigned char)json[r % (sizeof json - 1)];
            break;
        case 2:
            s[i++] = (unsigned char)(r % 3 ? 'x' : r % 0x20);
            break;
        case 3:
            s[i++] = (unsigned char)(r % 0x100);
            break;
        case 4:
            s[i++] = (unsigned char)(r % 7 ? 'y' : 0x80 + r % 0x80);
            break;
        default: /* valid UTF-8 with escapes */
            if (r % 5 == 0 && i + 2 <= n) {
                s[i++] = 0xc3;
                s[i++] = 0xa9;
            } else if (r % 5 == 1 && i + 3 <= n) {
                s[i++] = 0xe2;
                s[i++] = 0x82;
                s[i++] = 0xac;
            } else {
                s[i++] = (unsigned char)(r % 4 ? 'z' : r % 2 ? '"' : '\t');
            }
        }
    }
    return n;
}

/* pc_jw_str agrees byte for byte with ref_str on random strings of every
 * length near the block sizes, appended after random prefixes (so the
 * buffer grows at every possible point). */
static void test_random_agrees(void)
{
    unsigned char s[700];
    pc_buf got, want;
    int bad = 0;

    pc_buf_init(&got);
    pc_buf_init(&want);
    srand(12345);
    for (int round = 0; round < 20000; round++) {
        unsigned mix = (unsigned)round % 6;
        size_t n = round < 2000 ? (size_t)round % 70 : (size_t)rand() % sizeof s;
        size_t pre = (size_t)rand() % 100;
        random_fill(s, n, mix);
        pc_buf_deinit(&got); /* fresh buffers: every growth path */
        pc_buf_reset(&want);
        for (size_t k = 0; k < pre; k++) pc_buf_putc(&got, 'p');
        pc_buf_append(&want, got.data, got.len);
        /* an exact heap copy: a read past the end is caught under ASan */
        unsigned char *heap = malloc(n ? n : 1);
        if (heap == NULL) {
            CHECK(heap != NULL);
            break;
        }
        memcpy(heap, s, n);
        pc_jw_str(&got, (const char *)heap, n);
        ref_str(&want, s, n);
        if (pc_jw_is_utf8(heap, n) != pc_utf8_is_valid(s, n) && bad++ < 5)
            fprintf(stderr, "pc_jw_is_utf8 disagrees: mix %u, n %zu\n", mix, n);
        if (pc_utf8_is_valid(s, n)) { /* the known-UTF-8 entry writes the same */
            pc_buf_append(&want, got.data + pre, got.len - pre);
            pc_jw_str_utf8(&got, (const char *)heap, n);
            if (got.len != want.len || memcmp(got.data, want.data, want.len) != 0) {
                if (bad++ < 5) fprintf(stderr, "pc_jw_str_utf8 differs: mix %u, n %zu\n", mix, n);
            }
        }
        free(heap);
        if (got.oom || got.len != want.len || memcmp(got.data, want.data, want.len) != 0 ||
            got.data[got.len] != '\0') {
            if (bad++ < 5) fprintf(stderr, "mismatch: mix %u, n %zu, prefix %zu\n", mix, n, pre);
        }
    }
    CHECK_EQ_INT(bad, 0);
    pc_buf_deinit(&got);
    pc_buf_deinit(&want);
}

/* Long runs: a 64 KiB text body with a newline every 64 bytes, and a JSON
 * text inside a JSON string (an escape every few bytes). */
static void test_long(void)
{
    size_t n = 65536;
    unsigned char *s = malloc(n);
    pc_buf got, want;

    CHECK(s != NULL);
    if (s == NULL) return;
    pc_buf_init(&got);
    pc_buf_init(&want);
    for (unsigned mix = 0; mix < 6; mix++) {
        if (mix == 0) {
            for (size_t i = 0; i < n; i++) s[i] = i % 64 == 63 ? '\n' : 'x';
        } else {
            random_fill(s, n, mix);
        }
        pc_buf_reset(&got);
        pc_buf_reset(&want);
        pc_jw_str(&got, (const char *)s, n);
        ref_str(&want, s, n);
        CHECK(!got.oom);
        CHECK_EQ_MEM(got.data, got.len, want.data, want.len);
    }
    pc_buf_deinit(&got);
    pc_buf_deinit(&want);
    free(s);
}

/* pc_jw_raw: inline when there is room, the same as pc_buf_append when not. */
static void test_raw(void)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_jw_raw(&b, "{", 1);                                     /* no memory yet: the call */
    for (int i = 0; i < 100; i++) pc_jw_raw(&b, ",\"k\":", 5); /* grows several times */
    pc_jw_raw(&b, "}", 1);
    CHECK(!b.oom);
    CHECK_EQ_INT(b.len, 502);
    CHECK_EQ_MEM(b.data + 496, 6, ",\"k\":}", 6);
    CHECK_EQ_INT(b.data[b.len], '\0');
    b.oom = true; /* sticky oom: nothing more */
    pc_jw_raw(&b, "x", 1);
    CHECK_EQ_INT(b.len, 502);
    pc_buf_deinit(&b);
}

static void test_b64_and_numbers(void)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_jw_b64(&b, "foobar", 6);
    CHECK_EQ_STR(b.data, "\"Zm9vYmFy\"");
    pc_buf_reset(&b);
    pc_jw_b64(&b, "", 0);
    CHECK_EQ_STR(b.data, "\"\"");
    pc_buf_reset(&b);
    pc_jw_b64(&b, "\xff\x00", 2);
    CHECK_EQ_STR(b.data, "\"/wA=\"");
    pc_buf_reset(&b);

    pc_jw_u64(&b, 0);
    pc_buf_putc(&b, ' ');
    pc_jw_u64(&b, UINT64_MAX);
    pc_buf_putc(&b, ' ');
    pc_jw_i64(&b, INT64_MIN);
    pc_buf_putc(&b, ' ');
    pc_jw_i64(&b, -1);
    CHECK_EQ_STR(b.data, "0 18446744073709551615 -9223372036854775808 -1");
    CHECK(!b.oom);
    pc_buf_deinit(&b);
}

/* The buffer: growth, printf past the first chunk, reset, NUL-termination. */
static void test_buf(void)
{
    pc_buf b;
    pc_buf_init(&b);
    CHECK(b.data == NULL && b.len == 0);
    pc_buf_reset(&b);
    pc_buf_append(&b, NULL, 0);
    CHECK(b.data != NULL && b.data[0] == '\0');
    for (int i = 0; i < 1000; i++) pc_buf_printf(&b, "%04d", i);
    CHECK_EQ_INT(b.len, 4000);
    CHECK_EQ_MEM(b.data + 3996, 4, "0999", 4);
    CHECK_EQ_INT(b.data[b.len], '\0');
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    pc_buf_reset(&b);
    pc_buf_printf(&b, "<%s>", big);
    CHECK_EQ_INT(b.len, sizeof big + 1);
    CHECK_EQ_INT(b.data[b.len - 1], '>');
    CHECK(pc_buf_reserve(&b, 100000));
    CHECK(b.cap >= b.len + 100001);
    CHECK(!pc_buf_reserve(&b, SIZE_MAX)); /* overflow is an oom, not a crash */
    CHECK(b.oom);
    pc_buf_puts(&b, "ignored");
    CHECK_EQ_INT(b.len, sizeof big + 1);
    pc_buf_reset(&b);
    CHECK(!b.oom);
    pc_buf_putc(&b, 'z');
    CHECK_EQ_STR(b.data, "z");
    pc_buf_deinit(&b);
    CHECK(b.data == NULL && b.cap == 0);
}

int main(void)
{
    test_escapes();
    test_latin1();
    test_random_agrees();
    test_long();
    test_raw();
    test_b64_and_numbers();
    test_buf();
    return test_finish("jw");
}
