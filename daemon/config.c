#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "driver.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "util.h"

/* Which connection keys a driver takes: TCP drivers a host and port, serial ones a device.
 * Drivers are known by the registry (drivers/registry.c), plugins included; a driver whose name
 * ends in "-tcp" is a TCP driver, every other one a serial driver (documented for plugins). */
enum transport { T_TCP, T_SERIAL };

static const char *const log_levels[] = {"err", "warning", "notice", "info", "debug"};

/* Loader state: the file being read, the configuration being built, and the directory that
 * relative paths are resolved against. */
struct loader {
	struct metro_yfile *f;
	struct metro_config *c;
};

static char *resolve(struct loader *L, const char *p)
{
	return metro_path_join(L->c->dir, p);
}

int metro_endpoint_check(const char *ep, const char **why)
{
	if (!strncmp(ep, "ipc://", 6)) {
		if (!ep[6]) {
			*why = "ipc:// needs a path";
			return METRO_E_INVAL;
		}
		return METRO_OK;
	}
	if (strncmp(ep, "tcp://", 6) != 0) {
		*why = "must be tcp://HOST:PORT or ipc://PATH";
		return METRO_E_INVAL;
	}
	const char *hp = ep + 6;
	const char *colon = strrchr(hp, ':');
	if (!colon || colon == hp) {
		*why = "tcp:// endpoint needs HOST:PORT";
		return METRO_E_INVAL;
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535) {
		*why = "port must be a number from 1 to 65535";
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

static const char *const role_names[] = {"observer", "operator", "manager"};

const char *metro_role_name(enum metro_role r)
{
	return (unsigned)r < 3 ? role_names[r] : "?";
}

/* A Z85 CURVE key: 40 characters of the Z85 alphabet. */
static int z85_key(const char *s)
{
	static const char alphabet[] =
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		".-:+=^!/*?&<>()[]{}@%$#";
	if (strlen(s) != 40)
		return 0;
	for (const char *p = s; *p; p++)
		if (!strchr(alphabet, *p))
			return 0;
	return 1;
}

/* A key file (YAML): `public: Z85` and, for a secret key file, `secret: Z85` (mode 0600);
 * an allowlist entry also has `role:`.  Problems are reported at the key file's position. */
static int key_file(struct loader *L, yaml_node_t *at, const char *name, const char *path,
		    int secret, char pub[41], char sec[41], enum metro_role *role)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		metro_y_error(L->f, at, "%s: key file '%s' does not exist", name, path);
		return -1;
	}
	if (secret && (st.st_mode & 077)) {
		metro_y_error(L->f, at,
			      "%s: secret key file '%s' is readable by others (chmod 600)", name,
			      path);
		return -1;
	}
	struct metro_yfile *kf;
	if (metro_yfile_load(path, L->f->diag, &kf))
		return -1;
	static const struct metro_yfield kfields[] = {{"public", 1}, {"secret", 0}, {"role", 0}};
	yaml_node_t *v[3];
	int bad = metro_y_map(kf, metro_y_root(kf), "", kfields, 3, v) != 0;
	char *text = NULL;
	if (v[0] && !metro_y_str(kf, v[0], "public", 64, &text)) {
		if (!z85_key(text)) {
			metro_y_error(kf, v[0], "public: not a Z85 CURVE key (40 characters)");
			bad = 1;
		} else {
			metro_strlcpy(pub, text, 41);
		}
	}
	free(text);
	text = NULL;
	if (secret && !v[1]) {
		metro_y_error(kf, metro_y_root(kf), "missing required key 'secret'");
		bad = 1;
	} else if (!secret && v[1]) {
		metro_y_error(kf, v[1],
			      "secret: a client allowlist entry must not hold a secret key");
		bad = 1;
	} else if (v[1] && !metro_y_str(kf, v[1], "secret", 64, &text)) {
		if (!z85_key(text)) {
			metro_y_error(kf, v[1], "secret: not a Z85 CURVE key (40 characters)");
			bad = 1;
		} else {
			metro_strlcpy(sec, text, 41);
		}
	}
	free(text);
	if (role) {
		int r;
		if (!v[2]) {
			metro_y_error(kf, metro_y_root(kf), "missing required key 'role'");
			bad = 1;
		} else if (!metro_y_enum(kf, v[2], "role", role_names, 3, &r)) {
			*role = (enum metro_role)r;
		} else {
			bad = 1;
		}
	}
	metro_yfile_destroy(&kf);
	return bad ? -1 : 0;
}

