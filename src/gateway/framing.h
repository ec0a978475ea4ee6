/* framing.h -- the strict HTTP/1.1 framing scanner: where a request ends.
 *
 * http_parser (Debian builds it non-strict) takes obs-fold, a bare CR or LF
 * as a line end, any byte after the CR of a chunk line, control bytes in
 * chunk extensions and runs of spaces in the request line. Two readers that
 * disagree on where a request ends are how requests get smuggled, so every
 * framing byte goes through this scanner first (RFC 9112 grammar, CRLF
 * only) and http.c hands the parser only bytes that passed. Body and chunk
 * data are skipped by count, never looked at.
 *
 * Rules, each refused with the status and reason shown (the reason is a
 * static string; a refused NUL, LF or CR is reported as "NUL byte",
 * "bare LF (lines must end in CRLF)" or "bare CR" instead of the reason of
 * the rule it broke):
 *
 *  Before the request line
 *   - empty lines (CRLF) are skipped; a CR not followed by LF: 400 "bare CR".
 *  Request line: method SP target SP version CRLF, single spaces only
 *   - method: 1..20 tchar (RFC 9110); a first byte that is not one: 400
 *     "invalid request line"; a later one: 400 "invalid character in
 *     method"; a 21st byte: 400 "method too long".
 *   - target: origin-form only, starting with '/' (no absolute-form,
 *     authority-form or '*': a gateway is not a forward proxy): 400 "request
 *     target must be a path starting with /"; then bytes 0x21..0x7e and
 *     obs-text except '#': 400 "invalid character in request target" (a
 *     second SP, HTAB, DEL, '#', control bytes).
 *   - version: exactly "HTTP/1.0" or "HTTP/1.1": 400 "unsupported HTTP
 *     version"; anything but CR after it: 400 "invalid request line"; LF
 *     must follow the CR: 400 "bare CR".
 *  Header fields (and trailer fields): name ":" value CRLF
 *   - a line starting with SP or HTAB: 400 "obsolete line folding".
 *   - name: 1+ tchar: 400 "invalid header name" (also an empty name);
 *     SP or HTAB before the colon: 400 "white space before the colon of a
 *     header".
 *   - value: HTAB, SP, visible ASCII, obs-text (0x80..0xff): 400 "control
 *     character in a header value" (DEL and other controls).
 *   - CR must be followed by LF, also on the blank line: 400 "bare CR".
 *  Size
 *   - request line + headers + the blank line (and skipped empty lines
 *     before it) at most max_head bytes: 431 "request line and headers too
 *     large"; trailers + blank line at most max_head: 431 "trailers too
 *     large". Counted per byte: the refused byte is the first one over.
 *  Body (after gw_framing_body)
 *   - Content-Length: exactly that many bytes, skipped; the message ends
 *     with the last one.
 *   - chunked: chunk-size line = 1+ HEXDIG [BWS ";" ext] CRLF:
 *       a non-hex first byte (sign, SP, empty size): 400 "invalid chunk
 *       size"; a size over 64 bits: 400 "chunk size overflows"; after the
 *       digits only ';' (after optional SP/HTAB), CR, or more digits: 400
 *       "invalid chunk size"; extensions are field bytes: 400 "control
 *       character in a chunk extension"; CR must be followed by LF: 400
 *       "bare CR in a chunk line"; a line (size, extensions, CRLF) over
 *       4096 bytes: 400 "chunk line too long".
 *     - the sum of the chunk sizes over max_body: 413 "request body too
 *       large" (at the LF of the chunk line that would exceed it).
 *     - chunk data is skipped by count and must be followed by CRLF: 400
 *       "chunk data not followed by CRLF".
 *     - the last chunk (size 0) is followed by trailer fields, checked like
 *       header fields, and a blank line that ends the message.
 *
 * Rules that need the head's values (one Content-Length of digits, TE
 * exactly "chunked", never both, Host) are http.c's (on_headers_complete):
 * that is where the head is known; the scanner is told the framing it
 * decided with gw_framing_body. */
#ifndef GW_FRAMING_H
#define GW_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_FRAMING_MAX_CHUNK_LINE 4096 /* bytes of a chunk-size line, extensions and CRLF */
#define GW_FRAMING_MAX_METHOD 20       /* bytes of a method (http_parser knows no longer one) */

/* The byte classes of a request head, for the scanner and for http.c's
 * plain-request reader, which must take no byte the scanner refuses. */
extern const unsigned char gw_framing_tchar[256]; /* RFC 9110 tchar (a method, a field name) */

/* A byte of an origin-form target: visible ASCII but '#', and obs-text. */
static inline bool gw_framing_target_byte(unsigned char c)
{
    return c > 0x20 && c != 0x7f && c != '#';
}

