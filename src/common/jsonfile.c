/* jsonfile.c -- see jsonfile.h. */
#include "jsonfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errf.h"

int pc_json_file_err(const char *what, const char *path, char *err, size_t errlen, const char *fmt,
                     ...)
{
    char why[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return pc_errf(err, errlen, "%s%s%.300s: %s", what, what[0] != '\0' ? " " : "", path, why);
}

/* The files read here may hold keys and secrets: every copy is wiped
 * before it is freed, on every path. */
void pc_file_free(char *buf, size_t len)
{
    if (buf == NULL) return;
    explicit_bzero(buf, len);
    free(buf);
}

char *pc_file_read(const char *what, const char *path, size_t max, size_t *len, char *err,
                   size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    *len = 0;
    if (fd < 0) {
        pc_json_file_err(what, path, err, errlen, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        pc_json_file_err(what, path, err, errlen, "not a regular file");
        goto fail;
    }
    if ((unsigned long long)st.st_size > max) {
        pc_json_file_err(what, path, err, errlen, "larger than %zu bytes", max);
        goto fail;
    }
    /* Room for the size fstat saw, one byte more to see a file that grew
     * meanwhile (refused, never cut), and the NUL. Out of memory is a
     * refusal like the others: the SDK reads secrets here, and a library
     * does not abort. */
    cap = (size_t)st.st_size + 1;
    if ((buf = malloc(cap + 1)) == NULL) {
        pc_json_file_err(what, path, err, errlen, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            pc_json_file_err(what, path, err, errlen, "%s", strerror(errno));
            goto fail;
        }
        if (got == 0) break;
        n += (size_t)got;
        if (n == cap) {
            pc_json_file_err(what, path, err, errlen, "changed while it was read");
            goto fail;
        }
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    pc_file_free(buf, n);
    close(fd);
    return NULL;
}

json_t *pc_json_file_load(const char *what, const char *path, size_t max, char *err, size_t errlen)
{
    json_error_t je;
    size_t len;
    json_t *root;
    char *text = pc_file_read(what, path, max, &len, err, errlen);

    if (text == NULL) return NULL;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    pc_file_free(text, len);
    if (root == NULL)
        pc_json_file_err(what, path, err, errlen, "line %d column %d: %s", je.line, je.column,
                         je.text);
    return root;
}
