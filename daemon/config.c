/* config.c — the daemon configuration: the table of the file's sections with their
 * validators, the small sections (station, store, procedures, due_warning_days, log_level),
 * and the configuration's lifetime, lookups and comparison.  The larger sections live in
 * config_endpoints.c, config_standards.c and config_rigs.c (config_int.h). */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "error.h"
#include "log.h"
#include "store.h"
#include "util.h"

static const char *const log_levels[] = {"err", "warning", "notice", "info", "debug"};

char *cfg_resolve(struct loader *L, const char *p)
{
	return metro_path_join(L->c->dir, p);
}

static void station(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},	{"name", 1},  {"institution", 1}, {"authorisation", 1},
		{"address", 0}, {"phone", 0}, {"postcode", 0},
	};
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	metro_y_map(L->f, n, "station", fields, METRO_ARRAY_SIZE(fields), v);
	struct metro_config *c = L->c;
	if (v[0])
		metro_y_ident(L->f, v[0], "station.id", &c->station.id);
	if (v[1])
		metro_y_str(L->f, v[1], "station.name", 200, &c->station.name);
	if (v[2])
		metro_y_str(L->f, v[2], "station.institution", 200, &c->station.institution);
	if (v[3])
		metro_y_str(L->f, v[3], "station.authorisation", 100, &c->station.authorisation);
	if (v[4])
		metro_y_str(L->f, v[4], "station.address", 300, &c->station.address);
	if (v[5])
		metro_y_str(L->f, v[5], "station.phone", 64, &c->station.phone);
	if (v[6])
		metro_y_str(L->f, v[6], "station.postcode", 16, &c->station.postcode);
}

static void store(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {{"path", 1}, {"reserve_mb", 0}};
	yaml_node_t *v[2];
	metro_y_map(L->f, n, "store", fields, 2, v);
	char *p = NULL;
	if (v[0] && !metro_y_str(L->f, v[0], "store.path", 4096, &p)) {
		L->c->store_path = cfg_resolve(L, p);
		free(p);
	}
	if (v[1])
		metro_y_long(L->f, v[1], "store.reserve_mb", 0, 1000000, &L->c->store_reserve_mb);
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every procedure of a directory; their problems are reported at their own
 * FILE:LINE:COL, with one line here naming the directory entry that brought them in. */
static void load_procedures(struct loader *L, yaml_node_t *item, const char *name, const char *dir)
{
	struct metro_config *c = L->c;
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **files = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".yaml") != 0)
			continue;
		files = metro_realloc(files, (n + 1) * sizeof *files);
		files[n++] = metro_path_join(dir, e->d_name);
	}
	closedir(d);
	if (n)
		qsort(files, n, sizeof *files, by_name);
	for (size_t i = 0; i < n; i++) {
		struct metro_procedure *p = NULL;
		size_t before = metro_diag_count(L->f->diag);
		metro_procedure_load(files[i], L->f->diag, &p);
		if (!p) {
			metro_y_error(L->f, item, "%s: procedure file '%s' is not valid", name,
				      files[i]);
		} else if (metro_config_procedure(c, p->id)) {
			metro_y_error(L->f, item,
				      "%s: procedure id '%s' of '%s' is already used by '%s'", name,
				      p->id, files[i], metro_config_procedure(c, p->id)->path);
			metro_procedure_destroy(&p);
		} else {
			(void)before;
			c->procedures = metro_realloc(c->procedures,
						      (c->nprocedures + 1) * sizeof *c->procedures);
			c->procedures[c->nprocedures++] = p;
		}
		free(files[i]);
	}
	free(files);
}

static void procedures(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "procedures");
	if (len < 0)
		return;
	if (len == 0)
		metro_y_error(L->f, n, "procedures: at least one directory is needed");
	L->c->procedure_dirs = metro_calloc((size_t)len, sizeof(char *));
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		struct metro_ypath name = metro_yindex("procedures", i);
		char *p = NULL;
		if (metro_y_str(L->f, item, name.s, 4096, &p))
			continue;
		char *full = cfg_resolve(L, p);
		if (!is_dir(full)) {
			metro_y_error(L->f, item, "%s: directory '%s' does not exist", name.s,
				      full);
			free(full);
		} else {
			L->c->procedure_dirs[L->c->nprocedure_dirs++] = full;
			load_procedures(L, item, name.s, full);
		}
		free(p);
	}
}

static void due_warning_days(struct loader *L, yaml_node_t *n)
{
	metro_y_long(L->f, n, "due_warning_days", 0, 3650, &L->c->due_warning_days);
}

static void log_level(struct loader *L, yaml_node_t *n)
{
	int lv;
	if (!metro_y_enum(L->f, n, "log_level", log_levels, METRO_ARRAY_SIZE(log_levels), &lv))
		L->c->log_level = METRO_LOG_ERR + lv;
}

/* The sections of the file: each top-level key with its validator, listed in the order that
 * messages name them ("expected one of: ...").  `step` is the order they are validated in,
 * which is also the order of their messages: rigs name reference standards and drivers
 * (plugins included), so `standards` and `driver_plugins` are validated before `rigs`. */
