/* config_rigs.c — the `driver_plugins` and `rigs` sections: plugin drivers are loaded first,
 * then each rig is checked against the drivers, its connection against its driver's transport,
 * its profile (loaded and validated for its number of positions) against its kind and driver,
 * and its standards against the `standards` section.  docs/configuration.md describes the keys.
 */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "driver.h"
#include "error.h"
#include "util.h"

/* Which connection keys a driver takes: TCP drivers a host and port, serial ones a device.
 * Drivers are known by the registry (drivers/registry.c), plugins included; a driver whose name
 * ends in "-tcp" is a TCP driver, every other one a serial driver (documented for plugins). */
enum transport { T_TCP, T_SERIAL };

static const struct metro_yfield rig_fields[] = {
	{"id", 1},	  {"kind", 1},	    {"driver", 1},    {"connection", 1}, {"profile", 1},
	{"positions", 1}, {"standards", 1}, {"sample_hz", 0}, {"simulated", 0},	 {"time_scale", 0},
};
enum {
	RIG_ID,
	RIG_KIND,
	RIG_DRIVER,
	RIG_CONN,
	RIG_PROFILE,
	RIG_POSITIONS,
	RIG_STANDARDS,
	RIG_SAMPLE_HZ,
	RIG_SIMULATED,
	RIG_SCALE,
	RIG_NFIELDS
};

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Driver plugins are loaded while the file is validated, so that rigs can name their drivers;
 * a plugin that loads stays registered even if the rest of the file is refused (it is then
 * simply unused). */
void cfg_driver_plugins(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "driver_plugins");
	struct metro_config *c = L->c;
	if (len > 0)
		c->driver_plugins = metro_calloc((size_t)len, sizeof(char *));
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		struct metro_ypath name = metro_yindex("driver_plugins", i);
		char *p = NULL, why[300];
		if (metro_y_str(L->f, item, name.s, 4096, &p))
			continue;
		char *full = cfg_resolve(L, p);
		free(p);
		if (metro_driver_load_plugin(full, why, sizeof why))
			metro_y_error(L->f, item, "%s: '%s': %s", name.s, full, why);
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
	metro_y_map(L->f, n, where, fields, METRO_ARRAY_SIZE(fields), v);
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
					      metro_ykey(where, fields[k].key).s);
		if (!v[HOST] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a TCP driver needs 'host'", where);
		if (!v[PORT] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a TCP driver needs 'port'", where);
		if (v[HOST])
			metro_y_str(L->f, v[HOST], metro_ykey(where, "host").s, 255, &cc->host);
		if (v[PORT])
			metro_y_long(L->f, v[PORT], metro_ykey(where, "port").s, 1, 65535,
				     &cc->port);
	} else if (transport == T_SERIAL) {
		for (int k = HOST; k <= PORT; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: not used by a serial driver",
					      metro_ykey(where, fields[k].key).s);
		if (!v[DEVICE] && n && n->type == YAML_MAPPING_NODE)
			metro_y_error(L->f, n, "%s: a serial driver needs 'device'", where);
		char *dev = NULL;
		if (v[DEVICE] &&
		    !metro_y_str(L->f, v[DEVICE], metro_ykey(where, "device").s, 4096, &dev)) {
			/* Like every path in the file, relative to the file's directory. */
			cc->device = cfg_resolve(L, dev);
			free(dev);
		}
		if (v[BAUD]) {
			static const long rates[] = {1200,  2400,  4800,   9600,  19200,
						     38400, 57600, 115200, 230400};
			if (!metro_y_long(L->f, v[BAUD], metro_ykey(where, "baud").s, 1, 4000000,
					  &cc->baud)) {
				size_t r;
				for (r = 0; r < METRO_ARRAY_SIZE(rates); r++)
					if (rates[r] == cc->baud)
						break;
				if (r == METRO_ARRAY_SIZE(rates))
					metro_y_error(L->f, v[BAUD],
						      "%s: %ld is not a standard rate (1200 ... "
						      "230400)",
						      metro_ykey(where, "baud").s, cc->baud);
			}
		}
		if (v[PARITY]) {
			static const char *const par[] = {"none", "even", "odd"};
			int p;
			if (!metro_y_enum(L->f, v[PARITY], metro_ykey(where, "parity").s, par, 3,
					  &p))
				cc->parity = "NEO"[p];
		}
		if (v[DATA_BITS])
			metro_y_long(L->f, v[DATA_BITS], metro_ykey(where, "data_bits").s, 7, 8,
				     &cc->data_bits);
		if (v[STOP_BITS])
			metro_y_long(L->f, v[STOP_BITS], metro_ykey(where, "stop_bits").s, 1, 2,
				     &cc->stop_bits);
	}
	if (v[UNIT])
		metro_y_long(L->f, v[UNIT], metro_ykey(where, "unit").s, 0, 247, &cc->unit);
	if (v[TIMEOUT])
		metro_y_long(L->f, v[TIMEOUT], metro_ykey(where, "timeout_ms").s, 10, 60000,
			     &cc->timeout_ms);
	if (v[RETRIES])
		metro_y_long(L->f, v[RETRIES], metro_ykey(where, "retries").s, 0, 10, &cc->retries);
}

