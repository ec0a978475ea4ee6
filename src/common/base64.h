/* base64.h -- RFC 4648 base64 (standard alphabet, with padding). */
#ifndef PC_BASE64_H
#define PC_BASE64_H

#include <stddef.h>

/* Length of the encoding of n bytes, without a NUL. */
size_t pc_base64_encoded_len(size_t n);
/* Writes pc_base64_encoded_len(n) bytes to out (no NUL). */
void pc_base64_encode(char *out, const void *in, size_t n);
/* Upper bound of the decoded length of n base64 characters. */
size_t pc_base64_decoded_max(size_t n);
/* Strict decode: length a multiple of 4, padding only at the end, no white
 * space, no characters outside the alphabet, zero pad bits. Writes at most
 * pc_base64_decoded_max(n) bytes to out and the count to *outlen.
 * Returns 0, or -1 on invalid input. */
int pc_base64_decode(void *out, size_t *outlen, const char *in, size_t n);

#endif
