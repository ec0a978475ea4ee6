/* test_resp.c -- RESP commands: exact bytes, and hiredis' reader agrees. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "buf.h"
#include "resp.h"
#include "test.h"

/* The command in b parses (hiredis' own reader) as exactly these arguments. */
static void expect_args(const char *cmd, size_t len, size_t argc, const char *const *argv,
                        const size_t *argvlen)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;

    CHECK(rd != NULL);
    if (rd == NULL) return;
    CHECK(redisReaderFeed(rd, cmd, len) == REDIS_OK);
    CHECK(redisReaderGetReply(rd, &reply) == REDIS_OK);
    CHECK(reply != NULL);
    if (reply != NULL) {
        const redisReply *r = reply;
        CHECK(r->type == REDIS_REPLY_ARRAY);
        CHECK_EQ_INT(r->elements, argc);
        for (size_t i = 0; i < argc && i < r->elements; i++) {
            CHECK(r->element[i]->type == REDIS_REPLY_STRING);
            CHECK_EQ_MEM(r->element[i]->str, r->element[i]->len, argv[i], argvlen[i]);
        }
        freeReplyObject(reply);
    }
    /* nothing after it */
    reply = NULL;
    CHECK(redisReaderGetReply(rd, &reply) == REDIS_OK && reply == NULL);
    redisReaderFree(rd);
}

/* The same bytes as hiredis' redisFormatCommandArgv (what the gateway sent before). */
static void expect_as_hiredis(const char *cmd, size_t len, int argc, const char **argv,
                              const size_t *argvlen)
{
    char *want = NULL;
    int wlen = redisFormatCommandArgv(&want, argc, argv, argvlen);
    CHECK(wlen > 0);
    if (wlen > 0) CHECK_EQ_MEM(cmd, len, want, (size_t)wlen);
    free(want);
}

static void test_publish_bytes(void)
{
    pc_buf b;
    pc_buf_init(&b);
    pc_resp_publish(&b, "P:svc:a", 7, "{\"v\":1}", 7);
    CHECK(!b.oom);
    CHECK_EQ_STR(b.data, "*3\r\n$7\r\nPUBLISH\r\n$7\r\nP:svc:a\r\n$7\r\n{\"v\":1}\r\n");

    pc_buf_reset(&b);
    pc_resp_publish(&b, "c", 1, "", 0); /* an empty message */
    CHECK_EQ_STR(b.data, "*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$0\r\n\r\n");

    pc_buf_reset(&b);
    pc_resp_array(&b, 2);
    pc_resp_bulk(&b, "GET", 3);
    pc_resp_bulk(&b, "k\0\r\n", 4); /* binary-safe */
    CHECK_EQ_MEM(b.data, b.len, "*2\r\n$3\r\nGET\r\n$4\r\nk\0\r\n\r\n", 23);
    CHECK_EQ_INT(b.data[b.len], '\0');
    pc_buf_deinit(&b);
}

/* Lengths around every digit count, binary payloads: the bytes are exactly
 * hiredis' and its reader reads back the arguments. */
static void test_publish_lengths(void)
{
    static const size_t lens[] = {0,   1,   9,    10,   11,    99,    100,
                                  101, 999, 1000, 9999, 10000, 65536, 100000};
    char *msg = malloc(100000), ch[300];
    pc_buf b;

    CHECK(msg != NULL);
    if (msg == NULL) return;
    for (size_t i = 0; i < 100000; i++) msg[i] = (char)(i * 7 + (i >> 8));
    for (size_t i = 0; i < sizeof ch; i++) ch[i] = (char)('a' + i % 26);
    pc_buf_init(&b);
    for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
        size_t chlen = lens[c % 6] + 1; /* 1..101 */
        const char *argv[3] = {"PUBLISH", ch, msg};
        size_t argvlen[3] = {7, chlen, lens[c]};

        pc_buf_reset(&b);
        pc_resp_publish(&b, ch, chlen, msg, lens[c]);
        CHECK(!b.oom);
        expect_as_hiredis(b.data, b.len, 3, argv, argvlen);
        expect_args(b.data, b.len, 3, argv, argvlen);
    }
    pc_buf_deinit(&b);
    free(msg);
}

/* Framed in place: the same command as pc_resp_publish, for several
 * channels in turn over one message (a retry to another instance). */
