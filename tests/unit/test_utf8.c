/* test_utf8.c -- strict UTF-8 validation table. */
#include <stdbool.h>

#include "test.h"
#include "utf8.h"

struct utf8_case {
    const char *s;
    size_t n; /* 0: strlen(s) */
    bool valid;
    const char *what;
};

static const struct utf8_case cases[] = {
    {"", 0, true, "empty"},
    {"hello", 0, true, "ASCII"},
    {"a\0b", 3, true, "NUL is a character"},
    {"\0", 1, true, "lone NUL"},
    {"\x7f", 0, true, "DEL"},
    {"\xc2\x80", 0, true, "U+0080"},
    {"\xc3\xa9t\xc3\xa9", 0, true, "ete with accents"},
    {"\xdf\xbf", 0, true, "U+07FF"},
    {"\xe0\xa0\x80", 0, true, "U+0800"},
    {"\xe2\x82\xac", 0, true, "euro sign"},
    {"\xed\x9f\xbf", 0, true, "U+D7FF (before surrogates)"},
    {"\xee\x80\x80", 0, true, "U+E000 (after surrogates)"},
    {"\xef\xbf\xbf", 0, true, "U+FFFF"},
    {"\xef\xbb\xbf", 0, true, "BOM"},
    {"\xf0\x90\x80\x80", 0, true, "U+10000"},
    {"\xf0\x9f\x98\x80", 0, true, "emoji"},
    {"\xf4\x8f\xbf\xbf", 0, true, "U+10FFFF"},

    {"\x80", 0, false, "lone continuation"},
    {"\xbf", 0, false, "lone continuation BF"},
    {"a\x80z", 0, false, "continuation in ASCII"},
    {"\xc0\x80", 0, false, "overlong NUL (C0 80)"},
    {"\xc1\xbf", 0, false, "overlong 2-byte (C1)"},
    {"\xe0\x80\x80", 0, false, "overlong 3-byte"},
    {"\xe0\x9f\xbf", 0, false, "overlong U+07FF in 3 bytes"},
    {"\xf0\x80\x80\x80", 0, false, "overlong 4-byte"},
    {"\xf0\x8f\xbf\xbf", 0, false, "overlong U+FFFF in 4 bytes"},
    {"\xed\xa0\x80", 0, false, "surrogate D800"},
    {"\xed\xbf\xbf", 0, false, "surrogate DFFF"},
    {"\xed\xa0\xbd\xed\xb8\x80", 0, false, "CESU-8 surrogate pair"},
    {"\xf4\x90\x80\x80", 0, false, "U+110000"},
    {"\xf5\x80\x80\x80", 0, false, "F5 lead"},
    {"\xf8\x88\x80\x80\x80", 0, false, "5-byte form"},
    {"\xfc\x84\x80\x80\x80\x80", 0, false, "6-byte form"},
    {"\xfe", 0, false, "FE"},
    {"\xff", 0, false, "FF"},
    {"\xc3", 0, false, "truncated 2-byte"},
    {"\xe2\x82", 0, false, "truncated 3-byte"},
    {"\xf0\x9f\x98", 0, false, "truncated 4-byte"},
    {"\xe2\x82x", 0, false, "3-byte with ASCII third byte"},
    {"\xc3(", 0, false, "2-byte with ASCII second byte"},
    {"\xf0\x9f\x98\xc0", 0, false, "4-byte with bad last byte"},
    {"ok\xe9", 0, false, "Latin-1 e-acute"},
    {"\xc3\xa9\0\xe9", 4, false, "NUL then Latin-1"},
};

int main(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct utf8_case *c = &cases[i];
        size_t n = c->n ? c->n : strlen(c->s);
        bool got = pc_utf8_is_valid(c->s, n);
        if (got != c->valid) fprintf(stderr, "utf8 case \"%s\": got %d\n", c->what, got);
        CHECK(got == c->valid);
    }

    /* Every prefix of a valid multi-byte string that cuts a character is
     * invalid; the others are valid. */
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    const bool cut_ok[] = {1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1};
    for (size_t n = 0; n <= strlen(s); n++) CHECK(pc_utf8_is_valid(s, n) == cut_ok[n]);

    /* Every single byte: valid exactly when it is ASCII. */
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        CHECK(pc_utf8_is_valid(&c, 1) == (b < 0x80));
    }
    CHECK(pc_utf8_is_valid(NULL, 0));
    return test_finish("utf8");
}
