/* cidr.h -- IP addresses without a port, and sets of CIDR blocks
 * (--trusted-proxies).
 *
 * An address is 4 bytes (IPv4) or 16 (IPv6); an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is always reduced to its 4 IPv4 bytes, so that a client
 * of a dual-stack listener is one address whatever its socket says, and an
 * IPv4 block matches it. A block is matched only by addresses of its own
 * length: ::/0 never matches an IPv4 client (write 0.0.0.0/0 too). */
#ifndef GW_CIDR_H
#define GW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define GW_CIDR_MAX 64             /* blocks in one set */
#define GW_IP_TEXT_MAX 46          /* an address as text, NUL included (INET6_ADDRSTRLEN) */
#define GW_ADDR_MAX GW_IP_TEXT_MAX /* the same, as requests and connections keep it */

struct gw_ip {
    unsigned char len; /* 4 or 16; 0 = not an IP address (a unix socket) */
    unsigned char b[16];
};

struct gw_cidr {
    struct gw_ip net;   /* host bits cleared */
    unsigned char bits; /* prefix length: 0..32 or 0..128 */
};

struct gw_cidr_set {
    unsigned n;
    struct gw_cidr v[GW_CIDR_MAX];
};

/* Parses s[0..n) as one address, IPv4 dotted quad or IPv6 text (no
 * brackets, no port, no zone). Returns false if it is not one. */
bool gw_ip_parse(const char *s, size_t n, struct gw_ip *ip);
/* From 16 bytes of IPv6 (network order): an IPv4-mapped address becomes
 * its 4 IPv4 bytes. */
void gw_ip_from16(const unsigned char *b16, struct gw_ip *ip);
/* The address of a socket (len 0 for other families). */
void gw_ip_of_sockaddr(const struct sockaddr *sa, struct gw_ip *ip);
/* Writes ip as canonical text (inet_ntop; IPv4 for a 4-byte address) into
 * out[GW_IP_TEXT_MAX]; "unix" for len 0. */
void gw_ip_format(const struct gw_ip *ip, char *out);

/* Parses a comma-separated list of blocks into s: "10.0.0.0/8, ::1,
 * fd00::/8". A bare address is a /32 or /128; host bits past the prefix are
 * ignored (10.1.2.3/8 is 10.0.0.0/8); spaces and tabs around entries are
 * allowed; "" is the empty set. On failure returns false and writes one
 * line to why (an empty entry, a bad address or prefix, more than
 * GW_CIDR_MAX blocks). */
bool gw_cidr_set_parse(struct gw_cidr_set *s, const char *list, char *why, size_t whylen);
/* True if ip lies in one of s's blocks (never for len 0). */
bool gw_cidr_set_has(const struct gw_cidr_set *s, const struct gw_ip *ip);

#endif
