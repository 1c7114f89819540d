/* sha256.h — SHA-256 of a buffer or a file, as 64 lowercase hex digits. */
#ifndef METRO_SHA256_H
#define METRO_SHA256_H

#include <stddef.h>

#define METRO_SHA256_HEX 65 /* 64 hex digits and a NUL */

void metro_sha256_hex(const void *data, size_t len, char hex[METRO_SHA256_HEX]);
/* Digest of a file's contents.  Returns 0, METRO_E_NOTFOUND or METRO_E_IO. */
int metro_sha256_file(const char *path, char hex[METRO_SHA256_HEX]);

#endif
