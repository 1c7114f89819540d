#include "swid.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "sha256.h"
#include "util.h"

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

static int profile_by_path(const void *a, const void *b)
{
	return strcmp(((const struct metro_swid_profile *)a)->path,
		      ((const struct metro_swid_profile *)b)->path);
}

void metro_swid_profiles(struct metro_swid *id, const struct metro_config *c)
{
	for (size_t i = 0; i < c->nrigs; i++) {
		const struct metro_profile *p = c->rigs[i].profile_data;
		if (!p)
			continue;
		struct metro_swid_profile *e = NULL;
		for (size_t k = 0; k < id->nprofiles && !e; k++)
			if (!strcmp(id->profiles[k].path, p->path))
				e = &id->profiles[k];
		if (e) { /* one file, loaded once per rig: the rigs are listed together */
			char *r = metro_asprintf("%s, %s", e->rigs, c->rigs[i].id);
			free(e->rigs);
			e->rigs = r;
			continue;
		}
		id->profiles =
			metro_realloc(id->profiles, (id->nprofiles + 1) * sizeof *id->profiles);
		e = &id->profiles[id->nprofiles++];
		e->path = metro_strdup(p->path);
		snprintf(e->sha256, sizeof e->sha256, "%s", p->sha256);
		e->rigs = metro_strdup(c->rigs[i].id);
	}
	if (id->nprofiles)
		qsort(id->profiles, id->nprofiles, sizeof *id->profiles, profile_by_path);
}

void metro_swid_free(struct metro_swid *id)
{
	free(id->exe_path);
	for (size_t i = 0; i < id->nprocedures; i++)
		free(id->procedures[i].path);
	free(id->procedures);
	for (size_t i = 0; i < id->nprofiles; i++) {
		free(id->profiles[i].path);
		free(id->profiles[i].rigs);
	}
	free(id->profiles);
	memset(id, 0, sizeof *id);
}
