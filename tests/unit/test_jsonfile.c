/* test_jsonfile.c -- the bounded file loader: every refusal, exact messages. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonfile.h"
#include "test.h"

static char dir[] = "/tmp/pc-jsonfile-XXXXXX";

static const char *put(const char *name, const char *text, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fwrite(text, 1, n, f);
    fclose(f);
    return path;
}

static void check_refused(const char *path, size_t max, const char *what, const char *want_tail)
{
    char err[512], want[512];
    err[0] = '\0';
    json_t *j = pc_json_file_load(what, path, max, err, sizeof err);
    CHECK(j == NULL);
    json_decref(j);
    snprintf(want, sizeof want, "%s%s%s: %s", what, what[0] ? " " : "", path, want_tail);
    CHECK_EQ_STR(err, want);
}

int main(void)
{
    char err[512];
    size_t len;
    const char *p;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    /* good: parsed, any top-level value */
    p = put("ok.json", "{\"a\": [1, 2]}", 13);
    json_t *j = pc_json_file_load("config file", p, 13, err, sizeof err);
    CHECK(j != NULL && json_is_object(j));
    CHECK_EQ_INT(json_array_size(json_object_get(j, "a")), 2);
    json_decref(j);

    /* exactly max bytes is fine, max - 1 is not */
    j = pc_json_file_load("", p, 13, err, sizeof err);
    CHECK(j != NULL);
    json_decref(j);
    check_refused(p, 12, "auth file", "larger than 12 bytes");

    /* raw read: NUL-terminated, binary-safe length */
    p = put("raw", "se\0cret\n", 8);
    char *raw = pc_file_read("secret", p, 64, &len, err, sizeof err);
    CHECK(raw != NULL);
    CHECK_EQ_INT(len, 8);
    CHECK_EQ_MEM(raw, len, "se\0cret\n", 8);
    CHECK(raw != NULL && raw[8] == '\0');
    free(raw);

    /* parse errors carry line and column */
    p = put("bad.json", "{\n  \"a\": 1,\n  \"a\": 2\n}", 22);
    check_refused(p, 1024, "rules file", "line 3 column 5: duplicate object key near '\"a\"'");
    p = put("trunc.json", "{\"a\": ", 6);
    check_refused(p, 1024, "", "line 1 column 6: unexpected token near end of file");

    /* missing, a directory, empty */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    check_refused(missing, 1024, "config file", "No such file or directory");
    check_refused(dir, 1024, "config file", "not a regular file");
    p = put("empty.json", "", 0);
    err[0] = '\0';
    j = pc_json_file_load("x", p, 1024, err, sizeof err);
    CHECK(j == NULL);
    CHECK(strstr(err, ": line 1 column 0:") != NULL || strstr(err, "line 1 column 1") != NULL);

    /* a file that holds more than fstat said (it grew, or /proc's size 0):
     * refused, never cut at the size seen */
    if (access("/proc/self/status", R_OK) == 0)
        check_refused("/proc/self/status", 1 << 20, "x", "changed while it was read");

    /* a small err buffer is cut, never overrun */
    char small[8];
    memset(small, 'x', sizeof small);
    CHECK(pc_json_file_load("config file", missing, 1, small, sizeof small) == NULL);
    CHECK_EQ_INT(strlen(small), 7);

    /* no err buffer at all */
    CHECK(pc_json_file_load("config file", missing, 1, NULL, 0) == NULL);

    /* the caller's own refusals look the same */
    CHECK_EQ_INT(pc_json_file_err("allow-list", "/x.json", err, sizeof err, "bad %s", "key"), -1);
    CHECK_EQ_STR(err, "allow-list /x.json: bad key");

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return test_finish("jsonfile");
}
