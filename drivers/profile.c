#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kinds.h"
#include "lineproto.h"
#include "sha256.h"
#include "util.h"
#include "yfile.h"

static const char *const transports[] = {"modbus", "serial-line"};
static const char *const tables[] = {"holding", "input", "coil", "discrete"};

const char *metro_table_name(enum metro_table t)
{
	return (unsigned)t < METRO_ARRAY_SIZE(tables) ? tables[t] : "?";
}

/* The channels the procedure engine relies on, by rig kind.  `pos` marks a per-position
 * channel, `w` one the engine writes.  docs/drivers.md lists them with their units. */
static const struct required {
	const char *kind;
	const char *name;
	int pos, w;
} required[] = {
	{"flow-bench", "flow.setpoint", 0, 1},
	{"flow-bench", "flow.actual", 0, 0},
	{"flow-bench", "flow.run", 0, 1},
	{"flow-bench", "collect", 0, 1},
	{"flow-bench", "ref.volume", 0, 0},
	{"flow-bench", "water.temp", 0, 0},
	{"flow-bench", "water.pressure", 0, 0},
	{"flow-bench", "volume", 1, 0},
	{"electricity-bench", "source.voltage", 0, 1},
	{"electricity-bench", "source.current", 0, 1},
	{"electricity-bench", "source.phase", 0, 1},
	{"electricity-bench", "source.on", 0, 1},
	{"electricity-bench", "ref.voltage", 0, 0},
	{"electricity-bench", "ref.current", 0, 0},
	{"electricity-bench", "ref.constant", 0, 0},
	{"electricity-bench", "meter_constant", 1, 1},
	{"electricity-bench", "pulses_n", 1, 1},
	{"electricity-bench", "start", 1, 1},
	{"electricity-bench", "ref_pulses", 1, 0},
	{"electricity-bench", "meter_pulses", 1, 0},
	{"electricity-bench", "status", 1, 0},
	{"bell-prover", "flow.setpoint", 0, 1},
	{"bell-prover", "valve", 0, 1},
	{"bell-prover", "bell.volume", 0, 0},
	{"bell-prover", "bell.pressure", 0, 0},
	{"bell-prover", "bell.temp", 0, 0},
	{"bell-prover", "ambient.pressure", 0, 0},
	{"bell-prover", "volume", 1, 0},
	{"bell-prover", "pressure", 1, 0},
	{"bell-prover", "temp", 1, 0},
};

struct loader {
	struct metro_yfile *f;
	struct metro_profile *p;
	size_t cap;
	enum metro_codec_order default_order;
	yaml_node_t *root;
	int transport_ok; /* p->transport was read: the sections that depend on it are checked */
};

static struct metro_channel *add_channel(struct loader *L)
{
	if (L->p->nchannels == L->cap) {
		L->cap = L->cap ? L->cap * 2 : 64;
		L->p->channels = metro_realloc(L->p->channels, L->cap * sizeof *L->p->channels);
	}
	struct metro_channel *c = &L->p->channels[L->p->nchannels];
	memset(c, 0, sizeof *c);
	c->index = (int)L->p->nchannels++;
	return c;
}

/* "pos[N].x" -> base "x"; a plain dotted name -> itself.  Names are 1..64 characters of
 * [a-z0-9_.] so they stay readable in topics and documents. */
