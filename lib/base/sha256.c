/* sha256.c — SHA-256 digests as lowercase hex (libsodium underneath). */
#include "sha256.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>

#include "error.h"

static void to_hex(const unsigned char *d, char hex[METRO_SHA256_HEX])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[d[i] >> 4];
		hex[2 * i + 1] = digits[d[i] & 15];
	}
	hex[64] = '\0';
}

void metro_sha256_hex(const void *data, size_t len, char hex[METRO_SHA256_HEX])
{
	unsigned char d[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(d, data, len);
	to_hex(d, hex);
}

int metro_sha256_file(const char *path, char hex[METRO_SHA256_HEX])
{
	FILE *f = fopen(path, "rb");
	hex[0] = '\0';
	if (!f)
		return errno == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	unsigned char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	int err = ferror(f) ? METRO_E_IO : METRO_OK;
	fclose(f);
	if (err)
		return err;
	unsigned char d[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(&st, d);
	to_hex(d, hex);
	return METRO_OK;
}
