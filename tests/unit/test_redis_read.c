/* test_redis_read.c -- redis_read.c (and redis_send.c's commands with large
 * arguments) against a real redis-server: a subscriber
 * read with pc_redis_read (no event loop: poll() and the hiredis context
 * alone), messages published from a second, blocking connection.
 *
 * Many messages in one read, a message larger than the largest room (intact,
 * binary), the room grown by reads that fill it and back to its least after
 * small traffic with the buffer freed, and the connection killed in the
 * middle of a message larger than the sockets hold (the disconnect reported
 * once, the partial message never delivered).
 *
 * pc_redis_send_argv: SET and MSET with arguments of 16 KiB and more, sent
 * in pieces from where they lie (nothing queued before them) and joined
 * behind a queued command; every value read back byte for byte, every
 * reply in order. pc_redis_reply_take: a string reply's bytes taken whole.
 *
 * redis-server: $REDIS_SERVER, else from PATH; skipped (77) without one. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "redis_read.h"
#include "redis_send.h"
#include "test.h"

static pid_t redis_pid;
static int port;
static int got;         /* messages delivered intact */
static int bad;         /* messages delivered damaged */
static size_t want_len; /* length of the message expected next */
static int disconnects; /* disconnect callbacks */
static int disconnect_status;
static redisAsyncContext *sub;
static struct pc_redis_read rd;
static bool subscribed; /* the SUBSCRIBE confirmed */

static unsigned char byte_at(size_t i, size_t n) { return (unsigned char)((i * 7 + n) % 251); }

static char *payload(size_t n)
{
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++) p[i] = (char)byte_at(i, n);
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    p = ntohs(a.sin_port);
    close(fd);
    return p;
}

static bool start_redis(void)
{
    const char *bin = getenv("REDIS_SERVER");
    char portstr[16];
    redisContext *c;

    if (bin == NULL || *bin == '\0') bin = "redis-server";
    if ((port = free_port()) < 0) return false;
    snprintf(portstr, sizeof portstr, "%d", port);
    if ((redis_pid = fork()) == 0) {
        int devnull = open("/dev/null", 1);
        dup2(devnull, 1);
        execlp(bin, bin, "--port", portstr, "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", (char *)NULL);
        _exit(127);
    }
    for (double end = now_s() + 10; now_s() < end; usleep(20000)) {
        int st;
        if (waitpid(redis_pid, &st, WNOHANG) == redis_pid) return false; /* not there */
        if ((c = redisConnect("127.0.0.1", port)) != NULL && c->err == 0) {
            redisFree(c);
            return true;
        }
        if (c != NULL) redisFree(c);
    }
    return false;
}

static void on_message(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *m = r;

    (void)ac;
    (void)priv;
    if (m == NULL || m->type != REDIS_REPLY_ARRAY || m->elements != 3) return; /* disconnect */
    if (strcmp(m->element[0]->str, "subscribe") == 0) {
        subscribed = true;
        return;
    }
    if (strcmp(m->element[0]->str, "message") != 0) return;
    const redisReply *body = m->element[2];
    bool ok = body->type == REDIS_REPLY_STRING && (size_t)body->len == want_len;
    for (size_t i = 0; ok && i < want_len; i++)
        ok = (unsigned char)body->str[i] == byte_at(i, want_len);
    if (ok)
        got++;
    else
        bad++;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    disconnects++;
    disconnect_status = status;
    sub = NULL; /* hiredis frees it */
}

/* Bytes waiting in the subscriber's socket. */
static int queued(void)
{
    int n = 0;
    return sub != NULL && ioctl(sub->c.fd, FIONREAD, &n) == 0 ? n : -1;
}

/* Runs the subscriber until cond() holds or 20 s pass (a bound, not a
 * measurement); reads only through pc_redis_read. */
static bool pump(bool (*cond)(void))
{
    for (double end = now_s() + 20; now_s() < end;) {
        if (cond()) return true;
        if (sub == NULL) return cond();
        struct pollfd p = {.fd = sub->c.fd, .events = POLLIN};
        if (!(sub->c.flags & REDIS_CONNECTED) || sdslen(sub->c.obuf) > 0) p.events |= POLLOUT;
        if (poll(&p, 1, 50) <= 0) continue;
        if (p.revents & POLLOUT) redisAsyncHandleWrite(sub);
        if (sub != NULL && (p.revents & (POLLIN | POLLHUP | POLLERR))) pc_redis_read(sub, &rd);
    }
    return cond();
}

