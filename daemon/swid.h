/* swid.h — software identification.
 *
 * Legal metrology requires the legally relevant software to identify itself (OIML D 31): the
 * daemon reports the SHA-256 of its own executable and of every procedure file it would load,
 * and records embed these digests so that a verdict names the exact software behind it.
 */
#ifndef METRO_SWID_H
#define METRO_SWID_H

#include <stddef.h>

#include "sha256.h"

struct metro_swid_file {
	char *path;
	char sha256[METRO_SHA256_HEX];
};

struct metro_swid {
	char *exe_path;
	char exe_sha256[METRO_SHA256_HEX];
	struct metro_swid_file *procedures; /* sorted by path */
	size_t nprocedures;
};

/* Identify the running executable and the *.yaml files of the given directories (missing
 * directories are skipped).  Never fails: unreadable items get an empty digest. */
void metro_swid_collect(struct metro_swid *id, char *const *dirs, size_t ndirs);
void metro_swid_free(struct metro_swid *id);

#endif
