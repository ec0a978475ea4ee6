/* test_jw.c -- JSON string escapes, Latin-1 transcoding, base64, numbers. */
#include <jansson.h>
#include <stdint.h>

#include "buf.h"
#include "jw.h"
#include "test.h"

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
    expect_str("/", 1, "\"/\"");                      /* no need to escape '/' */
    expect_str("\x7f", 1, "\"\x7f\"");                 /* DEL kept raw */
    expect_str("\xc3\xa9\xe2\x82\xac", 5, "\"\xc3\xa9\xe2\x82\xac\"");  /* UTF-8 kept */
    expect_str("\xf0\x9f\x98\x80\n", 5, "\"\xf0\x9f\x98\x80\\n\"");

    /* Every control byte parses back to itself. */
    char all[32];
    for (int i = 0; i < 32; i++)
        all[i] = (char)i;
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
    for (int i = 0; i < 1000; i++)
        pc_buf_printf(&b, "%04d", i);
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
    CHECK(!pc_buf_reserve(&b, SIZE_MAX));   /* overflow is an oom, not a crash */
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
    test_b64_and_numbers();
    test_buf();
    return test_finish("jw");
}