static int want_got;
static bool reached(void) { return got + bad >= want_got; }
static bool gone(void) { return disconnects > 0; }

static void publish(redisContext *pc, size_t n, int times)
{
    char *p = payload(n);
    for (int i = 0; i < times; i++) redisAppendCommand(pc, "PUBLISH ch %b", p, n);
    for (int i = 0; i < times; i++) {
        redisReply *r = NULL;
        CHECK(redisGetReply(pc, (void **)&r) == REDIS_OK && r != NULL);
        if (r != NULL) freeReplyObject(r);
    }
    free(p);
}

/* Waits (bounded) until the subscriber's socket holds at least n bytes. */
static void wait_queued(int n)
{
    for (double end = now_s() + 20; now_s() < end && queued() >= 0 && queued() < n;) usleep(2000);
}

static bool is_subscribed(void) { return subscribed; }

static bool subscribe(void)
{
    sub = redisAsyncConnect("127.0.0.1", port);
    if (sub == NULL || sub->err) return false;
    redisAsyncSetDisconnectCallback(sub, on_disconnect);
    if (redisAsyncCommand(sub, on_message, NULL, "SUBSCRIBE ch") != REDIS_OK) return false;
    return pump(is_subscribed); /* the confirmation read: nothing left in the socket */
}

/* The bytes of one pub/sub message of n bytes on channel "ch". */
static int msg_size(size_t n)
{
    char digits[24];
    return 4 + 13 + 8 + 1 + snprintf(digits, sizeof digits, "%zu", n) + 2 + (int)n + 2;
}

static int cmd_replies; /* replies to the command context's commands */
static int cmd_ok;      /* ... that were +OK or +PONG */
static void on_cmd_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    cmd_replies++;
    if (reply != NULL && reply->type == REDIS_REPLY_STATUS &&
        (strcmp(reply->str, "OK") == 0 || strcmp(reply->str, "PONG") == 0))
        cmd_ok++;
}

/* Writes what hiredis queued and reads until `want` replies came (bounded). */
static bool cmd_settle(redisAsyncContext *ac, int want)
{
    int done = 0;
    for (double end = now_s() + 20; now_s() < end;) {
        if (sdslen(ac->c.obuf) > 0 && redisBufferWrite(&ac->c, &done) != REDIS_OK) return false;
        if (cmd_replies >= want && sdslen(ac->c.obuf) == 0) return true;
        struct pollfd p = {ac->c.fd, POLLIN, 0};
        if (poll(&p, 1, 10) > 0) redisAsyncHandleRead(ac);
    }
    return false;
}

static void check_value(redisContext *pc, const char *key, const char *want, size_t n)
{
    redisReply *r = redisCommand(pc, "GET %s", key);
    CHECK(r != NULL && r->type == REDIS_REPLY_STRING && r->len == n &&
          memcmp(r->str, want, n) == 0);
    if (r != NULL) freeReplyObject(r);
}

static void test_send_argv(redisContext *pc)
{
    redisAsyncContext *ac = redisAsyncConnect("127.0.0.1", port);
    size_t big = 300000, mid = 20000;
    char *a = payload(big), *b = payload(mid);
    int connected = 0;

    CHECK(ac != NULL && ac->err == 0);
    /* connected once a PING came back (hiredis marks it on the first write) */
    CHECK(redisAsyncCommand(ac, on_cmd_reply, NULL, "PING") == REDIS_OK);
    CHECK(cmd_settle(ac, 1));
    connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    CHECK(connected);
    /* nothing queued: the pieces go to the socket at once */
    const char *set[5] = {"SET", "big:a", a, "PX", "60000"};
    size_t setl[5] = {3, 5, big, 2, 5};
    CHECK_EQ_INT(pc_redis_send_argv(ac, on_cmd_reply, NULL, 5, set, setl), REDIS_OK);
    /* behind a queued command: joined, in order */
    CHECK(redisAsyncCommand(ac, on_cmd_reply, NULL, "PING") == REDIS_OK);
    const char *mset[5] = {"MSET", "big:b", b, "big:c", a};
    size_t msetl[5] = {4, 5, mid, 5, big};
    CHECK_EQ_INT(pc_redis_send_argv(ac, on_cmd_reply, NULL, 5, mset, msetl), REDIS_OK);
    /* small arguments: hiredis' own path */
    const char *small[3] = {"SET", "big:d", "x"};
    size_t smalll[3] = {3, 5, 1};
    CHECK_EQ_INT(pc_redis_send_argv(ac, on_cmd_reply, NULL, 3, small, smalll), REDIS_OK);
    CHECK(cmd_settle(ac, 5));
    CHECK_EQ_INT(cmd_replies, 5);
    CHECK_EQ_INT(cmd_ok, 5);
    check_value(pc, "big:a", a, big);
    check_value(pc, "big:b", b, mid);
    check_value(pc, "big:c", a, big);
    check_value(pc, "big:d", "x", 1);
    /* a string reply's bytes taken: whole, NUL-terminated, the reply freed
     * without them; anything else gives nothing */
    redisReply *r = redisCommand(pc, "GET big:a");
    char *taken = pc_redis_reply_take(r);
    CHECK(taken != NULL && memcmp(taken, a, big) == 0 && taken[big] == '\0');
    CHECK(r != NULL && r->str == NULL && r->len == 0);
    if (r != NULL) freeReplyObject(r);
    free(taken);
    r = redisCommand(pc, "INCR big:n");
    CHECK(pc_redis_reply_take(r) == NULL);
    if (r != NULL) freeReplyObject(r);
    redisAsyncFree(ac);
    free(a);
    free(b);
}

