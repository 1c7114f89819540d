#include "swid.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

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

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct metro_swid_file *)a)->path,
		      ((const struct metro_swid_file *)b)->path);
}

void metro_swid_collect(struct metro_swid *id, char *const *dirs, size_t ndirs)
{
	memset(id, 0, sizeof *id);
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	id->exe_path = metro_strdup(exe);
	metro_sha256_file(exe, id->exe_sha256);
	size_t cap = 0;
	for (size_t i = 0; i < ndirs; i++) {
		DIR *d = opendir(dirs[i]);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			size_t len = strlen(e->d_name);
			if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0 ||
			    e->d_name[0] == '.')
				continue;
			if (id->nprocedures == cap) {
				cap = cap ? cap * 2 : 16;
				id->procedures =
					metro_realloc(id->procedures, cap * sizeof *id->procedures);
			}
			struct metro_swid_file *pf = &id->procedures[id->nprocedures++];
			pf->path = metro_path_join(dirs[i], e->d_name);
			metro_sha256_file(pf->path, pf->sha256);
		}
		closedir(d);
	}
	if (id->nprocedures)
		qsort(id->procedures, id->nprocedures, sizeof *id->procedures, by_path);
}

void metro_swid_free(struct metro_swid *id)
{
	free(id->exe_path);
	for (size_t i = 0; i < id->nprocedures; i++)
		free(id->procedures[i].path);
	free(id->procedures);
	memset(id, 0, sizeof *id);
}