/* field-content bytes: visible ASCII, SP, HTAB, obs-text. */
static inline bool gw_framing_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Where the scanner is. The order matters: states from GW_FR_CHUNK_SIZE0 on
 * count against the chunk-line limit, the others against max_head. */
enum gw_framing_state {
    GW_FR_START,       /* before a request line: CRLF pairs are skipped */
    GW_FR_START_LF,    /* CR seen before a request line: LF must follow */
    GW_FR_METHOD,      /* method token, up to one SP */
    GW_FR_TARGET0,     /* first byte of the target: '/' (origin-form only) */
    GW_FR_TARGET,      /* the rest of the target, up to one SP */
    GW_FR_VERSION,     /* "HTTP/1.0" or "HTTP/1.1", then CR */
    GW_FR_RL_LF,       /* CR after the version: LF must follow */
    GW_FR_LINE,        /* start of a field line, or the CR of the blank line */
    GW_FR_NAME,        /* field name (token) up to ':' */
    GW_FR_VALUE,       /* field value up to CR */
    GW_FR_VALUE_LF,    /* CR after a value: LF must follow */
    GW_FR_END_LF,      /* CR of the blank line: LF ends the head or the trailers */
    GW_FR_BODY,        /* Content-Length body: left bytes, skipped */
    GW_FR_CHUNK_SIZE0, /* first hex digit of a chunk size */
    GW_FR_CHUNK_SIZE,  /* more hex digits */
    GW_FR_CHUNK_BWS,   /* white space after the size: ';' must follow */
    GW_FR_CHUNK_EXT,   /* chunk extensions up to CR */
    GW_FR_CHUNK_LF,    /* CR of a chunk line: LF must follow */
    GW_FR_CHUNK_DATA,  /* chunk data: left bytes, skipped */
    GW_FR_DATA_CR,     /* CRLF after chunk data */
    GW_FR_DATA_LF,
};

/* What gw_framing_scan stopped at. */
enum gw_framing_stop {
    GW_FRAMING_MORE,    /* all of the input is fine; the current part goes on */
    GW_FRAMING_HEAD,    /* a head ends at *used: call gw_framing_body, or
                            gw_framing_reset if the message has no body */
    GW_FRAMING_MESSAGE, /* a message (body, or trailers) ends at *used:
                            gw_framing_reset before the next one */
    GW_FRAMING_ERROR,   /* status and why are set; the scanner is done */
};

/* Embedded in its owner (http.c); the fields are the scanner's own, except
 * status and why, which may be read after GW_FRAMING_ERROR. */
struct gw_framing {
    int state;       /* enum gw_framing_state */
    bool trailer;    /* scanning trailers, not a head */
    uint8_t index;   /* bytes of the method / version seen */
    size_t bytes;    /* bytes of this head, trailer or chunk line */
    uint64_t left;   /* body or chunk data bytes still to skip */
    uint64_t chunk;  /* size of the chunk being read */
    uint64_t total;  /* sum of the chunk sizes of this message */
    size_t max_head; /* limit on a head, and on trailers (bytes) */
    size_t max_body; /* limit on the sum of the chunk sizes (bytes) */
    int status;      /* 400, 413 or 431 after GW_FRAMING_ERROR */
    const char *why; /* static reason after GW_FRAMING_ERROR */
};

/* Back to the start of a request: after a message, or after a head whose
 * message has no body. */
static inline void gw_framing_reset(struct gw_framing *f)
{
    f->state = GW_FR_START;
    f->trailer = false;
    f->index = 0;
    f->bytes = 0;
    f->left = 0;
    f->chunk = 0;
    f->total = 0;
}

/* A scanner at the start of a request, with these limits (bytes). */
static inline void gw_framing_init(struct gw_framing *f, size_t max_head, size_t max_body)
{
    gw_framing_reset(f);
    f->max_head = max_head;
    f->max_body = max_body;
    f->status = 0;
    f->why = NULL;
}

/* After GW_FRAMING_HEAD: the body that follows, as the head framed it:
 * chunked, else content_length bytes (> 0; a message without a body ends
 * with its head: gw_framing_reset instead). */
static inline void gw_framing_body(struct gw_framing *f, bool chunked, uint64_t content_length)
{
    f->bytes = 0;
    if (chunked) {
        f->state = GW_FR_CHUNK_SIZE0;
    } else {
        f->state = GW_FR_BODY;
        f->left = content_length;
    }
}

/* Checks d[0..len) from where the scanner is. Returns at the end of a head
 * or of a message (*used = bytes up to and including its last byte), at an
 * error (*used = offset of the refused byte; status and why set), or at the
 * end of the input (GW_FRAMING_MORE, *used = len). The outcome and the
 * offsets do not depend on how the input is cut into calls. Must not be
 * called again after GW_FRAMING_ERROR. d is borrowed. */
enum gw_framing_stop gw_framing_scan(struct gw_framing *f, const char *d, size_t len, size_t *used);

#endif
