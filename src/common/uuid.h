/* uuid.h -- random (version 4) UUIDs from the kernel's CSPRNG. */
#ifndef PC_UUID_H
#define PC_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define PC_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx", lower-case hex */

/* Writes a new UUIDv4 and a NUL to out. Random bytes come from getrandom(2),
 * read in blocks to keep the syscall off the per-request path.
 * Returns 0, or -1 if the kernel gave no randomness. */
int pc_uuid_v4(char out[PC_UUID_LEN + 1]);
/* True if s[0..n) is a UUID in the canonical 8-4-4-4-12 form (any case). */
bool pc_uuid_is_valid(const char *s, size_t n);
/* Fills buf with n random bytes (same source). Returns 0 or -1. */
int pc_random_bytes(void *buf, size_t n);

#endif
