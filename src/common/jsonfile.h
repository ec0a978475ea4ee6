/* jsonfile.h -- the one bounded loader for the files an operator hands in:
 * the config file, auth policies and keys, rate-limit rules, registration
 * secrets, the allow-list, and every file added later.
 *
 * Each file is opened once, checked with fstat on that descriptor (a regular
 * file of at most max bytes), read with a bound (a file that grows while it
 * is read is refused, not truncated), and, for JSON, parsed with duplicate
 * keys refused. A refusal is one line in err:
 *   "<what> <path>: <reason>"   (or "<path>: <reason>" when what is "")
 * where a JSON error says "line L column C: <jansson's text>". */
#ifndef PC_JSONFILE_H
#define PC_JSONFILE_H

#include <jansson.h>
#include <stddef.h>

/* The whole file, NUL-terminated (the NUL is not counted in *len), in a
 * buffer to give to pc_file_free. NULL with err set on any refusal
 * (out of memory included: nothing here aborts). */
char *pc_file_read(const char *what, const char *path, size_t max, size_t *len, char *err,
                   size_t errlen);
/* Wipes len bytes of buf (it may hold secrets), then frees it. NULL is fine. */
void pc_file_free(char *buf, size_t len);

/* The file parsed as JSON (any value at the top: callers check the type they
 * want, and may use pc_json_file_err for their own refusals). NULL with err
 * set on any refusal. The file's text is wiped once parsed (the strings in
 * the tree are the caller's to wipe if they are secret). */
json_t *pc_json_file_load(const char *what, const char *path, size_t max, char *err, size_t errlen);

/* Formats "<what> <path>: <reason>" into err and returns -1: for the checks a
 * caller makes on a loaded file, so every message about one file looks alike. */
int pc_json_file_err(const char *what, const char *path, char *err, size_t errlen, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

#endif