static void curve(struct loader *L, yaml_node_t *n, const char *where, struct metro_curve_conf *cc)
{
	static const struct metro_yfield fields[] = {{"secret_key", 1}, {"clients", 1}};
	yaml_node_t *v[2];
	char name[96], *p = NULL;
	metro_y_map(L->f, n, where, fields, 2, v);
	snprintf(name, sizeof name, "%s.secret_key", where);
	if (v[0] && !metro_y_str(L->f, v[0], name, 4096, &p)) {
		char *path = resolve(L, p);
		if (!key_file(L, v[0], name, path, 1, cc->public_z85, cc->secret_z85, NULL))
			cc->enabled = 1;
		free(path);
	}
	free(p);
	p = NULL;
	snprintf(name, sizeof name, "%s.clients", where);
	if (v[1] && !metro_y_str(L->f, v[1], name, 4096, &p)) {
		char *dir = resolve(L, p);
		DIR *d = opendir(dir);
		if (!d) {
			metro_y_error(L->f, v[1], "%s: directory '%s' does not exist", name, dir);
			cc->enabled = 0;
		} else {
			struct dirent *e;
			while ((e = readdir(d))) {
				size_t len = strlen(e->d_name);
				if (e->d_name[0] == '.' || len < 5 ||
				    strcmp(e->d_name + len - 4, ".pub") != 0)
					continue;
				char *kp = metro_path_join(dir, e->d_name);
				struct metro_curve_client c = {0};
				if (!key_file(L, v[1], name, kp, 0, c.public_z85, NULL, &c.role)) {
					c.name = metro_strndup(e->d_name, len - 4);
					cc->clients = metro_realloc(cc->clients,
								    (cc->nclients + 1) * sizeof c);
					cc->clients[cc->nclients++] = c;
				}
				free(kp);
			}
			closedir(d);
		}
		free(dir);
	}
	free(p);
}

/* Loopback (or a Unix socket) is the only place an endpoint may live without CURVE. */
static int loopback(const char *ep)
{
	if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
		return 1;
	const char *h = ep + 6;
	return !strncmp(h, "127.", 4) || !strncmp(h, "localhost:", 10) || !strncmp(h, "[::1]:", 6);
}

static void endpoint(struct loader *L, yaml_node_t *n, const char *where, char **out,
		     struct metro_curve_conf *cc)
{
	static const struct metro_yfield fields[] = {{"endpoint", 1}, {"curve", 0}};
	yaml_node_t *v[2];
	metro_y_map(L->f, n, where, fields, 2, v);
	char name[64];
	snprintf(name, sizeof name, "%s.curve", where);
	if (v[1])
		curve(L, v[1], name, cc);
	if (!v[0])
		return;
	snprintf(name, sizeof name, "%s.endpoint", where);
	char *ep = NULL;
	if (metro_y_str(L->f, v[0], name, 256, &ep))
		return;
	const char *why;
	if (metro_endpoint_check(ep, &why)) {
		metro_y_error(L->f, v[0], "%s: '%s': %s", name, ep, why);
		free(ep);
		return;
	}
	if (!loopback(ep) && !v[1]) {
		metro_y_error(L->f, v[0],
			      "%s: '%s' is not a loopback address: it needs a `curve:` section "
			      "(CURVE encryption and client keys)",
			      name, ep);
		free(ep);
		return;
	}
	*out = ep;
}

