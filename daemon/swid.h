/* swid.h — software identification.
 *
 * Legal metrology requires the legally relevant software to identify itself (OIML D 31): the
 * daemon reports the SHA-256 of its own executable, of every procedure file it would load and
 * of every rig profile its configuration loads, and records embed these digests so that a
 * verdict names the exact software and configuration behind it.
 */
#ifndef METRO_SWID_H
#define METRO_SWID_H

#include <stddef.h>

#include "sha256.h"

struct metro_swid_file {
	char *path;
	char sha256[METRO_SHA256_HEX];
};

/* A rig profile file and the rigs of the configuration that use it. */
struct metro_swid_profile {
	char *path;
	char sha256[METRO_SHA256_HEX]; /* of the bytes the rigs loaded (yfile.h) */
	char *rigs;		       /* their ids, ", "-separated */
};

struct metro_swid {
	char *exe_path;
	char exe_sha256[METRO_SHA256_HEX];
	struct metro_swid_file *procedures; /* sorted by path */
	size_t nprocedures;
	struct metro_swid_profile *profiles; /* sorted by path; see metro_swid_profiles() */
	size_t nprofiles;
};

struct metro_config;

/* Identify the running executable and the *.yaml files of the given directories (missing
 * directories are skipped).  Never fails: unreadable items get an empty digest. */
void metro_swid_collect(struct metro_swid *id, char *const *dirs, size_t ndirs);
/* Add the rig profiles of a loaded configuration: one entry per file, with the digest of
 * what its rigs loaded (a run records the same digest, docs/records.md) and the rigs. */
void metro_swid_profiles(struct metro_swid *id, const struct metro_config *c);
void metro_swid_free(struct metro_swid *id);

#endif