static int parse_name(const char *name, int *per_position, const char **base)
{
	*per_position = !strncmp(name, "pos[N].", 7);
	*base = *per_position ? name + 7 : name;
	size_t n = strlen(*base);
	if (n == 0 || n > 64)
		return -1;
	for (const char *s = *base; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.'))
			return -1;
	return (*base)[0] == '.' || (*base)[n - 1] == '.' ? -1 : 0;
}

/* Compile a template to check it, and check how many values it takes or produces. */
static void check_template(struct loader *L, yaml_node_t *at, const char *key, const char *src,
			   enum metro_line_dir dir, size_t want, const char *what)
{
	struct metro_line_tmpl *t = NULL;
	char why[200];
	if (metro_line_compile(src, dir, &t, why, sizeof why)) {
		metro_y_error(L->f, at, "%s: %s", key, why);
		return;
	}
	size_t n = metro_line_nvalues(t);
	if (n != want)
		metro_y_error(L->f, at, "%s: the template has %zu value conversion(s); %s", key, n,
			      what);
	metro_line_destroy(&t);
}

/* A serial-line template pair {command, reply}.  For a per-position channel the command's
 * first conversion is the position number; a write command's last conversion is the value;
 * a read reply yields exactly the value; a write reply yields nothing (it is matched). */
static void template_pair(struct loader *L, yaml_node_t *n, const char *name, int per_pos,
			  int is_write, char **cmd, char **reply)
{
	static const struct metro_yfield f[] = {{"command", 1}, {"reply", 0}};
	yaml_node_t *v[2];
	metro_y_map(L->f, n, name, f, 2, v);
	struct metro_ypath key = metro_ykey(name, "command");
	if (v[0] && !metro_y_str(L->f, v[0], key.s, 200, cmd))
		check_template(
			L, v[0], key.s, *cmd, METRO_LINE_OUT, (size_t)per_pos + (size_t)is_write,
			per_pos ? (is_write ? "a position's write command takes the position "
					      "and the value"
					    : "a position's read command takes the position")
				: (is_write ? "a write command takes the value"
					    : "a read command takes no value"));
	key = metro_ykey(name, "reply");
	if (v[1] && !metro_y_str(L->f, v[1], key.s, 200, reply))
		check_template(L, v[1], key.s, *reply, METRO_LINE_IN, is_write ? 0 : 1,
			       is_write ? "a write reply is matched, it yields no value (use %*f "
					  "to skip a field)"
					: "a read reply yields exactly the value (use %*d to skip "
					  "other fields)");
	else if (!v[1] && !is_write && v[0])
		metro_y_error(L->f, n, "%s: a read needs a reply template", name);
}

static const struct metro_yfield channel_fields[] = {
	{"name", 1},	 {"table", 0},	{"address", 0},	  {"stride", 0}, {"type", 0},
	{"order", 0},	 {"scale", 0},	{"offset", 0},	  {"unit", 0},	 {"writable", 0},
	{"bit", 0},	 {"bits", 0},	{"length", 0},	  {"read", 0},	 {"write", 0},
	{"readback", 0}, {"expect", 0}, {"expect_ms", 0},
};
enum {
	CH_NAME,
	CH_TABLE,
	CH_ADDRESS,
	CH_STRIDE,
	CH_TYPE,
	CH_ORDER,
	CH_SCALE,
	CH_OFFSET,
	CH_UNIT,
	CH_WRITABLE,
	CH_BIT,
	CH_BITS,
	CH_LENGTH,
	CH_READ,
	CH_WRITE,
	CH_READBACK,
	CH_EXPECT,
	CH_EXPECT_MS,
	CH_NFIELDS
};

/* How a write to the channel is confirmed: read back equal (the default), not at all
 * (`readback: false`), or by reading an expected value within a time (`expect: V`,
 * `expect_ms:`), as a self-clearing command bit does. */
static void write_confirmation(struct loader *L, yaml_node_t *const *v, const char *where,
			       struct metro_channel *c)
{
	yaml_node_t *first = v[CH_READBACK] ? v[CH_READBACK]
			     : v[CH_EXPECT] ? v[CH_EXPECT]
					    : v[CH_EXPECT_MS];
	if (!first)
		return;
	if (!c->writable) {
		metro_y_error(L->f, first,
			      "%s: readback, expect and expect_ms are for writable channels",
			      where);
		return;
	}
	c->expect_ms = METRO_EXPECT_MS_DEFAULT;
	int rb = 1;
	if (v[CH_READBACK])
		metro_y_bool(L->f, v[CH_READBACK], metro_ykey(where, "readback").s, &rb);
	if (!rb)
		c->readback = METRO_READBACK_NONE;
	if (v[CH_EXPECT]) {
		if (!rb)
			metro_y_error(L->f, v[CH_EXPECT],
				      "%s: 'expect' checks what is read back; it cannot go with "
				      "'readback: false'",
				      metro_ykey(where, "expect").s);
		metro_y_double(L->f, v[CH_EXPECT], metro_ykey(where, "expect").s, -1e12, 1e12,
			       &c->expect);
		c->readback = METRO_READBACK_EXPECT;
	}
	if (v[CH_EXPECT_MS]) {
		if (!v[CH_EXPECT])
			metro_y_error(L->f, v[CH_EXPECT_MS], "%s: only with 'expect'",
				      metro_ykey(where, "expect_ms").s);
		metro_y_long(L->f, v[CH_EXPECT_MS], metro_ykey(where, "expect_ms").s, 1,
			     METRO_SEQ_MAX_WAIT_MS, &c->expect_ms);
	}
}

/* A holding or input register channel: type, word order, scale and offset, bit field or
 * string length, and whether it may be written. */
static void register_codec(struct loader *L, yaml_node_t *n, yaml_node_t *const *v,
			   const char *where, struct metro_channel *c)
{
	enum metro_codec_type ty = METRO_CODEC_U16;
	enum metro_codec_order ord = L->default_order;
	char *s = NULL;
	if (v[CH_TYPE] && !metro_y_str(L->f, v[CH_TYPE], metro_ykey(where, "type").s, 16, &s) &&
	    metro_codec_parse_type(s, &ty))
		metro_y_error(L->f, v[CH_TYPE],
			      "%s: '%s' is not one of: u16, i16, u32, i32, u64, "
			      "i64, f32, f64, bits, string",
			      metro_ykey(where, "type").s, s);
	free(s);
	s = NULL;
	if (v[CH_ORDER] && !metro_y_str(L->f, v[CH_ORDER], metro_ykey(where, "order").s, 8, &s) &&
	    metro_codec_parse_order(s, &ord))
		metro_y_error(L->f, v[CH_ORDER], "%s: '%s' is not one of: ABCD, CDAB, BADC, DCBA",
			      metro_ykey(where, "order").s, s);
	free(s);
	metro_codec_init(&c->codec, ty, ord);
	if (v[CH_SCALE])
		metro_y_double(L->f, v[CH_SCALE], metro_ykey(where, "scale").s, -1e12, 1e12,
			       &c->codec.scale);
	if (v[CH_SCALE] && c->codec.scale == 0)
		metro_y_error(L->f, v[CH_SCALE], "%s: must not be zero",
			      metro_ykey(where, "scale").s);
	if (v[CH_OFFSET])
		metro_y_double(L->f, v[CH_OFFSET], metro_ykey(where, "offset").s, -1e12, 1e12,
			       &c->codec.offset);
	long bit = 0, bits = 1, length = 0;
	if (ty == METRO_CODEC_BITS) {
		if (!v[CH_BIT])
			metro_y_error(L->f, n, "%s: a bits channel needs 'bit' (0..15)", where);
		else
			metro_y_long(L->f, v[CH_BIT], metro_ykey(where, "bit").s, 0, 15, &bit);
		if (v[CH_BITS])
			metro_y_long(L->f, v[CH_BITS], metro_ykey(where, "bits").s, 1, 16, &bits);
		if (bit + bits > 16)
			metro_y_error(L->f, v[CH_BITS] ? v[CH_BITS] : v[CH_BIT],
				      "%s: bits %ld..%ld do not fit one register", where, bit,
				      bit + bits - 1);
		c->codec.bit_offset = (unsigned)bit;
		c->codec.bit_width = (unsigned)bits;
	} else {
		for (int k = CH_BIT; k <= CH_BITS; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: only a bits channel has %s",
					      metro_ykey(where, channel_fields[k].key).s,
					      channel_fields[k].key);
	}
	if (ty == METRO_CODEC_STRING) {
		if (!v[CH_LENGTH])
			metro_y_error(L->f, n, "%s: a string channel needs 'length'", where);
		else
			metro_y_long(L->f, v[CH_LENGTH], metro_ykey(where, "length").s, 1,
				     METRO_CODEC_STR_MAX, &length);
		c->codec.str_len = (unsigned)length;
		if (c->writable)
			metro_y_error(L->f, v[CH_WRITABLE], "%s: string channels cannot be written",
				      metro_ykey(where, "writable").s);
	} else if (v[CH_LENGTH]) {
		metro_y_error(L->f, v[CH_LENGTH], "%s: only a string channel has length",
			      metro_ykey(where, "length").s);
	}
	if (c->writable && c->table == METRO_TABLE_INPUT)
		metro_y_error(L->f, v[CH_WRITABLE], "%s: input registers are read-only",
			      metro_ykey(where, "writable").s);
	c->nregs = metro_codec_type_words(ty, c->codec.str_len);
	if (!c->nregs)
		c->nregs = 1;
}

/* A serial-line channel: its read and write templates. */
static void serial_channel(struct loader *L, yaml_node_t *n, yaml_node_t *const *v,
			   const char *where, int per_pos, struct metro_channel *c)
{
	for (int k = CH_TABLE; k <= CH_LENGTH; k++)
		if (v[k] && k != CH_UNIT && k != CH_WRITABLE && k != CH_STRIDE)
			metro_y_error(L->f, v[k], "%s: not used by a serial-line profile",
				      metro_ykey(where, channel_fields[k].key).s);
	if (v[CH_READ])
		template_pair(L, v[CH_READ], metro_ykey(where, "read").s, per_pos, 0, &c->read_cmd,
			      &c->read_reply);
	if (v[CH_WRITE])
		template_pair(L, v[CH_WRITE], metro_ykey(where, "write").s, per_pos, 1,
			      &c->write_cmd, &c->write_reply);
	if (!v[CH_READ])
		metro_y_error(L->f, n, "%s: missing required key 'read'", where);
	if (c->writable && !v[CH_WRITE])
		metro_y_error(L->f, n, "%s: a writable channel needs 'write'", where);
	if (!c->writable && v[CH_WRITE])
		metro_y_error(L->f, v[CH_WRITE], "%s: 'write' on a channel not marked writable",
			      metro_ykey(where, "write").s);
}

/* Add the channel: once, or once per position (stride apart on Modbus).  A channel with a
 * problem is kept (so that its name still counts for the required-channel check) but marked
 * invalid, so that its half-read address does not produce a second, spurious overlap message. */
static void expand_channel(struct loader *L, yaml_node_t *n, const char *where,
			   const struct metro_channel *proto, const char *name, const char *base,
			   int per_pos, long stride)
{
	int count = per_pos ? L->p->positions : 1;
	for (int k = 1; k <= count; k++) {
		if (L->p->transport == METRO_TRANSPORT_MODBUS) {
			unsigned long a =
				proto->address + (unsigned long)stride * (unsigned)(k - 1);
			unsigned long span = proto->nregs ? proto->nregs : 1;
			if (a + span > 65536) {
				metro_y_error(L->f, n,
					      "%s: pos[%d].%s at address %lu runs past the end of "
					      "the address space",
					      where, k, base, a);
				break;
			}
		}
		struct metro_channel *c = add_channel(L);
		int idx = c->index;
		*c = *proto;
		c->index = idx;
		c->position = per_pos ? k : 0;
		c->base = metro_strdup(base);
		c->name = per_pos ? metro_asprintf("pos[%d].%s", k, base) : metro_strdup(name);
		c->unit = proto->unit ? metro_strdup(proto->unit) : NULL;
		c->read_cmd = proto->read_cmd ? metro_strdup(proto->read_cmd) : NULL;
		c->read_reply = proto->read_reply ? metro_strdup(proto->read_reply) : NULL;
		c->write_cmd = proto->write_cmd ? metro_strdup(proto->write_cmd) : NULL;
		c->write_reply = proto->write_reply ? metro_strdup(proto->write_reply) : NULL;
		if (L->p->transport == METRO_TRANSPORT_MODBUS)
			c->address = proto->address + (unsigned)stride * (unsigned)(k - 1);
	}
}

static void channel(struct loader *L, yaml_node_t *n, int i)
{
	yaml_node_t *v[CH_NFIELDS];
	struct metro_ypath wp = metro_yindex("channels", i);
	const char *where = wp.s;
	size_t diag_before = metro_diag_count(L->f->diag);
	metro_y_map(L->f, n, where, channel_fields, CH_NFIELDS, v);
	struct metro_channel proto;
	memset(&proto, 0, sizeof proto);
	proto.line = metro_y_line(n);
	proto.col = metro_y_col(n);
	char *name = NULL;
	int per_pos = 0;
	const char *base = NULL;
	if (v[CH_NAME] && !metro_y_str(L->f, v[CH_NAME], metro_ykey(where, "name").s, 80, &name) &&
	    parse_name(name, &per_pos, &base)) {
		metro_y_error(L->f, v[CH_NAME],
			      "%s: '%s' is not a channel name (lower-case words joined by dots, "
			      "optionally prefixed pos[N].)",
			      metro_ykey(where, "name").s, name);
		free(name);
		name = NULL;
	}
	if (v[CH_UNIT])
		metro_y_str(L->f, v[CH_UNIT], metro_ykey(where, "unit").s, 32, &proto.unit);
	if (v[CH_WRITABLE])
		metro_y_bool(L->f, v[CH_WRITABLE], metro_ykey(where, "writable").s,
			     &proto.writable);
	write_confirmation(L, v, where, &proto);
	long stride = 0;
	if (v[CH_STRIDE] && !per_pos)
		metro_y_error(L->f, v[CH_STRIDE],
			      "%s: only per-position channels (pos[N].) have a "
			      "stride",
			      metro_ykey(where, "stride").s);
	else if (v[CH_STRIDE])
		metro_y_long(L->f, v[CH_STRIDE], metro_ykey(where, "stride").s, 0, 65535, &stride);

	if (L->p->transport == METRO_TRANSPORT_MODBUS) {
		for (int k = CH_READ; k <= CH_WRITE; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: not used by a Modbus profile",
					      metro_ykey(where, channel_fields[k].key).s);
		int t = 0;
		if (!v[CH_TABLE])
			metro_y_error(L->f, n, "%s: missing required key 'table'", where);
		else if (!metro_y_enum(L->f, v[CH_TABLE], metro_ykey(where, "table").s, tables, 4,
				       &t))
			proto.table = (enum metro_table)t;
		long addr = 0;
		if (!v[CH_ADDRESS])
			metro_y_error(L->f, n, "%s: missing required key 'address'", where);
		else
			metro_y_long(L->f, v[CH_ADDRESS], metro_ykey(where, "address").s, 0, 65535,
				     &addr);
		proto.address = (unsigned)addr;
		int bitwise =
			proto.table == METRO_TABLE_COIL || proto.table == METRO_TABLE_DISCRETE;
		if (bitwise) {
			for (int k = CH_TYPE; k <= CH_OFFSET; k++)
				if (v[k])
					metro_y_error(L->f, v[k], "%s: a %s has no %s",
						      metro_ykey(where, channel_fields[k].key).s,
						      tables[proto.table], channel_fields[k].key);
			for (int k = CH_BIT; k <= CH_LENGTH; k++)
				if (v[k])
					metro_y_error(L->f, v[k], "%s: a %s has no %s",
						      metro_ykey(where, channel_fields[k].key).s,
						      tables[proto.table], channel_fields[k].key);
			if (proto.writable && proto.table == METRO_TABLE_DISCRETE)
				metro_y_error(L->f, v[CH_WRITABLE],
					      "%s: discrete inputs are read-only",
					      metro_ykey(where, "writable").s);
		} else {
			register_codec(L, n, v, where, &proto);
		}
	} else {
		serial_channel(L, n, v, where, per_pos, &proto);
	}
	if (!name) {
		free(proto.unit);
		free(proto.read_cmd);
		free(proto.read_reply);
		free(proto.write_cmd);
		free(proto.write_reply);
		return;
	}
	proto.invalid = metro_diag_count(L->f->diag) != diag_before;
	expand_channel(L, n, where, &proto, name, base, per_pos, stride);
	free(name);
	free(proto.unit);
	free(proto.read_cmd);
	free(proto.read_reply);
	free(proto.write_cmd);
	free(proto.write_reply);
}

/* Two Modbus channels overlap when they share a register of the same table (coils and
 * discrete inputs are tables of their own).  Overlaps are almost always a copy-paste error in
 * a profile, so they are refused; a deliberate alias (a bit field inside a status word) is the
 * exception and is allowed between a bits channel and anything else. */
static void check_overlaps(struct loader *L, yaml_node_t *root)
{
	struct metro_profile *p = L->p;
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *a = &p->channels[i];
		for (size_t j = i + 1; j < p->nchannels; j++) {
			const struct metro_channel *b = &p->channels[j];
			if (!strcmp(a->name, b->name)) {
				metro_diag_add(L->f->diag, L->f->name, b->line, b->col,
					       "channel '%s' defined twice (first at line %u)",
					       b->name, a->line);
				continue;
			}
			if (p->transport != METRO_TRANSPORT_MODBUS || a->table != b->table ||
			    a->invalid || b->invalid)
				continue;
			if (a->codec.type == METRO_CODEC_BITS || b->codec.type == METRO_CODEC_BITS)
				continue;
			unsigned ae = a->address + (a->nregs ? a->nregs : 1);
			unsigned be = b->address + (b->nregs ? b->nregs : 1);
			if (a->address < be && b->address < ae)
				metro_diag_add(L->f->diag, L->f->name, b->line, b->col,
					       "channel '%s' (%s %u..%u) overlaps '%s' (%s %u..%u)",
					       b->name, tables[b->table], b->address, be - 1,
					       a->name, tables[a->table], a->address, ae - 1);
		}
	}
	(void)root;
}

