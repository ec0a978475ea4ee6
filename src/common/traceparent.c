/* traceparent.c -- W3C traceparent values (see traceparent.h). */
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
