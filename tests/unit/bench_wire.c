/* bench_wire.c -- the lean reply and request readers against the full decoders.
 *
 *   bench_wire DATA_DIR            check (a test): for every reply and request
 *                                  in the corpus, and for 200,000 random
 *                                  mutations of each kind, the lean reader
 *                                  either declines or agrees with
 *                                  pc_wire_decode_reply / _request exactly
 *   bench_wire --bench [COUNT]     instructions/time per decode, both ways
 *                                  (run under callgrind for instruction counts)
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "wire.h"

#define MAX_MSG 8192

static pc_buf scratch;
static struct pc_kv kv[64];
static long lean_hits, lean_declined;

/* Decodes msg both ways; if the lean reader accepts it, the full decoder
 * must accept it with the same values. */
static void compare_reply(const char *msg, size_t len, const char *what)
{
    struct pc_reply_view v;
    struct pc_reply_in in;
    struct pc_wire_err err;
    int lean = pc_wire_decode_reply_lean(&v, msg, len, &scratch, kv, 64);
    int full = pc_wire_decode_reply(&in, msg, len, &err);

    if (!lean) {
        lean_declined++;
        pc_wire_reply_in_deinit(&in);
        return;
    }
    lean_hits++;
    test_checks++;
    bool same = full == 0 && v.id_len == in.id_len && memcmp(v.id, in.id, v.id_len) == 0 &&
                v.status == in.status && v.body_len == in.body_len && v.seq == in.seq &&
                v.more == in.more && (v.body_len == 0 || memcmp(v.body, in.body, v.body_len) == 0);
    size_t nh = in.headers ? json_array_size(in.headers) : 0;
    same = same && nh == v.nheaders;
    for (size_t i = 0; same && i < nh; i++) {
        json_t *pair = json_array_get(in.headers, i);
        json_t *n = json_array_get(pair, 0), *val = json_array_get(pair, 1);
        same = v.headers[i].name_len == json_string_length(n) &&
               memcmp(v.headers[i].name, json_string_value(n), v.headers[i].name_len) == 0 &&
               v.headers[i].value_len == json_string_length(val) &&
               memcmp(v.headers[i].value, json_string_value(val), v.headers[i].value_len) == 0;
    }
    if (!same) {
        test_failures++;
        fprintf(stderr, "bench_wire: lean and full decoders disagree on %s (full=%d): %.*s\n", what,
                full, (int)len, msg);
    }
    pc_wire_reply_in_deinit(&in);
}

/* Same string both ways: lean (may be NULL) and jansson's (may be NULL). */
static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_kv(const struct pc_kv *p, const char *name, size_t nl, const char *value,
                    size_t vl)
{
    return p->name_len == nl && memcmp(p->name, name, nl) == 0 && p->value_len == vl &&
           memcmp(p->value, value, vl) == 0;
}

static void compare_request(const char *msg, size_t len, const char *what)
{
    struct pc_request_view v;
    struct pc_request_in in;
    struct pc_wire_err err;
    char *buf = malloc(len + 1);
    int lean = pc_wire_decode_request_lean(&v, msg, len, buf, kv, 64);
    int full = pc_wire_decode_request(&in, msg, len, &err);

    if (!lean) {
        lean_declined++;
        goto out;
    }
    lean_hits++;
    test_checks++;
    bool same = full == 0 && same_str(v.id, in.id) && same_str(v.reply_to, in.reply_to) &&
                same_str(v.method, in.method) && same_str(v.path, in.path) &&
                same_str(v.query, in.query) && same_str(v.route, in.route) &&
                same_str(v.remote_addr, in.remote_addr) && v.deadline_ms == in.deadline_ms &&
                v.body_len == in.body_len &&
                (v.body_len == 0 || memcmp(v.body, in.body, v.body_len) == 0) &&
                (v.body == NULL || v.body[v.body_len] == '\0');
    size_t nh = in.headers ? json_array_size(in.headers) : 0;
    same = same && nh == v.nheaders;
    for (size_t i = 0; same && i < nh; i++) {
        json_t *pair = json_array_get(in.headers, i);
        json_t *n = json_array_get(pair, 0), *val = json_array_get(pair, 1);
        same = same_kv(&v.headers[i], json_string_value(n), json_string_length(n),
                       json_string_value(val), json_string_length(val));
    }
    same = same && v.nparams == (in.params ? json_object_size(in.params) : 0);
    for (size_t i = 0; same && i < v.nparams; i++) {
        json_t *val = json_object_get(in.params, v.params[i].name);
        same = val != NULL && same_kv(&v.params[i], v.params[i].name, v.params[i].name_len,
                                      json_string_value(val), json_string_length(val));
    }
    if (!same) {
        test_failures++;
        fprintf(stderr,
                "bench_wire: lean and full request decoders disagree on %s (full=%d): %.*s\n", what,
                full, (int)len, msg);
    }
out:
    pc_wire_request_in_deinit(&in);
    free(buf);
}

