/* wire_int.h -- what the validating decoders share (defined in
 * wire_decode.c, which decodes requests and replies; used also by
 * wire_register.c, which decodes registrations). Private to them: the rest
 * of the tree uses wire.h. */
#ifndef PC_WIRE_INT_H
#define PC_WIRE_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "wire.h"

/* Fills err (which may be NULL) with a static reason and a message. Bytes
 * outside printable ASCII are replaced, so the message is safe to log even
 * when jansson quotes part of the input. */
void wire_err(struct pc_wire_err *err, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks size (<= max_len) and depth, then parses msg into a JSON object,
 * duplicate keys refused. Returns the new tree, or NULL with err filled
 * (too_large, too_deep, not_json). */
json_t *wire_parse(const char *msg, size_t len, size_t max_len, struct pc_wire_err *err);

/* True if j is a string without an embedded NUL; sets *s and (if n) *n. */
bool wire_cstr(json_t *j, const char **s, size_t *n);

/* Reads an optional integer member. Returns 1 if present (value in *v), 0 if
 * absent, -1 if present with another type (err filled, reason bad_field). */
int wire_opt_int(json_t *root, const char *key, json_int_t *v, struct pc_wire_err *err);

#endif