static void station(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {
		{"id", 1}, {"name", 1}, {"institution", 1}, {"authorisation", 1}, {"address", 0},
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
}

static void store(struct loader *L, yaml_node_t *n)
{
	static const struct metro_yfield fields[] = {{"path", 1}};
	yaml_node_t *v[1];
	metro_y_map(L->f, n, "store", fields, 1, v);
	char *p = NULL;
	if (v[0] && !metro_y_str(L->f, v[0], "store.path", 4096, &p)) {
		L->c->store_path = resolve(L, p);
		free(p);
	}
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
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
		char name[48], *p = NULL;
		snprintf(name, sizeof name, "procedures[%d]", i);
		if (metro_y_str(L->f, item, name, 4096, &p))
			continue;
		char *full = resolve(L, p);
		if (!is_dir(full)) {
			metro_y_error(L->f, item, "%s: directory '%s' does not exist", name, full);
			free(full);
		} else {
			L->c->procedure_dirs[L->c->nprocedure_dirs++] = full;
			load_procedures(L, item, name, full);
		}
		free(p);
	}
}

/* One reference standard; where names it in messages ("standards[2]", "standard"). */
static void standard(struct loader *L, yaml_node_t *n, const char *where,
		     struct metro_standard_conf *s)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},     {"description", 1}, {"serial", 0}, {"certificate", 1},
		{"issuer", 1}, {"calibrated", 1},  {"due", 1},	  {"uncertainty", 0},
		{"class", 0},  {"assessment", 0},
	};
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	char name[96];
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
	s->line = metro_y_line(n);
#define KEY(k) (snprintf(name, sizeof name, "%s.%s", where, k), name)
	if (v[0])
		metro_y_ident(L->f, v[0], KEY("id"), &s->id);
	if (v[1])
		metro_y_str(L->f, v[1], KEY("description"), 200, &s->description);
	if (v[2])
		metro_y_str(L->f, v[2], KEY("serial"), 100, &s->serial);
	if (v[3])
		metro_y_str(L->f, v[3], KEY("certificate"), 100, &s->certificate);
	if (v[4])
		metro_y_str(L->f, v[4], KEY("issuer"), 200, &s->issuer);
	int have_cal = v[5] && !metro_y_date(L->f, v[5], KEY("calibrated"), &s->calibrated);
	int have_due = v[6] && !metro_y_date(L->f, v[6], KEY("due"), &s->due);
	if (have_cal && have_due && metro_date_cmp(&s->calibrated, &s->due) >= 0)
		metro_y_error(L->f, v[6], "%s: due date is not after the calibration date",
			      KEY("due"));
	if (v[7] && v[8]) {
		metro_y_error(L->f, v[8], "%s: give either uncertainty or class, not both",
			      KEY("class"));
	} else if (!v[7] && !v[8]) {
		metro_y_error(L->f, n, "%s: an uncertainty or an accuracy class is required",
			      where);
	} else if (v[7]) {
		static const struct metro_yfield uf[] = {{"value", 1}, {"k", 1}};
		yaml_node_t *u[2];
		metro_y_map(L->f, v[7], KEY("uncertainty"), uf, 2, u);
		if (u[0])
			metro_y_double(L->f, u[0], KEY("uncertainty.value"), 1e-9, 100,
				       &s->uncertainty_pct);
		if (u[1])
			metro_y_double(L->f, u[1], KEY("uncertainty.k"), 1, 4, &s->k);
	} else {
		metro_y_str(L->f, v[8], KEY("class"), 16, &s->accuracy_class);
	}
	if (v[9]) {
		static const struct metro_yfield af[] = {{"certificate", 1}, {"due", 1}};
		yaml_node_t *a[2];
		metro_y_map(L->f, v[9], KEY("assessment"), af, 2, a);
		if (a[0])
			metro_y_str(L->f, a[0], KEY("assessment.certificate"), 100,
				    &s->assessment_certificate);
		if (a[1])
			metro_y_date(L->f, a[1], KEY("assessment.due"), &s->assessment_due);
	}