int main(void)
{
    redisContext *pc;

    signal(SIGPIPE, SIG_IGN);
    if (!start_redis()) {
        printf("SKIP: no redis-server ($REDIS_SERVER or PATH)\n");
        if (redis_pid > 0) kill(redis_pid, SIGKILL);
        return 77;
    }
    pc = redisConnect("127.0.0.1", port);
    CHECK(pc != NULL && pc->err == 0);
    CHECK(subscribe());
    test_send_argv(pc);

    /* many messages in one read: 200 x 100 bytes (~27 KB) all queued, then
     * one pc_redis_read call delivers every one of them */
    want_len = 100;
    publish(pc, 100, 200);
    wait_queued(200 * msg_size(100));
    CHECK_EQ_INT(queued(), 200 * msg_size(100));
    pc_redis_read(sub, &rd);
    CHECK_EQ_INT(got, 200);
    CHECK_EQ_INT(bad, 0);

    /* a message larger than the largest room: intact; the room grew (the
     * first read met more than it could take) and stays within its bound */
    got = 0;
    want_len = 3u << 20;
    want_got = 1;
    publish(pc, want_len, 1);
    wait_queued(64 * 1024);
    CHECK(pump(reached));
    CHECK_EQ_INT(got, 1);
    CHECK_EQ_INT(bad, 0);
    CHECK(rd.room > PC_REDIS_READ_ROOM_MIN);
    CHECK(rd.room <= PC_REDIS_READ_ROOM_MAX);
    CHECK(sdsalloc(sub->c.reader->buf) >= want_len);

    /* small traffic again: the room back to its least and the large buffer
     * freed after PC_REDIS_READ_QUIET small reads */
    want_len = 10;
    for (int i = 0; i < PC_REDIS_READ_QUIET + 4; i++) {
        got = 0;
        want_got = 1;
        publish(pc, 10, 1);
        CHECK(pump(reached));
        CHECK_EQ_INT(got, 1);
    }
    CHECK_EQ_INT(rd.room, PC_REDIS_READ_ROOM_MIN);
    CHECK(sdsalloc(sub->c.reader->buf) <= 4 * PC_REDIS_READ_ROOM_MIN);
    /* and large once more, after the buffer was freed */
    got = 0;
    want_len = 200000;
    want_got = 1;
    publish(pc, want_len, 1);
    CHECK(pump(reached));
    CHECK_EQ_INT(got, 1);

    /* killed mid-message: 16 MiB cannot all sit in the two sockets while
     * the subscriber does not read; once part of it has arrived Redis drops
     * the subscriber with the rest. The part is read, then EOF: one
     * disconnect, with an error, and no message delivered. */
    got = bad = 0;
    want_len = 16u << 20;
    publish(pc, want_len, 1);
    wait_queued(1);
    CHECK(queued() > 0);
    redisReply *k = redisCommand(pc, "CLIENT KILL TYPE pubsub");
    CHECK(k != NULL && k->type == REDIS_REPLY_INTEGER && k->integer == 1);
    if (k != NULL) freeReplyObject(k);
    CHECK(pump(gone));
    CHECK_EQ_INT(disconnects, 1);
    CHECK_EQ_INT(disconnect_status, REDIS_ERR);
    CHECK_EQ_INT(got, 0);
    CHECK_EQ_INT(bad, 0);

    redisFree(pc);
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, NULL, 0);
    return test_finish("redis_read");
}