static void check_required(struct loader *L, yaml_node_t *root)
{
	struct metro_profile *p = L->p;
	for (size_t i = 0; i < METRO_ARRAY_SIZE(required); i++) {
		const struct required *r = &required[i];
		if (strcmp(r->kind, p->kind) != 0)
			continue;
		const struct metro_channel *c = r->pos ? metro_profile_pos_channel(p, r->name, 1)
						       : metro_profile_channel(p, r->name);
		if (!c) {
			metro_y_error(L->f, root, "a %s profile needs the channel '%s%s'", p->kind,
				      r->pos ? "pos[N]." : "", r->name);
		} else if (r->w && !c->writable) {
			metro_diag_add(L->f->diag, L->f->name, c->line, c->col,
				       "channel '%s%s' must be writable on a %s",
				       r->pos ? "pos[N]." : "", r->name, p->kind);
		}
	}
}

static void kind(struct loader *L, yaml_node_t *n)
{
	int k;
	if (!metro_y_enum(L->f, n, "kind", metro_rig_kind_names, METRO_RIG_KINDS, &k))
		L->p->kind = metro_strdup(metro_rig_kind_names[k]);
}

static void model(struct loader *L, yaml_node_t *n)
{
	metro_y_str(L->f, n, "model", 200, &L->p->model);
}