#undef KEY
}

static void standards(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "standards");
	if (len < 0)
		return;
	struct metro_config *c = L->c;
	c->standards = metro_calloc((size_t)len, sizeof *c->standards);
	c->nstandards = (size_t)len;
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		char where[48];
		snprintf(where, sizeof where, "standards[%d]", i);
		standard(L, item, where, &c->standards[i]);
		for (int j = 0; j < i && c->standards[i].id; j++) {
			if (c->standards[j].id && !strcmp(c->standards[j].id, c->standards[i].id)) {
				metro_y_error(L->f, item,
					      "standards[%d].id: duplicate standard id '%s' (first "
					      "defined at line %u)",
					      i, c->standards[i].id, c->standards[j].line);
				break;
			}
		}
	}
}

/* Driver plugins are loaded while the file is validated, so that rigs can name their drivers;
 * a plugin that loads stays registered even if the rest of the file is refused (it is then
 * simply unused). */
static void plugins(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "driver_plugins");
	struct metro_config *c = L->c;
	if (len > 0)
		c->driver_plugins = metro_calloc((size_t)len, sizeof(char *));
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		char name[48], *p = NULL, why[300];
		snprintf(name, sizeof name, "driver_plugins[%d]", i);
		if (metro_y_str(L->f, item, name, 4096, &p))
			continue;
		char *full = resolve(L, p);
		free(p);
		if (metro_driver_load_plugin(full, why, sizeof why))
			metro_y_error(L->f, item, "%s: '%s': %s", name, full, why);
		c->driver_plugins[c->ndriver_plugins++] = full;
	}
}

