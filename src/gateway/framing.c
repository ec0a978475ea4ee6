/* framing.c -- the strict framing scanner (rules in framing.h).
 *
 * One state machine over the bytes of heads, chunk-size lines and trailers,
 * byte by byte except for the runs of a target, a field name or a field
 * value, which are skipped in tight loops (scan_run). Body and chunk data
 * are skipped by count. Every state keeps what it needs in struct
 * gw_framing, so a request may be cut into calls anywhere. */
#include "framing.h"

#include "names.h"
#include "xalloc.h"

const unsigned char gw_framing_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* The reason for a refused byte c in a line. */
static const char *line_error(unsigned char c, const char *otherwise)
{
    if (c == '\0') return "NUL byte";
    if (c == '\n') return "bare LF (lines must end in CRLF)";
    if (c == '\r') return "bare CR";
    return otherwise;
}

/* Records a refusal of the byte at offset at. */
static enum gw_framing_stop refuse(struct gw_framing *f, size_t *used, size_t at, int status,
                                   const char *why)
{
    f->status = status;
    f->why = why;
    *used = at;
    return GW_FRAMING_ERROR;
}

/* Inside gw_framing_scan: refuses the byte just taken (d[i - 1]). */
#define REFUSE(status, why) return refuse(f, used, i - 1, (status), (why))

/* How many bytes from d[0..n) the current state takes with no change and
 * nothing to check but the byte itself: the runs of a target, a field name
 * or a field value. They are skipped here, in a tight loop; the byte after
 * a run goes through gw_framing_scan's switch, so every state change, limit
 * and error is exactly that of a byte-at-a-time scan. */
static size_t scan_run(const struct gw_framing *f, const unsigned char *d, size_t n)
{
    size_t k = 0;

    switch (f->state) {
    case GW_FR_TARGET:
        while (k < n && gw_framing_target_byte(d[k])) k++;
        break;
    case GW_FR_NAME:
        while (k < n && gw_framing_tchar[d[k]]) k++;
        break;
    case GW_FR_VALUE:
        while (k < n && gw_framing_field_byte(d[k])) k++;
        break;
    default:
        break;
    }
    return k;
}

enum gw_framing_stop gw_framing_scan(struct gw_framing *f, const char *d, size_t len, size_t *used)
{
    const size_t max_head = f->max_head;
    size_t i = 0;