static const struct section {
	const char *key;
	int required;
	int step;
	void (*validate)(struct loader *L, yaml_node_t *n);
} sections[] = {
	{.key = "station", .required = 1, .step = 0, .validate = station},
	{.key = "control", .required = 1, .step = 1, .validate = cfg_control},
	{.key = "publish", .required = 1, .step = 2, .validate = cfg_publish},
	{.key = "store", .required = 1, .step = 3, .validate = store},
	{.key = "procedures", .required = 1, .step = 4, .validate = procedures},
	{.key = "standards", .required = 1, .step = 5, .validate = cfg_standards},
	{.key = "rigs", .required = 1, .step = 7, .validate = cfg_rigs},
	{.key = "due_warning_days", .required = 0, .step = 8, .validate = due_warning_days},
	{.key = "log_level", .required = 0, .step = 9, .validate = log_level},
	{.key = "driver_plugins", .required = 0, .step = 6, .validate = cfg_driver_plugins},
	{.key = "people", .required = 0, .step = 10, .validate = cfg_people},
};
#define NSECTIONS METRO_ARRAY_SIZE(sections)

static int load(struct metro_yfile *f, const char *path, struct metro_diag *diag,
		struct metro_config **out)
{
	size_t before = metro_diag_count(diag);
	struct metro_config *c = metro_calloc(1, sizeof *c);
	c->path = metro_strdup(path);
	c->dir = metro_dirname(path);
	c->due_warning_days = 30;
	c->store_reserve_mb = 64;
	c->log_level = METRO_LOG_INFO;
	c->unauthenticated_role = METRO_ROLE_MANAGER;
	struct loader L = {f, c};
	struct metro_yfield fields[NSECTIONS];
	for (size_t i = 0; i < NSECTIONS; i++)
		fields[i] = (struct metro_yfield){sections[i].key, sections[i].required};
	yaml_node_t *v[NSECTIONS];
	metro_y_map(f, metro_y_root(f), "", fields, NSECTIONS, v);
	for (int step = 0; step < (int)NSECTIONS; step++)
		for (size_t i = 0; i < NSECTIONS; i++)
			if (sections[i].step == step && v[i])
				sections[i].validate(&L, v[i]);
	if (metro_diag_count(diag) != before) {
		metro_config_destroy(&c);
		return METRO_E_INVAL;
	}
	*out = c;
	return METRO_OK;
}

int metro_config_load(const char *path, struct metro_diag *diag, struct metro_config **out)
{
	struct metro_yfile *f;
	*out = NULL;
	int err = metro_yfile_load(path, diag, &f);
	if (err)
		return METRO_E_INVAL;
	err = load(f, path, diag, out);
	metro_yfile_destroy(&f);
	return err;
}

int metro_config_load_buffer(const char *name, const unsigned char *buf, size_t len,
			     struct metro_diag *diag, struct metro_config **out)
{
	struct metro_yfile *f;
	*out = NULL;
	int err = metro_yfile_load_buffer(name, buf, len, diag, &f);
	if (err)
		return METRO_E_INVAL;
	err = load(f, name, diag, out);
	metro_yfile_destroy(&f);
	return err;
}

