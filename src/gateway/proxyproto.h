/* proxyproto.h -- the PROXY protocol header (HAProxy's proxy-protocol.txt),
 * version 1 (text) and version 2 (binary), told apart by their signatures.
 *
 * A pure parser: it is handed every byte received so far from the start of
 * the connection and says whether they begin with a complete, valid header
 * (and how long it is), could still become one (more bytes needed), or
 * cannot. It keeps no state, so a header split across reads at any point
 * parses the same; the caller keeps the bytes.
 *
 * Accepted:
 *   v1  "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" (TCP6 likewise),
 *       single spaces, addresses of the named family, ports 0..65535 in
 *       decimal without leading zeros; "PROXY UNKNOWN<anything>\r\n".
 *       At most GW_PP_V1_MAX bytes, CRLF included.
 *   v2  the 12-byte signature, version 2, command LOCAL or PROXY, then the
 *       address block and any TLVs (skipped, not interpreted); the length
 *       may not exceed GW_PP_V2_MAX_LEN. PROXY over TCP/IPv4 (0x11) and
 *       TCP/IPv6 (0x21) carry a source; UNSPEC (0x00) and unix sockets
 *       (0x31, 0x32) do not. Any other family/transport is refused.
 * LOCAL, UNKNOWN, UNSPEC and unix give a header without a source: the
 * connection's own peer is the client (a health check from the proxy). */
#ifndef GW_PROXYPROTO_H
#define GW_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

#define GW_PP_V1_MAX 107      /* bytes of a v1 line, CRLF included (the spec's maximum) */
#define GW_PP_V2_MAX_LEN 4096 /* bytes after the 16-byte v2 header: addresses and TLVs */
#define GW_PP_V2_HEAD 16

enum gw_pp_result {
    GW_PP_ERROR = -1, /* not a valid header: h->why says why */
    GW_PP_MORE = 0,   /* a valid beginning: more bytes needed */
    GW_PP_DONE = 1,   /* a complete header of h->len bytes */
};

struct gw_pp_header {
    size_t len;            /* DONE: bytes of the header (the rest is the application's) */
    int version;           /* 1 or 2, as soon as the signature is known; 0 before */
    struct gw_ip src, dst; /* DONE with a source: the addresses; else len 0 */
    uint16_t src_port, dst_port;
    const char *why; /* ERROR: a static reason */
};

/* Parses p[0..n), the first bytes of a connection. Fills h (always). */
enum gw_pp_result gw_pp_parse(const unsigned char *p, size_t n, struct gw_pp_header *h);

#endif