static void transport(struct loader *L, yaml_node_t *n)
{
	int k;
	L->transport_ok = !metro_y_enum(L->f, n, "transport", transports, 2, &k);
	if (L->transport_ok)
		L->p->transport = (enum metro_transport)k;
}

/* The word order of multi-register values, for channels that do not give their own. */
static void order(struct loader *L, yaml_node_t *n)
{
	char *s = NULL;
	if (!metro_y_str(L->f, n, "order", 8, &s) && metro_codec_parse_order(s, &L->default_order))
		metro_y_error(L->f, n, "order: '%s' is not one of: ABCD, CDAB, BADC, DCBA", s);
	free(s);
}

/* The serial line's terminators and longest reply; n is NULL when the key is absent, which a
 * serial-line profile may not be. */
static void serial(struct loader *L, yaml_node_t *n)
{
	struct metro_yfile *f = L->f;
	struct metro_profile *p = L->p;
	if (!n) {
		if (L->transport_ok && p->transport == METRO_TRANSPORT_SERIAL_LINE)
			metro_y_error(f, L->root,
				      "a serial-line profile needs 'serial' (terminators)");
		return;
	}
	if (L->transport_ok && p->transport != METRO_TRANSPORT_SERIAL_LINE)
		metro_y_error(f, n, "serial: only a serial-line profile has it");
	static const struct metro_yfield sf[] = {
		{"out_terminator", 1}, {"in_terminator", 1}, {"max_reply", 0}};
	yaml_node_t *s[3];
	metro_y_map(f, n, "serial", sf, 3, s);
	if (s[0])
		metro_y_bytes(f, s[0], "serial.out_terminator", 4, &p->out_terminator);
	if (s[1])
		metro_y_bytes(f, s[1], "serial.in_terminator", 4, &p->in_terminator);
	long mr = 256;
	if (s[2] && !metro_y_long(f, s[2], "serial.max_reply", 8, 4096, &mr))
		p->max_reply = (unsigned)mr;
}