/* The driver a rig names: known to the registry (plugins loaded above); *transport says
 * which connection keys it takes.  Returns the driver or NULL. */
static const struct metro_driver *rig_driver(struct loader *L, yaml_node_t *n, const char *where,
					     struct metro_rig_conf *r, int *transport)
{
	struct metro_ypath name = metro_ykey(where, "driver");
	if (metro_y_str(L->f, n, name.s, 64, &r->driver))
		return NULL;
	const struct metro_driver *drv = metro_driver_find(r->driver);
	if (drv) {
		size_t len = strlen(r->driver);
		*transport = len > 4 && !strcmp(r->driver + len - 4, "-tcp") ? T_TCP : T_SERIAL;
	} else {
		char names[256];
		metro_driver_names(names, sizeof names);
		metro_y_error(L->f, n, "%s: unknown driver '%s' (known: %s)", name.s, r->driver,
			      names);
	}
	return drv;
}

/* The rig's profile: loaded and validated for the rig's positions, then checked against the
 * rig's kind and its driver's transport.  v is the rig's values (RIG_*). */
static void rig_profile(struct loader *L, yaml_node_t *const *v, const char *where,
			const struct metro_driver *drv, struct metro_rig_conf *r)
{
	struct metro_ypath name = metro_ykey(where, "profile");
	char *p = NULL;
	if (v[RIG_PROFILE] && !metro_y_str(L->f, v[RIG_PROFILE], name.s, 4096, &p)) {
		r->profile = cfg_resolve(L, p);
		free(p);
		if (!is_file(r->profile)) {
			metro_y_error(L->f, v[RIG_PROFILE], "%s: profile file '%s' does not exist",
				      name.s, r->profile);
		} else if (r->positions > 0) {
			/* The profile's own problems are reported at their own FILE:LINE:COL,
			 * with one line here saying which rig uses it. */
			size_t before = metro_diag_count(L->f->diag);
			metro_profile_load(r->profile, (int)r->positions, L->f->diag,
					   &r->profile_data);
			if (metro_diag_count(L->f->diag) != before)
				metro_y_error(L->f, v[RIG_PROFILE], "%s: profile '%s' is not valid",
					      name.s, r->profile);
		}
	}
	if (r->profile_data && v[RIG_KIND] &&
	    strcmp(r->profile_data->kind, metro_rig_kind_name(r->kind)) != 0)
		metro_y_error(L->f, v[RIG_PROFILE], "%s: profile is for a %s, the rig is a %s",
			      name.s, r->profile_data->kind, metro_rig_kind_name(r->kind));
	if (r->profile_data && drv) {
		const char *want = r->profile_data->transport == METRO_TRANSPORT_MODBUS
					   ? "modbus"
					   : "serial-line";
		if (strcmp(drv->transport, want) != 0)
			metro_y_error(L->f, v[RIG_DRIVER],
				      "%s: driver '%s' speaks %s, the profile is for %s",
				      metro_ykey(where, "driver").s, r->driver, drv->transport,
				      want);
	}
}