static size_t load(const char *path, char *buf)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) return 0;
    n = fread(buf, 1, MAX_MSG, f);
    fclose(f);
    return n;
}

static const char *const extra_reply[] = {
    /* replies */
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"status\":200}",
    " {\"status\":599 , \"id\":\"x\",\"v\":1,\"x\":null,\"y\":true,\"z\":-0,\"w\":\"\\n\"} ",
    ("{\"v\":1,\"id\":\"a\",\"status\":200,\"headers\":[[\"Content-Type\",\"text/plain\"]],"
     "\"body\":\"aGVsbG8=\",\"body_encoding\":\"base64\"}"),
    "{\"v\":1,\"id\":\"a\",\"status\":204,\"headers\":[],\"body\":\"\\\"q\\\" \\\\ \\/ \\t\"}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"x\":1,\"x\":2}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"caf\xc3\xa9\"}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"caf\xe9\"}",
    "{\"v\":1,\"id\":\"a\",\"status\":200.0}",
    "{\"v\":1,\"id\":\"a\",\"status\":2e2}",
    "{\"v\":01,\"id\":\"a\",\"status\":200}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"t\":truex}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"body_encoding\":\"base64\"}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"body_encoding\":\"base64\",\"body\":\"\"}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"n\":123456789012345678901234567890}",
    "{\"v\":1,\"id\":\"a\",\"status\":200,\"more\":true,\"body\":\"x\"}",
    "{\"v\":1,\"id\":\"a\",\"seq\":1,\"more\":true,\"body\":\"x\"}",
    "{\"v\":1,\"id\":\"a\",\"seq\":7,\"more\":false}",
    "{\"v\":1,\"id\":\"a\",\"seq\":1,\"body\":\"x\"}",
    "{\"v\":1,\"id\":\"a\",\"seq\":1,\"more\":true,\"status\":200}",
    "{\"v\":1,\"id\":\"a\",\"seq\":-1,\"more\":true}",
    "{\"v\":1,\"id\":\"a\",\"seq\":0,\"more\":false,\"status\":200}",
    "{\"v\":1,\"id\":\"a\",\"seq\":1,\"more\":truex}",
    "{\"v\":1,\"id\":\"a\",\"seq\":1,\"more\":1}",
};

#define RQ_HEAD                                                                                    \
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"reply_to\":\"p:reply:g\","         \
    "\"deadline_ms\":1763772350678,\"method\":\"GET\",\"path\":\"/a\""
static const char *const extra_request[] = {
    RQ_HEAD "}",
    RQ_HEAD ",\"params\":{\"id\":\"42\",\"x\":\"\"},\"headers\":[[\"host\",\"h\"],[\"a\",\"b\"]]}",
    RQ_HEAD ",\"params\":{\"id\":\"1\",\"id\":\"2\"}}",
    RQ_HEAD
    ",\"params\":{\"i\\\"d\":\"1\"},\"query\":\"a=1\",\"route\":\"/a\",\"remote_addr\":\"::1\"}",
    RQ_HEAD ",\"params\":{\"id\":1}}",
    RQ_HEAD ",\"params\":[]}",
    RQ_HEAD ",\"headers\":[[\"a\"]]}",
    RQ_HEAD ",\"headers\":[[\"a\",\"b\",\"c\"]]}",
    RQ_HEAD ",\"body\":\"aGVsbG8=\",\"body_encoding\":\"base64\"}",
    RQ_HEAD ",\"body\":\"aGVsbG8\",\"body_encoding\":\"base64\"}",
    RQ_HEAD ",\"body\":\"caf\xc3\xa9 \\\"q\\\"\",\"x\":{\"nested\":1}}",
    RQ_HEAD ",\"body\":\"caf\xe9\"}",
    RQ_HEAD ",\"body_encoding\":\"base64\"}",
    RQ_HEAD ",\"body_encoding\":\"utf8\",\"body\":\"x\"}",
    RQ_HEAD ",\"method\":\"POST\"}",
    RQ_HEAD ",\"route\":null}",
    RQ_HEAD ",\"z\":-0,\"y\":true,\"w\":null,\"u\":\"\\n\"}",
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"reply_to\":\"r\",\"method\":\"G\","
    "\"path\":\"/\",\"deadline_ms\":-1}",
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2aZ\",\"reply_to\":\"r\",\"method\":\"G\","
    "\"path\":\"/\",\"deadline_ms\":1}",
    "{\"v\":1,\"id\":\"not-a-uuid\",\"reply_to\":\"r\",\"method\":\"G\",\"path\":\"/"
    "\",\"deadline_ms\":1}",
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"method\":\"G\",\"path\":\"/"
    "\",\"deadline_ms\":1}",
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"reply_to\":\"r\",\"method\":\"G\","
    "\"path\":\"/\",\"deadline_ms\":1.5}",
    "{\"v\":1,\"id\":\"0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9\",\"reply_to\":\"r\",\"method\":\"G\","
    "\"path\":\"/\",\"deadline_ms\":0}",
};