int cfg_parse_entry(const char *name, const char *text, size_t len, const char *where,
		    struct metro_diag *diag,
		    void (*entry)(struct loader *L, yaml_node_t *n, const char *where, void *out),
		    void *out)
{
	struct metro_yfile *f;
	size_t before = metro_diag_count(diag);
	if (metro_yfile_load_buffer(name, (const unsigned char *)text, len, diag, &f))
		return METRO_E_INVAL;
	struct loader L = {f, NULL};
	entry(&L, metro_y_root(f), where, out);
	metro_yfile_destroy(&f);
	return metro_diag_count(diag) != before ? METRO_E_INVAL : METRO_OK;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void metro_config_destroy(struct metro_config **pc)
{
	struct metro_config *c = *pc;
	if (!c)
		return;
	free(c->path);
	free(c->dir);
	free(c->station.id);
	free(c->station.name);
	free(c->station.institution);
	free(c->station.authorisation);
	free(c->station.address);
	free(c->station.phone);
	free(c->station.postcode);
	free(c->control_endpoint);
	free(c->publish_endpoint);
	for (size_t i = 0; i < c->control_curve.nclients; i++)
		free(c->control_curve.clients[i].name);
	free(c->control_curve.clients);
	for (size_t i = 0; i < c->publish_curve.nclients; i++)
		free(c->publish_curve.clients[i].name);
	free(c->publish_curve.clients);
	free(c->store_path);
	free_strv(c->procedure_dirs, c->nprocedure_dirs);
	free_strv(c->driver_plugins, c->ndriver_plugins);
	for (size_t i = 0; i < c->nprocedures; i++)
		metro_procedure_destroy(&c->procedures[i]);
	free(c->procedures);
	for (size_t i = 0; i < c->npeople; i++)
		metro_person_free(&c->people[i]);
	free(c->people);
	for (size_t i = 0; i < c->nstandards; i++)
		metro_standard_conf_free(&c->standards[i]);
	free(c->standards);
	for (size_t i = 0; i < c->nrigs; i++) {
		struct metro_rig_conf *r = &c->rigs[i];
		free(r->id);
		free(r->driver);
		free(r->conn.host);
		free(r->conn.device);
		free(r->profile);
		metro_profile_destroy(&r->profile_data);
		free_strv(r->standards, r->nstandards);
	}
	free(c->rigs);
	free(c);
	*pc = NULL;
}

const struct metro_rig_conf *metro_config_rig(const struct metro_config *c, const char *id)
{
	for (size_t i = 0; i < c->nrigs; i++)
		if (c->rigs[i].id && !strcmp(c->rigs[i].id, id))
			return &c->rigs[i];
	return NULL;
}

const struct metro_standard_conf *metro_config_standard(const struct metro_config *c,
							const char *id)
{
	for (size_t i = 0; i < c->nstandards; i++)
		if (c->standards[i].id && !strcmp(c->standards[i].id, id))
			return &c->standards[i];
	return NULL;
}

const struct metro_procedure *metro_config_procedure(const struct metro_config *c, const char *id)
{
	for (size_t i = 0; i < c->nprocedures; i++)
		if (!strcmp(c->procedures[i]->id, id))
			return c->procedures[i];
	return NULL;
}

static int streq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int metro_rig_conf_differs(const struct metro_rig_conf *a, const struct metro_rig_conf *b)
{
	if (!streq(a->id, b->id) || a->kind != b->kind || !streq(a->driver, b->driver) ||
	    !streq(a->profile, b->profile) || !a->profile_data != !b->profile_data ||
	    (a->profile_data && strcmp(a->profile_data->sha256, b->profile_data->sha256) != 0) ||
	    a->positions != b->positions || a->sample_hz != b->sample_hz ||
	    a->simulated != b->simulated || a->time_scale != b->time_scale ||
	    a->nstandards != b->nstandards)
		return 1;
	const struct metro_connection_conf *x = &a->conn, *y = &b->conn;
	if (!streq(x->host, y->host) || x->port != y->port || !streq(x->device, y->device) ||
	    x->baud != y->baud || x->parity != y->parity || x->data_bits != y->data_bits ||
	    x->stop_bits != y->stop_bits || x->unit != y->unit || x->timeout_ms != y->timeout_ms ||
	    x->retries != y->retries)
		return 1;
	for (size_t i = 0; i < a->nstandards; i++)
		if (strcmp(a->standards[i], b->standards[i]) != 0)
			return 1;
	return 0;
}

static char *dup_or_null(const char *s)
{
	return s ? metro_strdup(s) : NULL;
}

struct metro_rig_conf *metro_rig_conf_dup(const struct metro_rig_conf *r)
{
	struct metro_rig_conf *d = metro_malloc(sizeof *d);
	*d = *r;
	d->id = dup_or_null(r->id);
	d->driver = dup_or_null(r->driver);
	d->profile = dup_or_null(r->profile);
	d->conn.host = dup_or_null(r->conn.host);
	d->conn.device = dup_or_null(r->conn.device);
	d->profile_data = metro_profile_ref(r->profile_data);
	d->standards = metro_calloc(r->nstandards, sizeof(char *));
	for (size_t i = 0; i < r->nstandards; i++)
		d->standards[i] = metro_strdup(r->standards[i]);
	return d;
}

void metro_rig_conf_free(struct metro_rig_conf **pr)
{
	struct metro_rig_conf *r = *pr;
	if (!r)
		return;
	free(r->id);
	free(r->driver);
	free(r->conn.host);
	free(r->conn.device);
	free(r->profile);
	metro_profile_destroy(&r->profile_data);
	free_strv(r->standards, r->nstandards);
	free(r);
	*pr = NULL;
}

int metro_config_sync_store(const struct metro_config *c, struct metro_store *s)
{
	struct metro_store_rig *rigs = metro_calloc(c->nrigs ? c->nrigs : 1, sizeof *rigs);
	for (size_t i = 0; i < c->nrigs; i++) {
		const struct metro_rig_conf *r = &c->rigs[i];
		rigs[i] = (struct metro_store_rig){r->id,	 r->kind,      r->driver,
						   r->positions, r->standards, r->nstandards,
						   r->simulated};
	}
	struct metro_store_registry reg = {
		.station = {c->station.id, c->station.name, c->station.institution,
			    c->station.authorisation, c->station.address, c->station.phone,
			    c->station.postcode},
		.standards = c->standards,
		.nstandards = c->nstandards,
		.rigs = rigs,
		.nrigs = c->nrigs,
	};
	int err = metro_store_sync_registry(s, &reg);
	free(rigs);
	if (!err)
		err = metro_store_sync_people(s, c->people, c->npeople);
	return err;
}