static void connection(struct loader *L, yaml_node_t *n, const char *where, int transport,
		       struct metro_connection_conf *cc)
{
	static const struct metro_yfield fields[] = {
		{"host", 0},	   {"port", 0},	     {"device", 0},    {"baud", 0},
		{"parity", 0},	   {"data_bits", 0}, {"stop_bits", 0}, {"unit", 0},
		{"timeout_ms", 0}, {"retries", 0},
	};
	enum { HOST, PORT, DEVICE, BAUD, PARITY, DATA_BITS, STOP_BITS, UNIT, TIMEOUT, RETRIES };
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	char name[96];
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
#define KEY(k) (snprintf(name, sizeof name, "%s.%s", where, k), name)
	cc->unit = 1;
	cc->timeout_ms = 500;
	cc->retries = 2;
	cc->baud = 9600;
	cc->parity = 'N';
	cc->data_bits = 8;
	cc->stop_bits = 1;
	if (transport == T_TCP) {
		for (int k = DEVICE; k <= STOP_BITS; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: not used by a TCP driver",
					      KEY(fields[k].key));
		if (!v[HOST] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a TCP driver needs 'host'", where);
		if (!v[PORT] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a TCP driver needs 'port'", where);
		if (v[HOST])
			metro_y_str(L->f, v[HOST], KEY("host"), 255, &cc->host);
		if (v[PORT])
			metro_y_long(L->f, v[PORT], KEY("port"), 1, 65535, &cc->port);
	} else if (transport == T_SERIAL) {
		for (int k = HOST; k <= PORT; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: not used by a serial driver",
					      KEY(fields[k].key));
		if (!v[DEVICE] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a serial driver needs 'device'", where);
		char *dev = NULL;
		if (v[DEVICE] && !metro_y_str(L->f, v[DEVICE], KEY("device"), 4096, &dev)) {
			/* Like every path in the file, relative to the file's directory. */
			cc->device = resolve(L, dev);
			free(dev);
		}
		if (v[BAUD]) {
			static const long rates[] = {1200,  2400,  4800,   9600,  19200,
						     38400, 57600, 115200, 230400};
			if (!metro_y_long(L->f, v[BAUD], KEY("baud"), 1, 4000000, &cc->baud)) {
				size_t r;
				for (r = 0; r < METRO_ARRAY_SIZE(rates); r++)
					if (rates[r] == cc->baud)
						break;
				if (r == METRO_ARRAY_SIZE(rates))
					metro_y_error(L->f, v[BAUD],
						      "%s: %ld is not a standard rate (1200 ... "
						      "230400)",
						      KEY("baud"), cc->baud);
			}
		}
		if (v[PARITY]) {
			static const char *const par[] = {"none", "even", "odd"};
			int p;
			if (!metro_y_enum(L->f, v[PARITY], KEY("parity"), par, 3, &p))
				cc->parity = "NEO"[p];
		}
		if (v[DATA_BITS])
			metro_y_long(L->f, v[DATA_BITS], KEY("data_bits"), 7, 8, &cc->data_bits);
		if (v[STOP_BITS])
			metro_y_long(L->f, v[STOP_BITS], KEY("stop_bits"), 1, 2, &cc->stop_bits);
	}
	if (v[UNIT])
		metro_y_long(L->f, v[UNIT], KEY("unit"), 0, 247, &cc->unit);
	if (v[TIMEOUT])
		metro_y_long(L->f, v[TIMEOUT], KEY("timeout_ms"), 10, 60000, &cc->timeout_ms);
	if (v[RETRIES])
		metro_y_long(L->f, v[RETRIES], KEY("retries"), 0, 10, &cc->retries);
#undef KEY
}

static void rig(struct loader *L, yaml_node_t *n, int i, struct metro_rig_conf *r)
{
	static const struct metro_yfield fields[] = {
		{"id", 1},	  {"kind", 1},	     {"driver", 1},    {"connection", 1},
		{"profile", 1},	  {"positions", 1},  {"standards", 1}, {"sample_hz", 0},
		{"simulated", 0}, {"time_scale", 0},
	};
	enum { ID, KIND, DRIVER, CONN, PROFILE, POSITIONS, STANDARDS, SAMPLE_HZ, SIMULATED, SCALE };
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	char where[48], name[96];
	snprintf(where, sizeof where, "rigs[%d]", i);
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
#define KEY(k) (snprintf(name, sizeof name, "%s.%s", where, k), name)
	if (v[ID])
		metro_y_ident(L->f, v[ID], KEY("id"), &r->id);
	if (v[KIND]) {
		int k;
		if (!metro_y_enum(L->f, v[KIND], KEY("kind"), metro_rig_kind_names, METRO_RIG_KINDS,
				  &k))
			r->kind = (enum metro_rig_kind)k;
	}
	int transport = -1;
	const struct metro_driver *drv = NULL;
	if (v[DRIVER] && !metro_y_str(L->f, v[DRIVER], KEY("driver"), 64, &r->driver)) {
		drv = metro_driver_find(r->driver);
		if (drv) {
			size_t len = strlen(r->driver);
			transport =
				len > 4 && !strcmp(r->driver + len - 4, "-tcp") ? T_TCP : T_SERIAL;
		} else {
			char names[256];
			metro_driver_names(names, sizeof names);
			metro_y_error(L->f, v[DRIVER], "%s: unknown driver '%s' (known: %s)",
				      KEY("driver"), r->driver, names);
		}
	}
	if (v[CONN])
		connection(L, v[CONN], KEY("connection"), transport, &r->conn);
	if (v[POSITIONS])
		metro_y_long(L->f, v[POSITIONS], KEY("positions"), 1, 256, &r->positions);
	char *p = NULL;
	if (v[PROFILE] && !metro_y_str(L->f, v[PROFILE], KEY("profile"), 4096, &p)) {
		r->profile = resolve(L, p);
		free(p);
		if (!is_file(r->profile)) {
			metro_y_error(L->f, v[PROFILE], "%s: profile file '%s' does not exist",
				      KEY("profile"), r->profile);
		} else if (r->positions > 0) {
			/* The profile's own problems are reported at their own FILE:LINE:COL,
			 * with one line here saying which rig uses it. */
			size_t before = metro_diag_count(L->f->diag);
			metro_profile_load(r->profile, (int)r->positions, L->f->diag,
					   &r->profile_data);
			if (metro_diag_count(L->f->diag) != before)
				metro_y_error(L->f, v[PROFILE], "%s: profile '%s' is not valid",
					      KEY("profile"), r->profile);
		}
	}
	if (r->profile_data && v[KIND] &&
	    strcmp(r->profile_data->kind, metro_rig_kind_name(r->kind)) != 0)
		metro_y_error(L->f, v[PROFILE], "%s: profile is for a %s, the rig is a %s",
			      KEY("profile"), r->profile_data->kind, metro_rig_kind_name(r->kind));
	if (r->profile_data && drv) {
		const char *want = r->profile_data->transport == METRO_TRANSPORT_MODBUS
					   ? "modbus"
					   : "serial-line";
		if (strcmp(drv->transport, want) != 0)
			metro_y_error(L->f, v[DRIVER],
				      "%s: driver '%s' speaks %s, the profile is for %s",
				      KEY("driver"), r->driver, drv->transport, want);
	}
	r->sample_hz = 10;
	if (v[SAMPLE_HZ])
		metro_y_double(L->f, v[SAMPLE_HZ], KEY("sample_hz"), 0.1, 1000, &r->sample_hz);
	if (v[SIMULATED])
		metro_y_bool(L->f, v[SIMULATED], KEY("simulated"), &r->simulated);
	r->time_scale = 1;
	if (v[SCALE] &&
	    !metro_y_double(L->f, v[SCALE], KEY("time_scale"), 0.01, 10000, &r->time_scale) &&
	    r->time_scale != 1 && !r->simulated)
		metro_y_error(L->f, v[SCALE],
			      "%s: only a simulated rig (simulated: true) runs on scaled time",
			      KEY("time_scale"));
	if (v[STANDARDS]) {
		int len = metro_y_seq(L->f, v[STANDARDS], KEY("standards"));
		if (len == 0)
			metro_y_error(L->f, v[STANDARDS],
				      "%s: a rig needs at least one reference standard",
				      KEY("standards"));
		if (len > 0)
			r->standards = metro_calloc((size_t)len, sizeof(char *));
		for (int s = 0; s < len; s++) {
			yaml_node_t *item = metro_y_seq_at(L->f, v[STANDARDS], s);
			char sname[112];
			snprintf(sname, sizeof sname, "%s.standards[%d]", where, s);
			char *id = NULL;
			if (metro_y_ident(L->f, item, sname, &id))
				continue;
			if (L->c->standards && !metro_config_standard(L->c, id))
				metro_y_error(L->f, item, "%s: no standard with id '%s'", sname,
					      id);
			for (size_t t = 0; t < r->nstandards; t++)
				if (!strcmp(r->standards[t], id))
					metro_y_error(L->f, item, "%s: standard '%s' listed twice",
						      sname, id);
			r->standards[r->nstandards++] = id;
		}
	}
#undef KEY
}

static void rigs(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "rigs");
	if (len < 0)
		return;
	struct metro_config *c = L->c;
	c->rigs = metro_calloc((size_t)len, sizeof *c->rigs);
	c->nrigs = (size_t)len;
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		rig(L, item, i, &c->rigs[i]);
		for (int j = 0; j < i && c->rigs[i].id; j++) {
			if (c->rigs[j].id && !strcmp(c->rigs[j].id, c->rigs[i].id)) {
				metro_y_error(L->f, item, "rigs[%d].id: duplicate rig id '%s'", i,
					      c->rigs[i].id);
				break;
			}
		}
	}
}

static int load(struct metro_yfile *f, const char *path, struct metro_diag *diag,
		struct metro_config **out)
{
	static const struct metro_yfield fields[] = {
		{"station", 1},	   {"control", 1},	  {"publish", 1}, {"store", 1},
		{"procedures", 1}, {"standards", 1},	  {"rigs", 1},	  {"due_warning_days", 0},
		{"log_level", 0},  {"driver_plugins", 0},
	};
	enum {
		STATION,
		CONTROL,
		PUBLISH,
		STORE,
		PROCS,
		STANDARDS,
		RIGS,
		DUE_WARN,
		LOG_LEVEL,
		PLUGINS
	};
	size_t before = metro_diag_count(diag);
	struct metro_config *c = metro_calloc(1, sizeof *c);
	c->path = metro_strdup(path);
	c->dir = metro_dirname(path);
	c->due_warning_days = 30;
	c->log_level = METRO_LOG_INFO;
	struct loader L = {f, c};
	yaml_node_t *v[METRO_ARRAY_SIZE(fields)];
	metro_y_map(f, metro_y_root(f), "", fields, METRO_ARRAY_SIZE(fields), v);
	if (v[STATION])
		station(&L, v[STATION]);
	if (v[CONTROL])
		endpoint(&L, v[CONTROL], "control", &c->control_endpoint, &c->control_curve);
	if (v[PUBLISH])
		endpoint(&L, v[PUBLISH], "publish", &c->publish_endpoint, &c->publish_curve);
	if (c->control_endpoint && c->publish_endpoint &&
	    !strcmp(c->control_endpoint, c->publish_endpoint))
		metro_y_error(f, v[PUBLISH], "publish.endpoint: same as control.endpoint");
	if (v[STORE])
		store(&L, v[STORE]);
	if (v[PROCS])
		procedures(&L, v[PROCS]);
	if (v[STANDARDS])
		standards(&L, v[STANDARDS]);
	if (v[PLUGINS])
		plugins(&L, v[PLUGINS]);
	if (v[RIGS])
		rigs(&L, v[RIGS]);
	if (v[DUE_WARN])
		metro_y_long(f, v[DUE_WARN], "due_warning_days", 0, 3650, &c->due_warning_days);
	if (v[LOG_LEVEL]) {
		int lv;
		if (!metro_y_enum(f, v[LOG_LEVEL], "log_level", log_levels,
				  METRO_ARRAY_SIZE(log_levels), &lv))
			c->log_level = METRO_LOG_ERR + lv;
	}
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

int metro_standard_conf_parse(const char *name, const char *text, size_t len, const char *where,
			      struct metro_diag *diag, struct metro_standard_conf *out)
{
	struct metro_yfile *f;
	memset(out, 0, sizeof *out);
	size_t before = metro_diag_count(diag);
	if (metro_yfile_load_buffer(name, (const unsigned char *)text, len, diag, &f))
		return METRO_E_INVAL;
	struct loader L = {f, NULL};
	standard(&L, metro_y_root(f), where, out);
	metro_yfile_destroy(&f);
	if (metro_diag_count(diag) != before) {
		metro_standard_conf_free(out);
		return METRO_E_INVAL;
	}
	return METRO_OK;
}

void metro_standard_conf_free(struct metro_standard_conf *s)
{
	free(s->id);
	free(s->description);
	free(s->serial);
	free(s->certificate);
	free(s->issuer);
	free(s->accuracy_class);
	free(s->assessment_certificate);
	memset(s, 0, sizeof *s);
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
			    c->station.authorisation, c->station.address},
		.standards = c->standards,
		.nstandards = c->nstandards,
		.rigs = rigs,
		.nrigs = c->nrigs,
	};
	int err = metro_store_sync_registry(s, &reg);
	free(rigs);
	return err;
}