typedef void compare_fn(const char *msg, size_t len, const char *what);

/* One kind of message: its corpus (tests/unit/data/wire/KIND/{valid,invalid})
 * plus the extra cases, then 200,000 mutations of them. */
static void check_kind(const char *data_dir, const char *kind, const char *const *extra,
                       size_t nextra, compare_fn *compare)
{
    static const char *const kinds[] = {"valid", "invalid"};
    static char corpus[200][MAX_MSG];
    static size_t corpus_len[200];
    size_t ncorpus = 0;
    char path[1024], m[MAX_MSG + 16];

    for (size_t i = 0; i < nextra && ncorpus < 200; i++) {
        corpus_len[ncorpus] = strlen(extra[i]);
        memcpy(corpus[ncorpus++], extra[i], strlen(extra[i]));
        compare(extra[i], strlen(extra[i]), extra[i]);
    }
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/wire/%s/%s", data_dir, kind, kinds[k]);
        DIR *d = opendir(path);
        struct dirent *e;
        if (d == NULL) {
            fprintf(stderr, "bench_wire: no corpus at %s\n", path);
            test_failures++;
            return;
        }
        while ((e = readdir(d)) != NULL && ncorpus < 200) {
            size_t nl = strlen(e->d_name);
            if (nl < 5 || strcmp(e->d_name + nl - 5, ".json") != 0) continue;
            snprintf(path, sizeof path, "%s/wire/%s/%s/%s", data_dir, kind, kinds[k], e->d_name);
            corpus_len[ncorpus] = load(path, corpus[ncorpus]);
            compare(corpus[ncorpus], corpus_len[ncorpus], e->d_name);
            ncorpus++;
        }
        closedir(d);
    }

    /* Mutations: flips to JSON-significant bytes, deletions, insertions. */
    static const char alphabet[] = "{}[]\",:\\ 0123456789-.eEtrunlfasbdxyv/\x01\x80\xc3\xa9=+";
    unsigned seed = 12345;
    long hits = lean_hits;
    for (long iter = 0; iter < 200000; iter++) {
        size_t c = (size_t)(rand_r(&seed) % (int)ncorpus), len = corpus_len[c];
        memcpy(m, corpus[c], len);
        int edits = 1 + rand_r(&seed) % 3;
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = (size_t)rand_r(&seed) % len;
            char ch = alphabet[rand_r(&seed) % (int)(sizeof alphabet - 1)];
            switch (rand_r(&seed) % 3) {
            case 0:
                m[at] = ch;
                break;
            case 1:
                memmove(m + at, m + at + 1, len - at - 1);
                len--;
                break;
            default:
                if (len < MAX_MSG) {
                    memmove(m + at + 1, m + at, len - at);
                    m[at] = ch;
                    len++;
                }
            }
        }
        compare(m, len, "a mutation");
    }
    printf("bench_wire: %s: %ld accepted by the lean reader (all agreeing), %ld declined so far\n",
           kind, lean_hits - hits, lean_declined);
    /* the lean reader must take the common case, or it is no use */
    test_checks++;
    if (lean_hits - hits < 1000) {
        test_failures++;
        fprintf(stderr, "bench_wire: %s: the lean reader accepted only %ld mutations\n", kind,
                lean_hits - hits);
    }
}

/* Strings dense in escapes (JSON inside a JSON string), of every length
 * around the 16-byte blocks the reader scans, in a reply cut at every
 * length: each copied to a buffer of exactly its size, so that a read past
 * the end is caught under AddressSanitizer. */
