/* traceparent.c -- W3C traceparent and tracestate values (see
 * traceparent.h). */
#include "traceparent.h"

#include <string.h>

#include "uuid.h"

static const char hexd[] = "0123456789abcdef";

static bool lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

static bool all_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0') return false;
    return true;
}

bool pc_traceparent_parse(const char *v, size_t n, char *trace_id, char *parent_id, char *flags)
{
    if (v == NULL || n < PC_TRACEPARENT_LEN || !lower_hex(v, 2) || v[2] != '-' || v[35] != '-' ||
        v[52] != '-')
        return false;
    if (v[0] == 'f' && v[1] == 'f') return false; /* version ff is invalid */
    /* Version 00 is exactly 55 bytes; a later version may carry more
     * fields after a '-', read by the 00 rules for the first four. */
    if (v[0] == '0' && v[1] == '0' ? n != PC_TRACEPARENT_LEN
                                   : n > PC_TRACEPARENT_LEN && v[PC_TRACEPARENT_LEN] != '-')
        return false;
    if (!lower_hex(v + 3, 32) || !lower_hex(v + 36, 16) || !lower_hex(v + 53, 2)) return false;
    if (all_zero(v + 3, 32) || all_zero(v + 36, 16)) return false;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = '\0';
    memcpy(parent_id, v + 36, 16);
    parent_id[16] = '\0';
    flags[0] = v[53];
    flags[1] = v[54];
    flags[2] = '\0';
    return true;
}

/* Random lower-case hex, 2 * n digits from n random bytes, not all zero. */
static int random_hex(char *out, size_t n)
{
    unsigned char b[16];
    bool zero;

    do {
        zero = true;
        if (pc_random_bytes(b, n) != 0) return -1;
        for (size_t i = 0; i < n; i++) zero = zero && b[i] == 0;
    } while (zero);
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexd[b[i] >> 4];
        out[2 * i + 1] = hexd[b[i] & 15];
    }
    return 0;
}

int pc_traceparent_child(char *out, const char *trace_id, const char *flags)
{
    memcpy(out, "00-", 3);
    if (trace_id != NULL) {
        memcpy(out + 3, trace_id, 32);
    } else {
        if (random_hex(out + 3, 16) != 0) return -1;
        flags = "01";
    }
    out[35] = '-';
    if (random_hex(out + 36, 8) != 0) return -1;
    out[52] = '-';
    memcpy(out + 53, flags, 2);
    out[PC_TRACEPARENT_LEN] = '\0';
    return 0;
}

/* ---- tracestate ---- */

/* A tracestate member: "key=value", visible ASCII but ',' (the list's
 * separator) and no '=' in the key. */
static bool member_ok(const char *e, size_t n)
{
    const char *eq = memchr(e, '=', n);
    if (eq == NULL || eq == e || eq == e + n - 1) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)e[i] < 0x20 || (unsigned char)e[i] > 0x7e || e[i] == ',') return false;
    return true;
}

void pc_tracestate_init(struct pc_tracestate *ts)
{
    ts->len = 0;
    ts->members = 0;
    ts->bad = false;
    ts->s[0] = '\0';
}

void pc_tracestate_add(struct pc_tracestate *ts, const char *v, size_t n)
{
    size_t pos = 0;

    while (!ts->bad && pos < n) {
        size_t start, end, len;
        while (pos < n && (v[pos] == ' ' || v[pos] == '\t' || v[pos] == ',')) pos++;
        start = pos;
        while (pos < n && v[pos] != ',') pos++;
        end = pos;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end == start) continue;
        len = end - start;
        if (!member_ok(v + start, len) || ++ts->members > PC_TRACESTATE_MEMBERS) {
            ts->bad = true;
            break;
        }
        if (ts->len + (ts->len ? 1 : 0) + len > PC_TRACESTATE_MAX) continue; /* left off */
        if (ts->len) ts->s[ts->len++] = ',';
        memcpy(ts->s + ts->len, v + start, len);
        ts->len += len;
        ts->s[ts->len] = '\0';
    }
}

const char *pc_tracestate_value(const struct pc_tracestate *ts)
{
    return ts->bad || ts->len == 0 ? NULL : ts->s;
}