/* The channels, checked once the transport is known; then the profile as a whole: no two
 * channels overlap, and the channels the engine needs for the kind are there. */
static void channels(struct loader *L, yaml_node_t *n)
{
	if (!L->transport_ok)
		return;
	int len = metro_y_seq(L->f, n, "channels");
	for (int i = 0; i < len; i++)
		channel(L, metro_y_seq_at(L->f, n, i), i);
	check_overlaps(L, L->root);
	if (L->p->kind)
		check_required(L, L->root);
}

const char *metro_seq_name(enum metro_seq_when w)
{
	static const char *const names[METRO_SEQS] = {"on_connect", "before_run", "after_run"};
	return (unsigned)w < METRO_SEQS ? names[w] : "?";
}

static struct metro_seq_step *add_step(struct metro_sequence *q, size_t *cap)
{
	if (q->n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		q->steps = metro_realloc(q->steps, *cap * sizeof *q->steps);
	}
	struct metro_seq_step *s = &q->steps[q->n++];
	memset(s, 0, sizeof *s);
	return s;
}

/* The channel a step names: one channel, or with pos[N]. every position's, in order; returns
 * how many (into out[0..positions]), 0 after an error. */
static int step_channels(struct loader *L, yaml_node_t *n, const char *key, int need_write,
			 const struct metro_channel **out)
{
	char *name = NULL;
	if (metro_y_str(L->f, n, key, 80, &name))
		return 0;
	int per_pos = 0, count = 0;
	const char *base = NULL;
	if (parse_name(name, &per_pos, &base)) {
		metro_y_error(L->f, n, "%s: '%s' is not a channel name", key, name);
		free(name);
		return 0;
	}
	if (per_pos) {
		for (int k = 1; k <= L->p->positions; k++)
			if ((out[count] = metro_profile_pos_channel(L->p, base, k)))
				count++;
	} else if ((out[0] = metro_profile_channel(L->p, name))) {
		count = 1;
	}
	if (!count)
		metro_y_error(L->f, n, "%s: the profile has no channel '%s'", key, name);
	for (int i = 0; need_write && i < count; i++)
		if (!out[i]->writable) {
			metro_y_error(L->f, n, "%s: channel '%s' is not writable", key, name);
			count = 0;
		}
	free(name);
	return count;
}