static void check_strings(void)
{
    static const char *const pieces[] = {
        "a",       "abcdefgh", "\\\"", "\\\\", "\\/",      "\\n",  "\\t", "\\b", "\\f", "\\r",
        "\\u0041", "\\x",      "\\",   "\x01", "\xc3\xa9", "\xe9", "\"",  ":",   "{",
    };
    static const char head[] = "{\"v\":1,\"id\":\"a\",\"status\":200,\"body\":\"";
    unsigned seed = 777;
    long hits = lean_hits;
    char m[512];

    /* iterations below 48 * npieces: a plain run of every length up to
     * three blocks, then each piece; the rest random */
    const long npieces = (long)(sizeof pieces / sizeof pieces[0]);
    for (long iter = 0; iter < 20000; iter++) {
        size_t len = sizeof head - 1;
        memcpy(m, head, len);
        int n = iter < 48 * npieces ? 0 : rand_r(&seed) % 40;
        if (iter < 48 * npieces) {
            size_t run = (size_t)(iter / npieces), pl = strlen(pieces[iter % npieces]);
            memset(m + len, 'a', run);
            memcpy(m + len + run, pieces[iter % npieces], pl);
            len += run + pl;
        }
        for (int i = 0; i < n; i++) {
            /* mostly the pieces of JSON text: quotes and plain runs */
            int k = rand_r(&seed) % 4 != 0
                        ? rand_r(&seed) % 3
                        : rand_r(&seed) % (int)(sizeof pieces / sizeof pieces[0]);
            size_t pl = strlen(pieces[k]);
            memcpy(m + len, pieces[k], pl);
            len += pl;
        }
        memcpy(m + len, "\"}", 2);
        len += 2;
        for (size_t cut = iter < 48 * npieces || iter % 8 == 0 ? 1 : len; cut <= len; cut++) {
            char *exact = malloc(cut);
            if (exact == NULL) abort();
            memcpy(exact, m, cut);
            compare_reply(exact, cut, "an escape-dense string");
            free(exact);
        }
    }
    printf("bench_wire: strings: %ld accepted by the lean reader (all agreeing)\n",
           lean_hits - hits);
    test_checks++;
    if (lean_hits - hits < 1000) {
        test_failures++;
        fprintf(stderr, "bench_wire: strings: the lean reader accepted only %ld\n",
                lean_hits - hits);
    }
}

static void check_all(const char *data_dir)
{
    check_strings();
    check_kind(data_dir, "reply", extra_reply, sizeof extra_reply / sizeof extra_reply[0],
               compare_reply);
    check_kind(data_dir, "request", extra_request, sizeof extra_request / sizeof extra_request[0],
               compare_request);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A typical reply: the echo example's answer to a small GET. */
static const char typical[] =
    "{\"v\":1,\"id\":\"1d21e139-df65-426b-a1ca-bb17348ad412\",\"status\":200,\"headers\":"
    "[[\"content-type\",\"application/json\"]],\"body\":\"{\\\"method\\\":\\\"GET\\\","
    "\\\"path\\\":\\\"/echo/x\\\",\\\"query\\\":\\\"\\\",\\\"route\\\":\\\"/echo/*\\\","
    "\\\"params\\\":{\\\"*\\\":\\\"x\\\"},\\\"headers\\\":[[\\\"host\\\",\\\"127.0.0.1:48000\\\"],"
    "[\\\"user-agent\\\",\\\"curl/7.88.1\\\"],[\\\"accept\\\",\\\"*/*\\\"],[\\\"x-request-id\\\","
    "\\\"23293054-08b3-4d99-9e60-2c98d7ad12e5\\\"],[\\\"x-forwarded-for\\\",\\\"127.0.0.1\\\"],"
    "[\\\"x-forwarded-proto\\\",\\\"http\\\"]],\\\"remote_addr\\\":\\\"127.0.0.1\\\","
    "\\\"request_id\\\":\\\"23293054-08b3-4d99-9e60-2c98d7ad12e5\\\",\\\"instance\\\":"
    "\\\"echo-fc97f9b6\\\",\\\"body\\\":\\\"\\\",\\\"body_length\\\":0}\"}";

static void bench(long count)
{
    struct pc_reply_view v;
    struct pc_reply_in in;
    struct pc_wire_err err;
    size_t len = strlen(typical);
    double t0 = now_ns();
    for (long i = 0; i < count; i++)
        if (pc_wire_decode_reply_lean(&v, typical, len, &scratch, kv, 64) != 1) abort();
    double t1 = now_ns();
    for (long i = 0; i < count; i++) {
        if (pc_wire_decode_reply(&in, typical, len, &err) != 0) abort();
        pc_wire_reply_in_deinit(&in);
    }
    double t2 = now_ns();
    printf("%zu-byte reply: lean %.0f ns, jansson %.0f ns per decode\n", len,
           (t1 - t0) / (double)count, (t2 - t1) / (double)count);
}

int main(int argc, char **argv)
{
    pc_buf_init(&scratch);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(argc > 2 ? strtol(argv[2], NULL, 10) : 200000);
    } else {
        check_all(argc > 1 ? argv[1] : "tests/unit/data");
    }
    pc_buf_deinit(&scratch);
    return test_finish("bench_wire");
}
