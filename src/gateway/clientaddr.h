/* clientaddr.h -- the client's address (protocol.md §3, security.md):
 * what a request's remote_addr is, and how much of the X-Forwarded-For it
 * arrived with is passed on.
 *
 *   --proxy-protocol on  the PROXY header's source (a LOCAL or UNKNOWN
 *                        header: the peer); X-Forwarded-For is not read
 *   peer in --trusted-proxies
 *                        the right-most X-Forwarded-For entry that is not
 *                        itself a trusted proxy; every entry trusted: the
 *                        left-most; no entry, or a malformed entry reached
 *                        before an untrusted one: the peer (as nginx's
 *                        realip with real_ip_recursive on)
 *   otherwise            the peer
 *
 * The address is kept as canonical text (inet_ntop; IPv4-mapped IPv6 as
 * IPv4), so that one client is one rate-limit key however it is spelled.
 * Per connection: gw_clientaddr_init at accept, gw_clientaddr_proxy while
 * the PROXY header arrives; per request: gw_clientaddr_resolve, which asks
 * the --trusted-proxies table in force whether the peer is trusted, so that
 * a reload removing a proxy is obeyed by the next request of a keep-alive
 * connection too (SPEC §9). */
#ifndef GW_CLIENTADDR_H
#define GW_CLIENTADDR_H

#include <event2/buffer.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "cidr.h"
#include "proxyproto.h"
#include "headers.h"

/* What a connection knows of its client. */
struct gw_clientaddr {
    struct gw_ip ip;        /* the peer, or the PROXY header's source */
    char text[GW_ADDR_MAX]; /* ip as canonical text ("unix" for a unix socket) */
    bool proxied;           /* --proxy-protocol at accept: X-Forwarded-For is never read */
};

/* From the accepted socket's address. proxied: --proxy-protocol is on (the
 * PROXY header will be the whole truth). */
void gw_clientaddr_init(struct gw_clientaddr *ca, const struct sockaddr *sa, bool proxied);

/* Reads the PROXY header from the start of in (every byte received so far,
 * borrowed). MORE: wait for more bytes. DONE: the header is drained from
 * in, and ca holds its source (unchanged for LOCAL/UNKNOWN). ERROR: *why
 * (static) says why; the connection must be closed without a response.
 * Transport-agnostic: on a TLS port it runs on the raw bytes, before the
 * handshake. */
enum gw_pp_result gw_clientaddr_proxy(struct gw_clientaddr *ca, struct evbuffer *in,
                                      const char **why);
/* The same on bytes p[0..n): DONE sets *used to the header's length (the
 * bytes after it are not the header's). */
enum gw_pp_result gw_clientaddr_proxy_bytes(struct gw_clientaddr *ca, const unsigned char *p,
                                            size_t n, size_t *used, const char **why);

/* Decides a request's client address from its connection's (ca) and, when
 * that is in trusted (the table in force) and ca is not from a PROXY
 * header, the request's X-Forwarded-For headers (its head
 * text and header offsets: the request's fields, passed as they are so that
 * this file stays below req.c): fills addr (the request's remote_addr).
 * No allocation. */
void gw_clientaddr_resolve(const struct gw_clientaddr *ca, const struct gw_cidr_set *trusted,
                           const char *head, const struct gw_hdr *hdrs, uint32_t nhdrs,
                           char addr[GW_ADDR_MAX]);

#endif