/* One step: {write: CHANNEL, value: V} | {wait: CHANNEL, equals: V, timeout_ms: N} |
 * {delay_ms: N}. */
static void sequence_step(struct loader *L, yaml_node_t *n, const char *where,
			  struct metro_sequence *q, size_t *cap)
{
	static const struct metro_yfield sf[] = {{"write", 0},	{"value", 0},	   {"wait", 0},
						 {"equals", 0}, {"timeout_ms", 0}, {"delay_ms", 0}};
	enum { S_WRITE, S_VALUE, S_WAIT, S_EQUALS, S_TIMEOUT, S_DELAY };
	yaml_node_t *v[6];
	if (metro_y_map(L->f, n, where, sf, 6, v))
		return;
	int kinds = !!v[S_WRITE] + !!v[S_WAIT] + !!v[S_DELAY];
	if (kinds != 1) {
		metro_y_error(L->f, n, "%s: a step is exactly one of write, wait or delay_ms",
			      where);
		return;
	}
	const struct metro_channel **chs = metro_calloc((size_t)L->p->positions + 1, sizeof *chs);
	double value = 0;
	long timeout = 0;
	int count = 0;
	enum metro_step_kind kind;
	if (v[S_WRITE]) {
		kind = METRO_STEP_WRITE;
		count = step_channels(L, v[S_WRITE], metro_ykey(where, "write").s, 1, chs);
		if (!v[S_VALUE])
			metro_y_error(L->f, n, "%s: a write needs 'value'", where);
		else
			metro_y_double(L->f, v[S_VALUE], metro_ykey(where, "value").s, -1e12, 1e12,
				       &value);
		for (int k = S_EQUALS; k <= S_TIMEOUT; k++)
			if (v[k])
				metro_y_error(L->f, v[k], "%s: only a wait has %s",
					      metro_ykey(where, sf[k].key).s, sf[k].key);
	} else if (v[S_WAIT]) {
		kind = METRO_STEP_WAIT;
		count = step_channels(L, v[S_WAIT], metro_ykey(where, "wait").s, 0, chs);
		if (!v[S_EQUALS])
			metro_y_error(L->f, n, "%s: a wait needs 'equals'", where);
		else
			metro_y_double(L->f, v[S_EQUALS], metro_ykey(where, "equals").s, -1e12,
				       1e12, &value);
		if (!v[S_TIMEOUT])
			metro_y_error(L->f, n, "%s: a wait needs 'timeout_ms'", where);
		else
			metro_y_long(L->f, v[S_TIMEOUT], metro_ykey(where, "timeout_ms").s, 1,
				     METRO_SEQ_MAX_WAIT_MS, &timeout);
		if (v[S_VALUE])
			metro_y_error(L->f, v[S_VALUE], "%s: a wait has 'equals', not 'value'",
				      metro_ykey(where, "value").s);
	} else {
		kind = METRO_STEP_DELAY;
		count = 1;
		chs[0] = NULL;
		metro_y_long(L->f, v[S_DELAY], metro_ykey(where, "delay_ms").s, 1,
			     METRO_SEQ_MAX_WAIT_MS, &timeout);
		for (int k = S_VALUE; k <= S_TIMEOUT; k++)
			if (v[k] && k != S_WAIT)
				metro_y_error(L->f, v[k], "%s: a delay has only delay_ms",
					      metro_ykey(where, sf[k].key).s);
	}
	for (int i = 0; i < count; i++) {
		struct metro_seq_step *s = add_step(q, cap);
		s->kind = kind;
		s->channel = chs[i] ? chs[i]->index : -1;
		s->value = value;
		s->timeout_ms = timeout;
		s->line = metro_y_line(n);
		s->col = metro_y_col(n);
	}
	free(chs);
}

