/* addrcount.h -- open public connections per client address, for
 * --max-connections-per-ip: one count per address in a hash map (pc_map,
 * seeded: addresses come from the network), touched once at accept and once
 * when the connection is freed; nothing per request. */
#ifndef GW_ADDRCOUNT_H
#define GW_ADDRCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A client address without its port: 4 bytes (IPv4, and IPv4-mapped IPv6,
 * so that one client counts once on a dual-stack listener), 16 (IPv6), or 1
 * (any other family: all such clients share one count). */
struct gw_addrkey {
    unsigned char len;
    unsigned char b[16];
};

void gw_addrkey_of(const struct sockaddr *sa, struct gw_addrkey *k);

/* Counts one more connection from k unless k has max open already: then
 * returns false and counts nothing. */
bool gw_addrcount_add(const struct gw_addrkey *k, unsigned max);
/* A connection counted by gw_addrcount_add is gone. */
void gw_addrcount_del(const struct gw_addrkey *k);
/* Open connections from k (0 when none). */
unsigned gw_addrcount_get(const struct gw_addrkey *k);
/* Addresses with at least one connection open. */
size_t gw_addrcount_addresses(void);
/* Forgets every count (process exit). */
void gw_addrcount_free(void);

#endif
