/* audit.c — canonical encoding, hash chain, checkpoints and the offline verifier.
 *
 * See audit.h for the contracts and docs/records.md for the bytes.  Two rules shape this file:
 *   - The writer and the verifier hash exactly the same bytes because both go through
 *     metro_audit_hash_row(), which encodes what SQLite returns for the stored row, not what
 *     the writer meant to store.
 *   - The verifier trusts nothing in the file.  It opens it read-only in defensive mode with
 *     triggers and views disabled, keeps the whole chain in its own memory, and scans each
 *     table by rowid instead of asking the database's (forgeable) indexes questions.
 */
#include "audit.h"
#include "audit_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "schema.h"
#include "util.h"

const struct metro_audit_table metro_audit_tables[] = {
	/* name, key, mutable, since */
	{"stations", "id", 1, 1},
	{"standards", "id", 1, 1},
	{"rigs", "id", 1, 1},
	{"audit_events", "id", 0, 1},
	{"standard_changes", "id", 0, 1},
	{"procedures", "id", 0, 1},
	{"profiles", "id", 0, 3},
	{"software", "id", 0, 1},
	{"meters", "id", 0, 1},
	{"runs", "id", 1, 1},
	{"run_standards", "id", 0, 1},
	{"positions", "id", 1, 1},
	{"points", "id", 0, 1},
	{"verdicts", "id", 0, 1},
	{"inputs", "id", 0, 1},
	{"certificates", "id", 0, 1},
	{"checkpoints", "id", 0, 1},
	{"people", "id", 1, 4},
	{"person_changes", "id", 0, 4},
	{"certificate_steps", "id", 0, 4},
	{NULL, NULL, 0, 0},
};