static void sequence(struct loader *L, yaml_node_t *n, enum metro_seq_when w)
{
	if (!L->transport_ok || !L->p->nchannels)
		return; /* the channels had problems: they are reported */
	const char *key = metro_seq_name(w);
	int len = metro_y_seq(L->f, n, key);
	struct metro_sequence *q = &L->p->seq[w];
	size_t cap = 0;
	for (int i = 0; i < len; i++)
		sequence_step(L, metro_y_seq_at(L->f, n, i), metro_yindex(key, i).s, q, &cap);
}

static void on_connect(struct loader *L, yaml_node_t *n)
{
	sequence(L, n, METRO_SEQ_ON_CONNECT);
}

static void before_run(struct loader *L, yaml_node_t *n)
{
	sequence(L, n, METRO_SEQ_BEFORE_RUN);
}

static void after_run(struct loader *L, yaml_node_t *n)
{
	sequence(L, n, METRO_SEQ_AFTER_RUN);
}

/* The sections of a profile, each with its validator, in the order that messages name them
 * and that they are validated in (the transport before what depends on it).  `always`: the
 * validator is called with NULL when the key is absent. */
static const struct section {
	const char *key;
	int required, always;
	void (*validate)(struct loader *L, yaml_node_t *n);
} sections[] = {
	{.key = "kind", .required = 1, .validate = kind},
	{.key = "model", .required = 1, .validate = model},
	{.key = "transport", .required = 1, .validate = transport},
	{.key = "order", .required = 0, .validate = order},
	{.key = "serial", .required = 0, .always = 1, .validate = serial},
	{.key = "channels", .required = 1, .validate = channels},
	{.key = "on_connect", .required = 0, .validate = on_connect},
	{.key = "before_run", .required = 0, .validate = before_run},
	{.key = "after_run", .required = 0, .validate = after_run},
};
#define NSECTIONS METRO_ARRAY_SIZE(sections)