static void test_frame(void)
{
    static const char *const channels[] = {"P:svc:a", "portico:svc:instance-with-a-longer-name",
                                           "x", "P:svc:b"};
    static const size_t sizes[] = {0, 5, 9, 10, 99, 100, 5000};
    pc_buf frame, want;
    char msg[5000];

    for (size_t i = 0; i < sizeof msg; i++) msg[i] = (char)('A' + i % 50);
    pc_buf_init(&frame);
    pc_buf_init(&want);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const char *m;
        size_t mlen;

        pc_buf_reset(&frame);
        pc_resp_publish_open(&frame);
        pc_buf_append(&frame, msg, sizes[s]);
        pc_resp_publish_close(&frame);
        CHECK(!frame.oom);
        m = pc_resp_publish_msg(&frame, &mlen);
        CHECK_EQ_MEM(m, mlen, msg, sizes[s]);
        for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++) {
            size_t cmd_len = 0;
            const char *cmd =
                pc_resp_publish_frame(&frame, channels[c], strlen(channels[c]), &cmd_len);
            CHECK(cmd != NULL);
            if (cmd == NULL) continue;
            pc_buf_reset(&want);
            pc_resp_publish(&want, channels[c], strlen(channels[c]), msg, sizes[s]);
            CHECK_EQ_MEM(cmd, cmd_len, want.data, want.len);
            CHECK(cmd >= frame.data && cmd + cmd_len == frame.data + frame.len);
        }
    }

    /* A channel the room cannot hold: NULL, and the message is still there. */
    char longch[PC_RESP_PUBLISH_ROOM];
    size_t cmd_len = 0, mlen;
    memset(longch, 'c', sizeof longch);
    CHECK(pc_resp_publish_frame(&frame, longch, sizeof longch, &cmd_len) == NULL);
    CHECK(pc_resp_publish_frame(&frame, longch, 200, &cmd_len) != NULL); /* as documented */
    const char *m = pc_resp_publish_msg(&frame, &mlen);
    CHECK_EQ_MEM(m, mlen, msg, sizeof msg);
    pc_buf_deinit(&frame);
    pc_buf_deinit(&want);
}

/* Framed where the message lies (a v2 body in its own buffer, the head put
 * in front of it): the same command, for each channel in turn; too little
 * room in front is NULL with the message untouched. */
static void test_frame_in(void)
{
    static const char *const channels[] = {"P:svc:a", "portico:svc:instance-with-a-longer-name",
                                           "P:svc:b"};
    char buf[300 + 4096 + 2], body[4096];
    pc_buf want;

    for (size_t i = 0; i < sizeof body; i++) body[i] = (char)(i * 7);
    pc_buf_init(&want);
    memcpy(buf + 300, body, sizeof body);
    for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++) {
        size_t cmd_len = 0, chlen = strlen(channels[c]);
        const char *cmd =
            pc_resp_publish_frame_in(buf + 300, sizeof body, 300, channels[c], chlen, &cmd_len);
        CHECK(cmd != NULL);
        if (cmd == NULL) continue;
        pc_buf_reset(&want);
        pc_resp_publish(&want, channels[c], chlen, body, sizeof body);
        CHECK_EQ_MEM(cmd, cmd_len, want.data, want.len);
        CHECK(cmd >= buf && cmd + cmd_len == buf + sizeof buf);
    }
    /* the room asked for: 48 bytes plus the channel (the head of a 4096-byte
     * message on a 7-byte channel takes 17 + 4 + 7 + 2 + 7 = 37) */
    CHECK(pc_resp_publish_frame_in(buf + 300, sizeof body, 54, "P:svc:a", 7, &(size_t){0}) == NULL);
    CHECK(pc_resp_publish_frame_in(buf + 300, sizeof body, 55, "P:svc:a", 7, &(size_t){0}) != NULL);
    CHECK(pc_resp_publish_frame_in(buf + 300, sizeof body, 60, "P:svc:abcdefghijklm", 19,
                                   &(size_t){0}) == NULL);
    CHECK_EQ_MEM(buf + 300, sizeof body, body, sizeof body);
    pc_buf_deinit(&want);
}

int main(void)
{
    test_publish_bytes();
    test_publish_lengths();
    test_frame();
    test_frame_in();
    return test_finish("resp");
}