/* The reference standards a rig uses: at least one, each defined in `standards`, none twice. */
static void rig_standards(struct loader *L, yaml_node_t *n, const char *where,
			  struct metro_rig_conf *r)
{
	struct metro_ypath name = metro_ykey(where, "standards");
	int len = metro_y_seq(L->f, n, name.s);
	if (len == 0)
		metro_y_error(L->f, n, "%s: a rig needs at least one reference standard", name.s);
	if (len > 0)
		r->standards = metro_calloc((size_t)len, sizeof(char *));
	for (int s = 0; s < len; s++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, s);
		struct metro_ypath sname = metro_yindex(name.s, s);
		char *id = NULL;
		if (metro_y_ident(L->f, item, sname.s, &id))
			continue;
		if (L->c->standards && !metro_config_standard(L->c, id))
			metro_y_error(L->f, item, "%s: no standard with id '%s'", sname.s, id);
		for (size_t t = 0; t < r->nstandards; t++)
			if (!strcmp(r->standards[t], id))
				metro_y_error(L->f, item, "%s: standard '%s' listed twice", sname.s,
					      id);
		r->standards[r->nstandards++] = id;
	}
}

static void rig(struct loader *L, yaml_node_t *n, const char *where, struct metro_rig_conf *r)
{
	yaml_node_t *v[RIG_NFIELDS];
	metro_y_map(L->f, n, where, rig_fields, RIG_NFIELDS, v);
	if (v[RIG_ID])
		metro_y_ident(L->f, v[RIG_ID], metro_ykey(where, "id").s, &r->id);
	if (v[RIG_KIND]) {
		int k;
		if (!metro_y_enum(L->f, v[RIG_KIND], metro_ykey(where, "kind").s,
				  metro_rig_kind_names, METRO_RIG_KINDS, &k))
			r->kind = (enum metro_rig_kind)k;
	}
	int transport = -1;
	const struct metro_driver *drv = NULL;
	if (v[RIG_DRIVER])
		drv = rig_driver(L, v[RIG_DRIVER], where, r, &transport);
	if (v[RIG_CONN])
		connection(L, v[RIG_CONN], metro_ykey(where, "connection").s, transport, &r->conn);
	if (v[RIG_POSITIONS])
		metro_y_long(L->f, v[RIG_POSITIONS], metro_ykey(where, "positions").s, 1, 256,
			     &r->positions);
	rig_profile(L, v, where, drv, r);
	r->sample_hz = 10;
	if (v[RIG_SAMPLE_HZ])
		metro_y_double(L->f, v[RIG_SAMPLE_HZ], metro_ykey(where, "sample_hz").s, 0.1, 1000,
			       &r->sample_hz);
	if (v[RIG_SIMULATED])
		metro_y_bool(L->f, v[RIG_SIMULATED], metro_ykey(where, "simulated").s,
			     &r->simulated);
	r->time_scale = 1;
	if (v[RIG_SCALE] &&
	    !metro_y_double(L->f, v[RIG_SCALE], metro_ykey(where, "time_scale").s, 0.01, 10000,
			    &r->time_scale) &&
	    r->time_scale != 1 && !r->simulated)
		metro_y_error(L->f, v[RIG_SCALE],
			      "%s: only a simulated rig (simulated: true) runs on scaled time",
			      metro_ykey(where, "time_scale").s);
	if (v[RIG_STANDARDS])
		rig_standards(L, v[RIG_STANDARDS], where, r);
}
void cfg_rigs(struct loader *L, yaml_node_t *n)
{
	int len = metro_y_seq(L->f, n, "rigs");
	if (len < 0)
		return;
	struct metro_config *c = L->c;
	c->rigs = metro_calloc((size_t)len, sizeof *c->rigs);
	c->nrigs = (size_t)len;
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = metro_y_seq_at(L->f, n, i);
		rig(L, item, metro_yindex("rigs", i).s, &c->rigs[i]);
		for (int j = 0; j < i && c->rigs[i].id; j++) {
			if (c->rigs[j].id && !strcmp(c->rigs[j].id, c->rigs[i].id)) {
				metro_y_error(L->f, item, "rigs[%d].id: duplicate rig id '%s'", i,
					      c->rigs[i].id);
				break;
			}
		}
	}
}