static int load(struct metro_yfile *f, const char *path, int positions, struct metro_profile **out)
{
	size_t before = metro_diag_count(f->diag);
	struct metro_profile *p = metro_calloc(1, sizeof *p);
	p->refs = 1;
	/* the digest of the bytes this profile was parsed from, not of a second read */
	snprintf(p->sha256, sizeof p->sha256, "%s", f->sha256);
	p->path = metro_strdup(path);
	p->positions = positions;
	p->max_reply = 256;
	struct loader L = {f, p, 0, METRO_CODEC_ABCD, metro_y_root(f), 0};
	struct metro_yfield fields[NSECTIONS];
	for (size_t i = 0; i < NSECTIONS; i++)
		fields[i] = (struct metro_yfield){sections[i].key, sections[i].required};
	yaml_node_t *v[NSECTIONS];
	metro_y_map(f, L.root, "", fields, NSECTIONS, v);
	for (size_t i = 0; i < NSECTIONS; i++)
		if (v[i] || sections[i].always)
			sections[i].validate(&L, v[i]);
	if (metro_diag_count(f->diag) != before) {
		metro_profile_destroy(&p);
		return METRO_E_INVAL;
	}
	*out = p;
	return METRO_OK;
}

int metro_profile_load(const char *path, int positions, struct metro_diag *diag,
		       struct metro_profile **out)
{
	struct metro_yfile *f;
	*out = NULL;
	if (metro_yfile_load(path, diag, &f))
		return METRO_E_INVAL;
	int err = load(f, path, positions, out);
	metro_yfile_destroy(&f);
	return err;
}

void metro_profile_destroy(struct metro_profile **pp)
{
	struct metro_profile *p = *pp;
	if (!p)
		return;
	*pp = NULL;
	if (__atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	for (size_t i = 0; i < p->nchannels; i++) {
		struct metro_channel *c = &p->channels[i];
		free(c->name);
		free(c->base);
		free(c->unit);
		free(c->read_cmd);
		free(c->read_reply);
		free(c->write_cmd);
		free(c->write_reply);
	}
	free(p->channels);
	for (int w = 0; w < METRO_SEQS; w++)
		free(p->seq[w].steps);
	free(p->path);
	free(p->kind);
	free(p->model);
	free(p->out_terminator);
	free(p->in_terminator);
	free(p);
}

struct metro_profile *metro_profile_ref(struct metro_profile *p)
{
	if (p)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	return p;
}

const struct metro_channel *metro_profile_channel(const struct metro_profile *p, const char *name)
{
	for (size_t i = 0; i < p->nchannels; i++)
		if (!strcmp(p->channels[i].name, name))
			return &p->channels[i];
	return NULL;
}

const struct metro_channel *metro_profile_pos_channel(const struct metro_profile *p,
						      const char *base, int position)
{
	for (size_t i = 0; i < p->nchannels; i++)
		if (p->channels[i].position == position && !strcmp(p->channels[i].base, base))
			return &p->channels[i];
	return NULL;
}