const struct metro_audit_table *metro_audit_table(const char *name)
{
	for (const struct metro_audit_table *t = metro_audit_tables; t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

/* ---- encoding ------------------------------------------------------------------------------ */

static const unsigned char MAGIC_ROW[4] = {'M', 'R', 'O', 'W'};
static const unsigned char MAGIC_LINK[4] = {'M', 'L', 'N', 'K'};
static const unsigned char MAGIC_CKP[4] = {'M', 'C', 'K', 'P'};

/* Where encoded bytes go: a bounded buffer, a running SHA-256, or both. */
struct sink {
	unsigned char *buf;
	size_t cap, n;
	int overflow;
	crypto_hash_sha256_state *h;
};

static void put(struct sink *k, const void *p, size_t n)
{
	if (k->h && n)
		crypto_hash_sha256_update(k->h, p, n);
	if (k->buf && !k->overflow && k->n + n <= k->cap) {
		if (n)
			memcpy(k->buf + k->n, p, n);
	} else {
		k->overflow = 1;
	}
	k->n += n;
}

static void put_u8(struct sink *k, unsigned v)
{
	unsigned char b = (unsigned char)v;
	put(k, &b, 1);
}

static void put_be(struct sink *k, uint64_t v, int bytes)
{
	unsigned char b[8];
	for (int i = 0; i < bytes; i++)
		b[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
	put(k, b, (size_t)bytes);
}

/* Table and column names: what our schema uses, and nothing that could be confused. */
static int valid_ident(const char *s, size_t n)
{
	if (n < 1 || n > METRO_AUDIT_MAX_NAME)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/* A station id: any bytes but NUL, 1..63 of them. */
static int valid_station(const char *s, size_t n)
{
	return n >= 1 && n <= METRO_AUDIT_MAX_NAME && !memchr(s, '\0', n);
}

/* ISO 8601 UTC text as the store writes it: digits and -:.TZ only. */
static int valid_time(const char *s, size_t n)
{
	if (n < 1 || n > 39)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789-:.TZ", s[i]) || s[i] == '\0')
			return 0;
	return 1;
}

/* Bytewise order of names; a shorter name that is a prefix sorts first. */
static int name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c;
	return (an > bn) - (an < bn);
}

static int valid_fields(const struct metro_audit_record *r)
{
	if (r->nfields > METRO_AUDIT_MAX_FIELDS)
		return 0;
	for (size_t i = 0; i < r->nfields; i++) {
		const struct metro_audit_field *f = &r->fields[i];
		if (!valid_ident(f->name, f->name_len))
			return 0;
		if (i && name_cmp(r->fields[i - 1].name, r->fields[i - 1].name_len, f->name,
				  f->name_len) >= 0)
			return 0;
		switch (f->type) {
		case METRO_AUDIT_INTEGER:
			break;
		case METRO_AUDIT_REAL:
			if (f->r != f->r) /* NaN: SQLite never stores one */
				return 0;
			break;
		case METRO_AUDIT_TEXT:
		case METRO_AUDIT_BLOB:
			if (f->len > UINT32_MAX || (f->len && !f->data))
				return 0;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

size_t metro_audit_encode(const struct metro_audit_record *r, unsigned char *buf, size_t cap,
			  void *h)
{
	struct sink k = {buf, buf ? cap : 0, 0, 0, h};
	switch (r->kind) {
	case METRO_AUDIT_ROW:
		if (!valid_ident(r->name, r->name_len) || !valid_fields(r))
			return 0;
		put(&k, MAGIC_ROW, 4);
		put_u8(&k, METRO_AUDIT_FORMAT);
		put_u8(&k, (unsigned)r->name_len);
		put(&k, r->name, r->name_len);
		put_be(&k, (uint64_t)r->row_id, 8);
		put_be(&k, r->nfields, 2);
		for (size_t i = 0; i < r->nfields; i++) {
			const struct metro_audit_field *f = &r->fields[i];
			put_u8(&k, (unsigned)f->name_len);
			put(&k, f->name, f->name_len);
			put_u8(&k, (unsigned)f->type);
			if (f->type == METRO_AUDIT_INTEGER) {
				put_be(&k, (uint64_t)f->i, 8);
			} else if (f->type == METRO_AUDIT_REAL) {
				uint64_t bits;
				memcpy(&bits, &f->r, 8);
				put_be(&k, bits, 8);
			} else {
				put_be(&k, f->len, 4);
				put(&k, f->data, f->len);
			}
		}
		break;
	case METRO_AUDIT_LINK:
		if (!valid_ident(r->name, r->name_len) || r->seq < 1 ||
		    (r->op != METRO_AUDIT_INSERT && r->op != METRO_AUDIT_UPDATE))
			return 0;
		put(&k, MAGIC_LINK, 4);
		put_u8(&k, METRO_AUDIT_FORMAT);
		put_be(&k, (uint64_t)r->seq, 8);
		put_u8(&k, (unsigned)r->op);
		put_u8(&k, (unsigned)r->name_len);
		put(&k, r->name, r->name_len);
		put_be(&k, (uint64_t)r->row_id, 8);
		put(&k, r->row_hash, METRO_AUDIT_HASH);
		put(&k, r->prev, METRO_AUDIT_HASH);
		break;
	case METRO_AUDIT_CHECKPOINT:
		if (!valid_station(r->name, r->name_len) || !valid_time(r->time, r->time_len) ||
		    r->epoch < 1 || r->head_seq < 0)
			return 0;
		put(&k, MAGIC_CKP, 4);
		put_u8(&k, METRO_AUDIT_FORMAT);
		put_u8(&k, (unsigned)r->name_len);
		put(&k, r->name, r->name_len);
		put_be(&k, (uint64_t)r->epoch, 8);
		put_be(&k, (uint64_t)r->head_seq, 8);
		put(&k, r->head_hash, METRO_AUDIT_HASH);
		put_u8(&k, (unsigned)r->time_len);
		put(&k, r->time, r->time_len);
		put(&k, r->pubkey, METRO_AUDIT_PUBKEY);
		break;
	default:
		return 0;
	}
	return k.n;
}

/* ---- decoding ------------------------------------------------------------------------------ */

struct reader {
	const unsigned char *p;
	size_t n, off;
};

static int take(struct reader *rd, size_t n, const unsigned char **out)
{
	if (rd->n - rd->off < n)
		return -1;
	*out = rd->p + rd->off;
	rd->off += n;
	return 0;
}

static int take_be(struct reader *rd, int bytes, uint64_t *v)
{
	const unsigned char *b;
	if (take(rd, (size_t)bytes, &b))
		return -1;
	*v = 0;
	for (int i = 0; i < bytes; i++)
		*v = (*v << 8) | b[i];
	return 0;
}

/* A length-prefixed (one byte) name. */
static int take_name(struct reader *rd, const char **s, size_t *n)
{
	uint64_t len;
	const unsigned char *b;
	if (take_be(rd, 1, &len) || take(rd, (size_t)len, &b))
		return -1;
	*s = (const char *)b;
	*n = (size_t)len;
	return 0;
}

static int decode_fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return METRO_E_CORRUPT;
}

int metro_audit_decode(const void *buf, size_t len, struct metro_audit_record *out,
		       const char **why)
{
	struct reader rd = {buf, buf ? len : 0, 0};
	const unsigned char *b;
	uint64_t v;
	memset(out, 0, sizeof *out);
	if (why)
		*why = NULL;
	if (take(&rd, 5, &b))
		return decode_fail(why, "shorter than a header");
	if (b[4] != METRO_AUDIT_FORMAT)
		return decode_fail(why, "unknown format version");
	if (!memcmp(b, MAGIC_ROW, 4)) {
		out->kind = METRO_AUDIT_ROW;
		if (take_name(&rd, &out->name, &out->name_len) ||
		    !valid_ident(out->name, out->name_len))
			return decode_fail(why, "bad table name");
		if (take_be(&rd, 8, &v))
			return decode_fail(why, "truncated row id");
		out->row_id = (int64_t)v;
		if (take_be(&rd, 2, &v))
			return decode_fail(why, "truncated field count");
		if (v > METRO_AUDIT_MAX_FIELDS)
			return decode_fail(why, "too many fields");
		out->nfields = (size_t)v;
		for (size_t i = 0; i < out->nfields; i++) {
			struct metro_audit_field *f = &out->fields[i];
			if (take_name(&rd, &f->name, &f->name_len))
				return decode_fail(why, "truncated field name");
			if (take_be(&rd, 1, &v))
				return decode_fail(why, "truncated field type");
			f->type = (int)v;
			if (f->type == METRO_AUDIT_INTEGER) {
				if (take_be(&rd, 8, &v))
					return decode_fail(why, "truncated integer");
				f->i = (int64_t)v;
			} else if (f->type == METRO_AUDIT_REAL) {
				if (take_be(&rd, 8, &v))
					return decode_fail(why, "truncated real");
				memcpy(&f->r, &v, 8);
			} else if (f->type == METRO_AUDIT_TEXT || f->type == METRO_AUDIT_BLOB) {
				if (take_be(&rd, 4, &v) || take(&rd, (size_t)v, &b))
					return decode_fail(why, "truncated text or blob");
				f->data = b;
				f->len = (size_t)v;
			} else {
				return decode_fail(why, "unknown field type");
			}
		}
		if (!valid_fields(out))
			return decode_fail(why, "fields not canonical (names, order or values)");
	} else if (!memcmp(b, MAGIC_LINK, 4)) {
		out->kind = METRO_AUDIT_LINK;
		if (take_be(&rd, 8, &v))
			return decode_fail(why, "truncated seq");
		out->seq = (int64_t)v;
		if (out->seq < 1)
			return decode_fail(why, "seq out of range");
		if (take_be(&rd, 1, &v) || (v != METRO_AUDIT_INSERT && v != METRO_AUDIT_UPDATE))
			return decode_fail(why, "bad op");
		out->op = (int)v;
		if (take_name(&rd, &out->name, &out->name_len) ||
		    !valid_ident(out->name, out->name_len))
			return decode_fail(why, "bad table name");
		if (take_be(&rd, 8, &v))
			return decode_fail(why, "truncated row id");
		out->row_id = (int64_t)v;
		if (take(&rd, METRO_AUDIT_HASH, &b))
			return decode_fail(why, "truncated row hash");
		memcpy(out->row_hash, b, METRO_AUDIT_HASH);
		if (take(&rd, METRO_AUDIT_HASH, &b))
			return decode_fail(why, "truncated previous hash");
		memcpy(out->prev, b, METRO_AUDIT_HASH);
	} else if (!memcmp(b, MAGIC_CKP, 4)) {
		out->kind = METRO_AUDIT_CHECKPOINT;
		if (take_name(&rd, &out->name, &out->name_len) ||
		    !valid_station(out->name, out->name_len))
			return decode_fail(why, "bad station");
		if (take_be(&rd, 8, &v))
			return decode_fail(why, "truncated epoch");
		out->epoch = (int64_t)v;
		if (take_be(&rd, 8, &v))
			return decode_fail(why, "truncated head seq");
		out->head_seq = (int64_t)v;
		if (out->epoch < 1 || out->head_seq < 0)
			return decode_fail(why, "epoch or head seq out of range");
		if (take(&rd, METRO_AUDIT_HASH, &b))
			return decode_fail(why, "truncated head hash");
		memcpy(out->head_hash, b, METRO_AUDIT_HASH);
		if (take_name(&rd, &out->time, &out->time_len) ||
		    !valid_time(out->time, out->time_len))
			return decode_fail(why, "bad time");
		if (take(&rd, METRO_AUDIT_PUBKEY, &b))
			return decode_fail(why, "truncated public key");
		memcpy(out->pubkey, b, METRO_AUDIT_PUBKEY);
	} else {
		return decode_fail(why, "unknown magic");
	}
	if (rd.off != rd.n)
		return decode_fail(why, "trailing bytes");
	return METRO_OK;
}

/* ---- hashing rows and links ---------------------------------------------------------------- */

int metro_audit_hash_row(sqlite3_stmt *st, const char *table, const char *key,
			 unsigned char hash[METRO_AUDIT_HASH], const char **why)
{
	struct metro_audit_record r;
	int idx[METRO_AUDIT_MAX_FIELDS];
	size_t n = 0;
	int have_key = 0;
	memset(&r, 0, sizeof r);
	r.kind = METRO_AUDIT_ROW;
	r.name = table;
	r.name_len = strlen(table);
	int nc = sqlite3_column_count(st);
	for (int i = 0; i < nc; i++) {
		const char *name = sqlite3_column_name(st, i);
		int type = sqlite3_column_type(st, i);
		if (!name)
			return decode_fail(why, "a column without a name");
		if (!strcmp(name, key)) {
			if (type != SQLITE_INTEGER)
				return decode_fail(why, "row key is not an integer");
			r.row_id = sqlite3_column_int64(st, i);
			have_key = 1;
			continue;
		}
		/* chain_seq links the row to the chain; it is not part of what is chained, and a
		 * NULL column is left out so that a column added by a later migration leaves the
		 * hashes of older rows unchanged. */
		if (!strcmp(name, "chain_seq") || type == SQLITE_NULL)
			continue;
		if (n == METRO_AUDIT_MAX_FIELDS)
			return decode_fail(why, "too many columns");
		/* Insertion sort by name: rows have a few dozen columns at most. */
		size_t j = n++;
		while (j > 0 && strcmp(sqlite3_column_name(st, idx[j - 1]), name) > 0) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
	}
	if (!have_key)
		return decode_fail(why, "no key column");
	r.nfields = n;
	for (size_t j = 0; j < n; j++) {
		struct metro_audit_field *f = &r.fields[j];
		int c = idx[j];
		f->name = sqlite3_column_name(st, c);
		f->name_len = strlen(f->name);
		switch (sqlite3_column_type(st, c)) {
		case SQLITE_INTEGER:
			f->type = METRO_AUDIT_INTEGER;
			f->i = sqlite3_column_int64(st, c);
			break;
		case SQLITE_FLOAT:
			f->type = METRO_AUDIT_REAL;
			f->r = sqlite3_column_double(st, c);
			break;
		case SQLITE_TEXT:
			f->type = METRO_AUDIT_TEXT;
			f->data = sqlite3_column_text(st, c);
			f->len = (size_t)sqlite3_column_bytes(st, c);
			break;
		default:
			f->type = METRO_AUDIT_BLOB;
			f->data = sqlite3_column_blob(st, c);
			f->len = (size_t)sqlite3_column_bytes(st, c);
			break;
		}
	}
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	if (!metro_audit_encode(&r, NULL, 0, &h))
		return decode_fail(why, "row not encodable (a column name outside [a-z0-9_])");
	crypto_hash_sha256_final(&h, hash);
	return METRO_OK;
}

void metro_audit_link_hash(int64_t seq, int op, const char *table, int64_t row_id,
			   const unsigned char row_hash[METRO_AUDIT_HASH],
			   const unsigned char prev[METRO_AUDIT_HASH],
			   unsigned char out[METRO_AUDIT_HASH])
{
	struct metro_audit_record r;
	memset(&r, 0, sizeof r);
	r.kind = METRO_AUDIT_LINK;
	r.seq = seq;
	r.op = op;
	r.name = table;
	r.name_len = strlen(table);
	r.row_id = row_id;
	memcpy(r.row_hash, row_hash, METRO_AUDIT_HASH);
	memcpy(r.prev, prev, METRO_AUDIT_HASH);
	crypto_hash_sha256_state h;
	crypto_hash_sha256_init(&h);
	if (!metro_audit_encode(&r, NULL, 0, &h)) {
		/* Not encodable (a forged table name, seq 0): no valid chain hash exists, so
		 * return one that matches nothing a writer could have stored. */
		memset(out, 0xff, METRO_AUDIT_HASH);
		return;
	}
	crypto_hash_sha256_final(&h, out);
}

/* ---- hex and keys -------------------------------------------------------------------------- */

void metro_audit_hex(const unsigned char *b, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int metro_audit_unhex(const char *hex, size_t hexlen, unsigned char *b, size_t n)
{
	if (!hex || hexlen != 2 * n)
		return METRO_E_INVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return METRO_E_INVAL;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return METRO_OK;
}

int metro_audit_read_pubkey(const char *path, unsigned char pk[METRO_AUDIT_PUBKEY])
{
	char *text;
	size_t len;
	int err = metro_read_file(path, 4096, &text, &len);
	if (err)
		return err == METRO_E_RANGE ? METRO_E_INVAL : err;
	size_t a = 0, e = len;
	while (a < e && strchr(" \t\r\n", text[a]))
		a++;
	while (e > a && strchr(" \t\r\n", text[e - 1]))
		e--;
	err = metro_audit_unhex(text + a, e - a, pk, METRO_AUDIT_PUBKEY);
	free(text);
	return err;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

size_t metro_audit_checkpoint_message(const struct metro_audit_checkpoint *cp, unsigned char *buf,
				      size_t cap)
{
	struct metro_audit_record r;
	memset(&r, 0, sizeof r);
	r.kind = METRO_AUDIT_CHECKPOINT;
	r.name = cp->station;
	r.name_len = strlen(cp->station);
	r.epoch = cp->epoch;
	r.head_seq = cp->head_seq;
	memcpy(r.head_hash, cp->head_hash, METRO_AUDIT_HASH);
	r.time = cp->time;
	r.time_len = strlen(cp->time);
	memcpy(r.pubkey, cp->pubkey, METRO_AUDIT_PUBKEY);
	size_t n = metro_audit_encode(&r, buf, cap, NULL);
	return n <= cap ? n : 0;
}

static void short_id(const unsigned char *msg, size_t n, char out[METRO_AUDIT_SHORT_ID + 1])
{
	unsigned char d[METRO_AUDIT_HASH];
	char hex[2 * METRO_AUDIT_HASH + 1];
	crypto_hash_sha256(d, msg, n);
	metro_audit_hex(d, METRO_AUDIT_HASH, hex);
	memcpy(out, hex, METRO_AUDIT_SHORT_ID);
	out[METRO_AUDIT_SHORT_ID] = '\0';
}

int metro_audit_checkpoint_sign(struct metro_audit_checkpoint *cp, const unsigned char *sk)
{
	unsigned char msg[256];
	crypto_sign_ed25519_sk_to_pk(cp->pubkey, sk);
	size_t n = metro_audit_checkpoint_message(cp, msg, sizeof msg);
	if (!n)
		return METRO_E_INVAL;
	crypto_sign_detached(cp->signature, NULL, msg, n, sk);
	short_id(msg, n, cp->short_id);
	return METRO_OK;
}

int metro_audit_checkpoint_check(const struct metro_audit_checkpoint *cp, const unsigned char *pk,
				 const char **why)
{
	unsigned char msg[256];
	char id[METRO_AUDIT_SHORT_ID + 1];
	size_t n = metro_audit_checkpoint_message(cp, msg, sizeof msg);
	if (!n)
		return decode_fail(why, "checkpoint fields cannot be encoded");
	if (crypto_sign_verify_detached(cp->signature, msg, n, pk ? pk : cp->pubkey))
		return decode_fail(why, pk ? "signature does not verify with the trusted key"
					   : "signature does not verify with the stored key");
	short_id(msg, n, id);
	if (strcmp(id, cp->short_id) != 0)
		return decode_fail(why, "short id does not match the signed content");
	return METRO_OK;
}

json_t *metro_audit_checkpoint_json(const struct metro_audit_checkpoint *cp)
{
	char hh[2 * METRO_AUDIT_HASH + 1], pk[2 * METRO_AUDIT_PUBKEY + 1],
		sig[2 * METRO_AUDIT_SIG + 1];
	metro_audit_hex(cp->head_hash, METRO_AUDIT_HASH, hh);
	metro_audit_hex(cp->pubkey, METRO_AUDIT_PUBKEY, pk);
	metro_audit_hex(cp->signature, METRO_AUDIT_SIG, sig);
	return json_pack("{ss ss ss sI ss sI ss ss ss}", "schema", "metrod.audit.checkpoint/1",
			 "station", cp->station, "time", cp->time, "epoch", (json_int_t)cp->epoch,
			 "id", cp->short_id, "head_seq", (json_int_t)cp->head_seq, "head_hash", hh,
			 "pubkey", pk, "signature", sig);
}

static int get_hex(const json_t *doc, const char *key, unsigned char *b, size_t n)
{
	const char *s = json_string_value(json_object_get(doc, key));
	return s ? metro_audit_unhex(s, strlen(s), b, n) : METRO_E_INVAL;
}

int metro_audit_checkpoint_parse(const json_t *doc, struct metro_audit_checkpoint *cp,
				 const char **why)
{
	memset(cp, 0, sizeof *cp);
	*why = NULL;
	const char *schema = json_string_value(json_object_get(doc, "schema"));
	const char *station = json_string_value(json_object_get(doc, "station"));
	const char *tm = json_string_value(json_object_get(doc, "time"));
	const char *id = json_string_value(json_object_get(doc, "id"));
	json_t *epoch = json_object_get(doc, "epoch"), *head = json_object_get(doc, "head_seq");
	if (!schema || strcmp(schema, "metrod.audit.checkpoint/1") != 0)
		*why = "not a checkpoint document (schema metrod.audit.checkpoint/1)";
	else if (!station || strlen(station) > METRO_AUDIT_MAX_NAME || !*station)
		*why = "bad or missing station";
	else if (!tm || strlen(tm) >= sizeof cp->time)
		*why = "bad or missing time";
	else if (!json_is_integer(epoch) || json_integer_value(epoch) < 1)
		*why = "bad or missing epoch";
	else if (!json_is_integer(head) || json_integer_value(head) < 0)
		*why = "bad or missing head_seq";
	else if (get_hex(doc, "head_hash", cp->head_hash, METRO_AUDIT_HASH))
		*why = "bad or missing head_hash (64 hex digits)";
	else if (get_hex(doc, "pubkey", cp->pubkey, METRO_AUDIT_PUBKEY))
		*why = "bad or missing pubkey (64 hex digits)";
	else if (get_hex(doc, "signature", cp->signature, METRO_AUDIT_SIG))
		*why = "bad or missing signature (128 hex digits)";
	else if (!id || strlen(id) != METRO_AUDIT_SHORT_ID)
		*why = "bad or missing id";
	if (*why || !station || !tm || !id) /* the last three: for the analyzers */
		return METRO_E_INVAL;
	metro_strlcpy(cp->station, station, sizeof cp->station);
	metro_strlcpy(cp->time, tm, sizeof cp->time);
	metro_strlcpy(cp->short_id, id, sizeof cp->short_id);
	cp->epoch = json_integer_value(epoch);
	cp->head_seq = json_integer_value(head);
	return METRO_OK;
}

static int text_col(sqlite3_stmt *st, int c, char *out, size_t cap)
{
	const char *s = (const char *)sqlite3_column_text(st, c);
	if (sqlite3_column_type(st, c) != SQLITE_TEXT || !s || strlen(s) >= cap)
		return METRO_E_CORRUPT;
	metro_strlcpy(out, s, cap);
	return METRO_OK;
}

static int hex_col(sqlite3_stmt *st, int c, unsigned char *b, size_t n)
{
	const char *s = (const char *)sqlite3_column_text(st, c);
	if (sqlite3_column_type(st, c) != SQLITE_TEXT || !s)
		return METRO_E_CORRUPT;
	return metro_audit_unhex(s, strlen(s), b, n) ? METRO_E_CORRUPT : METRO_OK;
}

int metro_audit_checkpoint_row(sqlite3_stmt *st, struct metro_audit_checkpoint *cp)
{
	memset(cp, 0, sizeof *cp);
	cp->row_id = sqlite3_column_int64(st, 0);
	cp->chain_seq =
		sqlite3_column_type(st, 1) == SQLITE_INTEGER ? sqlite3_column_int64(st, 1) : 0;
	cp->epoch = sqlite3_column_int64(st, 3);
	cp->head_seq = sqlite3_column_int64(st, 4);
	if (text_col(st, 2, cp->station, sizeof cp->station) ||
	    sqlite3_column_type(st, 3) != SQLITE_INTEGER ||
	    sqlite3_column_type(st, 4) != SQLITE_INTEGER ||
	    hex_col(st, 5, cp->head_hash, METRO_AUDIT_HASH) ||
	    hex_col(st, 6, cp->pubkey, METRO_AUDIT_PUBKEY) ||
	    hex_col(st, 7, cp->signature, METRO_AUDIT_SIG) ||
	    text_col(st, 8, cp->short_id, sizeof cp->short_id) ||
	    text_col(st, 9, cp->time, sizeof cp->time))
		return METRO_E_CORRUPT;
	return METRO_OK;
}

int metro_audit_checkpoint_load(sqlite3 *db, int64_t epoch, struct metro_audit_checkpoint *cp)
{
	sqlite3_stmt *st = NULL;
	const char *sql = epoch ? "SELECT " METRO_AUDIT_CHECKPOINT_COLS
				  " FROM checkpoints WHERE epoch = ?"
				: "SELECT " METRO_AUDIT_CHECKPOINT_COLS
				  " FROM checkpoints ORDER BY epoch DESC LIMIT 1";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return METRO_E_IO;
	if (epoch)
		sqlite3_bind_int64(st, 1, epoch);
	int rc = sqlite3_step(st), err;
	if (rc == SQLITE_ROW)
		err = metro_audit_checkpoint_row(st, cp);
	else
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : METRO_E_IO;
	sqlite3_finalize(st);
	return err;
}

/* ---- opening a file for inspection --------------------------------------------------------- */

/* A file: URI for path with a query: the characters a URI gives meaning to escaped. */
static char *uri_of(const char *path, const char *query)
{
	size_t n = strlen(path);
	char *out = metro_calloc(1, 3 * n + strlen(query) + 16);
	char *o = out + sprintf(out, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p >= 0x7f)
			o += sprintf(o, "%%%02X", *p);
		else
			*o++ = (char)*p;
	}
	sprintf(o, "?%s", query);
	return out;
}

int metro_audit_open_ro(const char *path, sqlite3 **out, int *schema_version, char *err, size_t cap)
{
	struct stat sb;
	*out = NULL;
	*schema_version = 0;
	if (stat(path, &sb) != 0) {
		snprintf(err, cap, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? METRO_E_NOTFOUND : METRO_E_IO;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, cap, "%s: not a regular file", path);
		return METRO_E_IO;
	}
	/* Leave nothing behind: with no -wal beside it, no writer has the database open (a WAL
	 * writer keeps its -wal while open) and it is opened immutable, which creates no -wal or
	 * -shm; beside a live writer the files exist already and are shared. */
	char *wal = metro_asprintf("%s-wal", path);
	int live = access(wal, F_OK) == 0;
	free(wal);
	char *uri = live ? NULL : uri_of(path, "immutable=1");
	sqlite3 *db = NULL;
	int orc = sqlite3_open_v2(live ? path : uri, &db,
				  SQLITE_OPEN_READONLY | (live ? 0 : SQLITE_OPEN_URI), NULL);
	free(uri);
	if (orc != SQLITE_OK) {
		snprintf(err, cap, "%s: cannot open: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return METRO_E_IO;
	}
	/* The file may have been written by anyone: run none of its code. */
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_busy_timeout(db, 5000);
	sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, cap, "%s: cannot read: %s", path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		sqlite3_close(db);
		return METRO_E_IO;
	}
	int v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (v < 1) {
		snprintf(err, cap, "%s: not a metrod record store (schema version %d)", path, v);
		sqlite3_close(db);
		return METRO_E_UNSUPPORTED;
	}
	if (v > METRO_STORE_SCHEMA) {
		snprintf(err, cap,
			 "%s: schema version %d is newer than this program knows (%d): use a newer "
			 "metroctl",
			 path, v, METRO_STORE_SCHEMA);
		sqlite3_close(db);
		return METRO_E_UNSUPPORTED;
	}
	*schema_version = v;
	*out = db;
	return METRO_OK;
}