    while (i < len) {
        unsigned char c;
        int x;

        if (f->state == GW_FR_BODY || f->state == GW_FR_CHUNK_DATA) { /* skipped by count */
            size_t k = len - i < f->left ? len - i : (size_t)f->left;
            i += k;
            f->left -= k;
            if (f->left > 0) break;
            if (f->state == GW_FR_BODY) {
                *used = i;
                return GW_FRAMING_MESSAGE;
            }
            f->state = GW_FR_DATA_CR;
            continue;
        }
        if (f->state == GW_FR_TARGET || f->state == GW_FR_NAME || f->state == GW_FR_VALUE) {
            /* a run, up to the head limit: the byte past it fails below */
            size_t room = f->bytes < max_head ? max_head - f->bytes : 0;
            size_t k = scan_run(f, (const unsigned char *)d + i, len - i < room ? len - i : room);
            i += k;
            f->bytes += k;
            if (i == len) break;
        }
        c = (unsigned char)d[i++];
        if (++f->bytes > (f->state >= GW_FR_CHUNK_SIZE0 ? GW_FRAMING_MAX_CHUNK_LINE : max_head)) {
            if (f->state >= GW_FR_CHUNK_SIZE0) REFUSE(400, "chunk line too long");
            REFUSE(431, f->trailer ? "trailers too large" : "request line and headers too large");
        }
        switch (f->state) {
        case GW_FR_START:
            if (c == '\r') {
                f->state = GW_FR_START_LF;
            } else if (gw_framing_tchar[c]) {
                f->state = GW_FR_METHOD;
                f->index = 1;
            } else {
                REFUSE(400, line_error(c, "invalid request line"));
            }
            break;
        case GW_FR_START_LF:
            if (c != '\n') REFUSE(400, "bare CR");
            f->state = GW_FR_START;
            break;
        case GW_FR_METHOD:
            if (c == ' ') {
                f->state = GW_FR_TARGET0;
            } else if (!gw_framing_tchar[c]) {
                REFUSE(400, line_error(c, "invalid character in method"));
            } else if (++f->index > GW_FRAMING_MAX_METHOD) {
                REFUSE(400, "method too long");
            }
            break;
        case GW_FR_TARGET0:
            if (c != '/')
                REFUSE(400, line_error(c, "request target must be a path starting with /"));
            f->state = GW_FR_TARGET;
            break;
        case GW_FR_TARGET:
            if (c == ' ') {
                f->state = GW_FR_VERSION;
                f->index = 0;
            } else if (!gw_framing_target_byte(c)) {
                REFUSE(400, line_error(c, "invalid character in request target"));
            }
            break;
        case GW_FR_VERSION:
            if (f->index < 7) {
                if (c != (unsigned char)"HTTP/1."[f->index])
                    REFUSE(400, line_error(c, "unsupported HTTP version"));
            } else if (f->index == 7) {
                if (c != '0' && c != '1') REFUSE(400, line_error(c, "unsupported HTTP version"));
            } else if (c == '\r') {
                f->state = GW_FR_RL_LF;
            } else {
                REFUSE(400, line_error(c, "invalid request line"));
            }
            f->index++;
            break;
        case GW_FR_RL_LF:
        case GW_FR_VALUE_LF:
            if (c != '\n') REFUSE(400, "bare CR");
            f->state = GW_FR_LINE;
            break;
        case GW_FR_LINE:
            if (c == '\r') {
                f->state = GW_FR_END_LF;
            } else if (gw_framing_tchar[c]) {
                f->state = GW_FR_NAME;
            } else if (c == ' ' || c == '\t') {
                REFUSE(400, "obsolete line folding");
            } else {
                REFUSE(400, line_error(c, "invalid header name"));
            }
            break;
        case GW_FR_NAME:
            if (c == ':') {
                f->state = GW_FR_VALUE;
            } else if (c == ' ' || c == '\t') {
                REFUSE(400, "white space before the colon of a header");
            } else if (!gw_framing_tchar[c]) {
                REFUSE(400, line_error(c, "invalid header name"));
            }
            break;
        case GW_FR_VALUE:
            if (c == '\r')
                f->state = GW_FR_VALUE_LF;
            else if (!gw_framing_field_byte(c))
                REFUSE(400, line_error(c, "control character in a header value"));
            break;
        case GW_FR_END_LF:
            if (c != '\n') REFUSE(400, "bare CR");
            *used = i;
            return f->trailer ? GW_FRAMING_MESSAGE : GW_FRAMING_HEAD;
        case GW_FR_CHUNK_SIZE0:
            if ((x = pc_hex_value(c)) < 0) REFUSE(400, line_error(c, "invalid chunk size"));
            f->chunk = (uint64_t)x;
            f->state = GW_FR_CHUNK_SIZE;
            break;
        case GW_FR_CHUNK_SIZE:
            if ((x = pc_hex_value(c)) >= 0) {
                if (f->chunk > (UINT64_MAX >> 4)) REFUSE(400, "chunk size overflows");
                f->chunk = (f->chunk << 4) | (uint64_t)x;
            } else if (c == ';') {
                f->state = GW_FR_CHUNK_EXT;
            } else if (c == ' ' || c == '\t') {
                f->state = GW_FR_CHUNK_BWS;
            } else if (c == '\r') {
                f->state = GW_FR_CHUNK_LF;
            } else {
                REFUSE(400, line_error(c, "invalid chunk size"));
            }
            break;
        case GW_FR_CHUNK_BWS:
            if (c == ';')
                f->state = GW_FR_CHUNK_EXT;
            else if (c != ' ' && c != '\t')
                REFUSE(400, line_error(c, "invalid chunk size"));
            break;
        case GW_FR_CHUNK_EXT:
            if (c == '\r')
                f->state = GW_FR_CHUNK_LF;
            else if (!gw_framing_field_byte(c))
                REFUSE(400, line_error(c, "control character in a chunk extension"));
            break;
        case GW_FR_CHUNK_LF:
            if (c != '\n') REFUSE(400, "bare CR in a chunk line");
            f->bytes = 0;
            if (f->chunk == 0) { /* last chunk: trailers (checked, then dropped) */
                f->state = GW_FR_LINE;
                f->trailer = true;
                break;
            }
            if (f->chunk > f->max_body - f->total) REFUSE(413, "request body too large");
            f->total += f->chunk;
            f->left = f->chunk;
            f->state = GW_FR_CHUNK_DATA;
            break;
        case GW_FR_DATA_CR:
            if (c != '\r') REFUSE(400, "chunk data not followed by CRLF");
            f->state = GW_FR_DATA_LF;
            break;
        case GW_FR_DATA_LF:
            if (c != '\n') REFUSE(400, "chunk data not followed by CRLF");
            f->state = GW_FR_CHUNK_SIZE0;
            f->bytes = 0;
            break;
        default:
            pc_panic("framing: state %d", f->state);
        }
    }
    *used = len;
    return GW_FRAMING_MORE;
}
#undef REFUSE
