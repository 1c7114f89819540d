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

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "error.h"
#include "store.h"
#include "util.h"

const struct metro_audit_table metro_audit_tables[] = {
	/* name, key, mutable, since */
	{"stations", "id", 1, 1},
	{"standards", "id", 1, 1},
	{"rigs", "id", 1, 1},
	{"audit_events", "id", 0, 1},
	{"standard_changes", "id", 0, 1},
	{"procedures", "id", 0, 1},
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

/* Fill cp from a row of CHECKPOINT_COLS; 0 or METRO_E_CORRUPT. */
#define CHECKPOINT_COLS \
	"id, chain_seq, station, epoch, head_seq, head_hash, pubkey, signature, short_id, time"

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

static int checkpoint_row(sqlite3_stmt *st, struct metro_audit_checkpoint *cp)
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
	const char *sql = epoch ? "SELECT " CHECKPOINT_COLS " FROM checkpoints WHERE epoch = ?"
				: "SELECT " CHECKPOINT_COLS
				  " FROM checkpoints ORDER BY epoch DESC LIMIT 1";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return METRO_E_IO;
	if (epoch)
		sqlite3_bind_int64(st, 1, epoch);
	int rc = sqlite3_step(st), err;
	if (rc == SQLITE_ROW)
		err = checkpoint_row(st, cp);
	else
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : METRO_E_IO;
	sqlite3_finalize(st);
	return err;
}

/* ---- opening a file for inspection --------------------------------------------------------- */

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
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
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

/* ---- the verifier -------------------------------------------------------------------------- */

struct link {
	int64_t seq;
	int64_t row_id;
	int table; /* index into metro_audit_tables, -1 unknown */
	int op;
	int claimed;
	unsigned char row_hash[METRO_AUDIT_HASH];
	unsigned char hash[METRO_AUDIT_HASH];
};

struct vctx {
	const struct metro_audit_opts *o;
	struct metro_audit_report *r;
	sqlite3 *db;
	struct link *chain;
	size_t n, cap;
};

static void warn(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct vctx *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	v->r->warnings =
		metro_realloc(v->r->warnings, (v->r->nwarnings + 1) * sizeof *v->r->warnings);
	v->r->warnings[v->r->nwarnings++] = metro_vasprintf(fmt, ap);
	va_end(ap);
}

static int by_order(const void *a, const void *b)
{
	const struct metro_audit_failure *x = a, *y = b;
	if (x->order != y->order)
		return (x->order > y->order) - (x->order < y->order);
	return (x->found > y->found) - (x->found < y->found);
}

/* Record a failure.  Only the METRO_AUDIT_MAX_REPORTED earliest (by order) are kept, so a
 * database rewritten wholesale cannot exhaust memory, and the first one is always kept. */
static void fail(struct vctx *v, const char *table, int64_t row, int64_t seq, const char *check,
		 int64_t order, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void fail(struct vctx *v, const char *table, int64_t row, int64_t seq, const char *check,
		 int64_t order, const char *fmt, ...)
{
	struct metro_audit_report *r = v->r;
	r->total_failures++;
	size_t slot;
	if (r->nfailures < METRO_AUDIT_MAX_REPORTED) {
		if (!r->failures)
			r->failures = metro_calloc(METRO_AUDIT_MAX_REPORTED, sizeof *r->failures);
		slot = r->nfailures++;
	} else {
		slot = 0;
		for (size_t i = 1; i < r->nfailures; i++)
			if (by_order(&r->failures[i], &r->failures[slot]) > 0)
				slot = i;
		if (r->failures[slot].order <= order)
			return; /* later in the chain than every kept one */
	}
	struct metro_audit_failure *f = &r->failures[slot];
	metro_strlcpy(f->table, table ? table : "", sizeof f->table);
	f->row = row;
	f->chain_seq = seq;
	f->check = check;
	f->order = order;
	f->found = r->total_failures;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
}

static const char *tname(int t)
{
	return t >= 0 ? metro_audit_tables[t].name : "?";
}

static char *short_hex(const unsigned char *h, char buf[17])
{
	metro_audit_hex(h, 8, buf);
	return buf;
}

static int table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int yes = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		yes = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return yes;
}

static void check_integrity(struct vctx *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db, "PRAGMA integrity_check(10)", -1, &st, NULL) != SQLITE_OK) {
		fail(v, "", 0, 0, "integrity", 0, "integrity_check cannot run: %s",
		     sqlite3_errmsg(v->db));
		return;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		if (m && strcmp(m, "ok") != 0)
			fail(v, "", 0, 0, "integrity", 0, "database file damaged: %s", m);
	}
	if (rc != SQLITE_DONE)
		fail(v, "", 0, 0, "integrity", 0, "database file damaged: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
}

static struct link *find_link(struct vctx *v, int64_t seq)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->chain[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->n && v->chain[lo].seq == seq ? &v->chain[lo] : NULL;
}

static int hex_hash(sqlite3_stmt *st, int c, unsigned char out[METRO_AUDIT_HASH])
{
	const char *s = (const char *)sqlite3_column_text(st, c);
	return sqlite3_column_type(st, c) == SQLITE_TEXT && s &&
			       !metro_audit_unhex(s, strlen(s), out, METRO_AUDIT_HASH)
		       ? 0
		       : -1;
}

/* Load the chain into memory, checking every link against the stored previous hash. */
static int load_chain(struct vctx *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT seq, tbl, row_id, op, row_hash, prev, hash FROM chain "
			       "ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(v, "chain", 0, 0, "schema", 0, "cannot read the chain: %s",
		     sqlite3_errmsg(v->db));
		return -1;
	}
	unsigned char prev[METRO_AUDIT_HASH] = {0};
	int64_t expect = 1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (v->n == v->cap) {
			v->cap = v->cap ? 2 * v->cap : 4096;
			v->chain = metro_realloc(v->chain, v->cap * sizeof *v->chain);
		}
		struct link *l = &v->chain[v->n];
		memset(l, 0, sizeof *l);
		l->seq = sqlite3_column_int64(st, 0);
		const char *tbl = (const char *)sqlite3_column_text(st, 1);
		const char *op = (const char *)sqlite3_column_text(st, 3);
		const struct metro_audit_table *t = tbl ? metro_audit_table(tbl) : NULL;
		l->table = t ? (int)(t - metro_audit_tables) : -1;
		l->row_id = sqlite3_column_int64(st, 2);
		l->op = op && !strcmp(op, "insert")   ? METRO_AUDIT_INSERT
			: op && !strcmp(op, "update") ? METRO_AUDIT_UPDATE
						      : 0;
		unsigned char sprev[METRO_AUDIT_HASH];
		int shape = sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
			    sqlite3_column_type(st, 2) == SQLITE_INTEGER && l->op &&
			    !hex_hash(st, 4, l->row_hash) && !hex_hash(st, 5, sprev) &&
			    !hex_hash(st, 6, l->hash);
		v->n++;
		if (l->seq > expect)
			fail(v, "chain", 0, expect, "chain-gap", expect,
			     "chain records %lld..%lld are missing (deleted)", (long long)expect,
			     (long long)l->seq - 1);
		expect = l->seq + 1;
		if (!shape) {
			fail(v, "chain", 0, l->seq, "chain-format", l->seq,
			     "chain record %lld is malformed (a column of the wrong type or "
			     "length)",
			     (long long)l->seq);
			memset(l->hash, 0, sizeof l->hash);
		} else if (l->table < 0) {
			fail(v, "chain", 0, l->seq, "chain-format", l->seq,
			     "chain record %lld names '%s', which is not a chained table",
			     (long long)l->seq, tbl ? tbl : "");
		} else {
			char a[17], b[17];
			if (memcmp(sprev, prev, METRO_AUDIT_HASH) != 0)
				fail(v, "chain", l->row_id, l->seq, "link-prev", l->seq,
				     "chain record %lld (%s row %lld): its previous hash %s… is "
				     "not the hash of record %lld (%s…): records removed, "
				     "inserted or reordered",
				     (long long)l->seq, tname(l->table), (long long)l->row_id,
				     short_hex(sprev, a), (long long)l->seq - 1,
				     short_hex(prev, b));
			unsigned char h[METRO_AUDIT_HASH];
			metro_audit_link_hash(l->seq, l->op, tname(l->table), l->row_id,
					      l->row_hash, sprev, h);
			if (memcmp(h, l->hash, METRO_AUDIT_HASH) != 0)
				fail(v, tname(l->table), l->row_id, l->seq, "link-hash", l->seq,
				     "chain record %lld (%s row %lld): stored hash %s… differs "
				     "from the recomputed %s… (the chain record was edited)",
				     (long long)l->seq, tname(l->table), (long long)l->row_id,
				     short_hex(l->hash, a), short_hex(h, b));
		}
		memcpy(prev, l->hash, METRO_AUDIT_HASH);
	}
	if (rc != SQLITE_DONE)
		fail(v, "chain", 0, expect, "read", expect, "cannot read the chain: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
	v->r->records = (int64_t)v->n;
	if (v->n) {
		v->r->head_seq = v->chain[v->n - 1].seq;
		metro_audit_hex(v->chain[v->n - 1].hash, METRO_AUDIT_HASH, v->r->head_hash);
	}
	return 0;
}

/* Every row of one chained table: in the chain, at the place that names it, with the content
 * that was chained. */
static void check_table(struct vctx *v, int ti)
{
	const struct metro_audit_table *t = &metro_audit_tables[ti];
	char *sql = metro_asprintf("SELECT * FROM \"%s\" ORDER BY \"%s\"", t->name, t->key);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		fail(v, t->name, 0, 0, "schema", 0, "cannot read table %s: %s", t->name,
		     sqlite3_errmsg(v->db));
		return;
	}
	int kc = -1, cc = -1;
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		if (!strcmp(sqlite3_column_name(st, i), t->key))
			kc = i;
		else if (!strcmp(sqlite3_column_name(st, i), "chain_seq"))
			cc = i;
	}
	if (kc < 0 || cc < 0) {
		fail(v, t->name, 0, 0, "schema", 0, "table %s lacks its %s or chain_seq column",
		     t->name, kc < 0 ? t->key : "");
		sqlite3_finalize(st);
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->r->rows++;
		int64_t id = sqlite3_column_int64(st, kc);
		if (sqlite3_column_type(st, cc) != SQLITE_INTEGER) {
			fail(v, t->name, id, 0, "unchained-row", INT64_MAX,
			     "%s row %lld is not in the chain (chain_seq is not set): inserted "
			     "behind the store's back",
			     t->name, (long long)id);
			continue;
		}
		int64_t seq = sqlite3_column_int64(st, cc);
		struct link *l = find_link(v, seq);
		if (!l) {
			fail(v, t->name, id, seq, "unchained-row", seq,
			     "%s row %lld claims chain record %lld, which does not exist", t->name,
			     (long long)id, (long long)seq);
			continue;
		}
		if (l->table != ti || l->row_id != id) {
			fail(v, t->name, id, seq, "chain-mismatch", seq,
			     "%s row %lld claims chain record %lld, which records %s row %lld "
			     "(rows moved, swapped or renumbered)",
			     t->name, (long long)id, (long long)seq, tname(l->table),
			     (long long)l->row_id);
			continue;
		}
		if (l->claimed) {
			fail(v, t->name, id, seq, "chain-mismatch", seq,
			     "%s row %lld claims chain record %lld, already claimed by another row",
			     t->name, (long long)id, (long long)seq);
			continue;
		}
		l->claimed = 1;
		unsigned char h[METRO_AUDIT_HASH];
		const char *why = NULL;
		if (metro_audit_hash_row(st, t->name, t->key, h, &why)) {
			fail(v, t->name, id, seq, "row-format", seq,
			     "%s row %lld (chain record %lld) cannot be encoded: %s", t->name,
			     (long long)id, (long long)seq, why);
		} else if (memcmp(h, l->row_hash, METRO_AUDIT_HASH) != 0) {
			char a[17], b[17];
			fail(v, t->name, id, seq, "row-hash", seq,
			     "%s row %lld (chain record %lld): content differs from what was "
			     "chained (row hash %s…, stored %s…): the row was edited",
			     t->name, (long long)id, (long long)seq, short_hex(h, a),
			     short_hex(l->row_hash, b));
		}
	}
	if (rc != SQLITE_DONE)
		fail(v, t->name, 0, 0, "read", 0, "cannot read table %s: %s", t->name,
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
}

static int by_row(const void *a, const void *b)
{
	const struct link *x = *(const struct link *const *)a, *y = *(const struct link *const *)b;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->row_id != y->row_id)
		return x->row_id < y->row_id ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Every chain record must lead to a row, unless a later record of the same (mutable) row
 * superseded it; the first record of a row is an insert, later ones updates. */
static void check_claims(struct vctx *v)
{
	struct link **ix = metro_malloc((v->n ? v->n : 1) * sizeof(struct link *));
	size_t m = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->chain[i].table >= 0)
			ix[m++] = &v->chain[i];
	qsort(ix, m, sizeof(struct link *), by_row);
	for (size_t i = 0; i < m; i++) {
		struct link *l = ix[i];
		int first =
			i == 0 || ix[i - 1]->table != l->table || ix[i - 1]->row_id != l->row_id;
		int last = i + 1 == m || ix[i + 1]->table != l->table ||
			   ix[i + 1]->row_id != l->row_id;
		const char *tn = tname(l->table);
		if (first && l->op != METRO_AUDIT_INSERT)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld updates %s row %lld, which was never inserted",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!first && l->op != METRO_AUDIT_UPDATE)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld inserts %s row %lld a second time",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!first && !metro_audit_tables[l->table].is_mutable)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld updates %s row %lld, but %s rows are immutable",
			     (long long)l->seq, tn, (long long)l->row_id, tn);
		if (last && !l->claimed)
			fail(v, tn, l->row_id, l->seq, "deleted-row", l->seq,
			     "chain record %lld records %s row %lld, which is missing or no longer "
			     "carries it (deleted, moved or rolled back)",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!last && l->claimed)
			fail(v, tn, l->row_id, l->seq, "superseded-row", l->seq,
			     "%s row %lld carries chain record %lld, but record %lld holds a later "
			     "version: the row was rolled back",
			     tn, (long long)l->row_id, (long long)l->seq,
			     (long long)ix[i + 1]->seq);
	}
	free(ix);
}

static int trusted(struct vctx *v, const struct metro_audit_checkpoint *cp, const char **why)
{
	if (!v->o->npubkeys)
		return metro_audit_checkpoint_check(cp, NULL, why) == 0;
	for (size_t k = 0; k < v->o->npubkeys; k++)
		if (!metro_audit_checkpoint_check(cp, v->o->pubkeys[k], why))
			return 1;
	return 0;
}

static void check_checkpoints(struct vctx *v, struct metro_audit_checkpoint **out, size_t *nout)
{
	sqlite3_stmt *st;
	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT " CHECKPOINT_COLS " FROM checkpoints ORDER BY chain_seq, id",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(v, "checkpoints", 0, 0, "schema", 0, "cannot read checkpoints: %s",
		     sqlite3_errmsg(v->db));
		return;
	}
	struct metro_audit_checkpoint *cps = NULL, *prev = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cps = metro_realloc(cps, (n + 1) * sizeof *cps);
		struct metro_audit_checkpoint *cp = &cps[n];
		prev = n ? &cps[n - 1] : NULL;
		int64_t id = sqlite3_column_int64(st, 0);
		if (checkpoint_row(st, cp)) {
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-format",
			     cp->chain_seq ? cp->chain_seq : INT64_MAX,
			     "checkpoint row %lld is malformed (a column of the wrong type or "
			     "length)",
			     (long long)id);
			continue;
		}
		n++;
		int64_t at = cp->chain_seq ? cp->chain_seq : INT64_MAX;
		int64_t want = prev ? prev->epoch + 1 : 1;
		if (cp->epoch != want)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-epoch", at,
			     "checkpoints row %lld (chain record %lld): epoch %lld where %lld was "
			     "expected (epochs rise by one: checkpoints deleted, inserted or "
			     "renumbered)",
			     (long long)id, (long long)cp->chain_seq, (long long)cp->epoch,
			     (long long)want);
		if (prev && cp->head_seq < prev->head_seq)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld): covers the chain up to record "
			     "%lld, "
			     "before its predecessor (epoch %lld, record %lld)",
			     (long long)id, (long long)cp->epoch, (long long)cp->head_seq,
			     (long long)prev->epoch, (long long)prev->head_seq);
		if (cp->chain_seq && cp->head_seq >= cp->chain_seq)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld): covers chain record %lld, which "
			     "is "
			     "not before its own record %lld",
			     (long long)id, (long long)cp->epoch, (long long)cp->head_seq,
			     (long long)cp->chain_seq);
		unsigned char zero[METRO_AUDIT_HASH] = {0};
		const unsigned char *at_head = NULL;
		if (cp->head_seq == 0) {
			at_head = zero;
		} else {
			struct link *l = find_link(v, cp->head_seq);
			if (!l)
				fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head",
				     cp->head_seq,
				     "checkpoints row %lld (epoch %lld, %s): signs chain record "
				     "%lld, "
				     "which does not exist: the chain was truncated",
				     (long long)id, (long long)cp->epoch, cp->short_id,
				     (long long)cp->head_seq);
			else
				at_head = l->hash;
		}
		if (at_head && memcmp(at_head, cp->head_hash, METRO_AUDIT_HASH) != 0) {
			char a[17], b[17];
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld, %s): signed head hash %s… but "
			     "chain "
			     "record %lld is now %s…: the chain was rewritten",
			     (long long)id, (long long)cp->epoch, cp->short_id,
			     short_hex(cp->head_hash, a), (long long)cp->head_seq,
			     short_hex(at_head, b));
		}
		const char *why = NULL;
		if (!trusted(v, cp, &why))
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-signature", at,
			     "checkpoints row %lld (epoch %lld, %s, chain record %lld): %s%s",
			     (long long)id, (long long)cp->epoch, cp->short_id,
			     (long long)cp->chain_seq, why,
			     v->o->npubkeys ? " (re-signed with another key, or edited)" : "");
		if (!v->o->npubkeys && prev &&
		    memcmp(prev->pubkey, cp->pubkey, METRO_AUDIT_PUBKEY) != 0)
			warn(v, "the station key changed at checkpoint epoch %lld",
			     (long long)cp->epoch);
	}
	if (rc != SQLITE_DONE)
		fail(v, "checkpoints", 0, 0, "read", 0, "cannot read checkpoints: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
	*out = cps;
	*nout = n;
}

static void check_published(struct vctx *v, const struct metro_audit_checkpoint *cps, size_t n)
{
	const struct metro_audit_checkpoint *p = v->o->published;
	const char *why = NULL;
	if (!trusted(v, p, &why)) {
		fail(v, "", 0, 0, "published-checkpoint", 0,
		     "the published checkpoint given (epoch %lld, %s) does not verify: %s",
		     (long long)p->epoch, p->short_id, why);
		return;
	}
	const struct metro_audit_checkpoint *m = NULL;
	for (size_t i = 0; i < n; i++)
		if (cps[i].epoch == p->epoch)
			m = &cps[i];
	if (!m) {
		fail(v, "checkpoints", 0, p->head_seq + 1, "rollback", p->head_seq + 1,
		     "rollback: the database lacks published checkpoint epoch %lld (%s, head "
		     "%lld); "
		     "its latest is epoch %lld and its chain ends at record %lld: it is an older "
		     "copy or was truncated",
		     (long long)p->epoch, p->short_id, (long long)p->head_seq,
		     n ? (long long)cps[n - 1].epoch : 0LL, (long long)v->r->head_seq);
		return;
	}
	if (strcmp(m->station, p->station) != 0 || m->head_seq != p->head_seq ||
	    memcmp(m->head_hash, p->head_hash, METRO_AUDIT_HASH) != 0 ||
	    memcmp(m->signature, p->signature, METRO_AUDIT_SIG) != 0 ||
	    memcmp(m->pubkey, p->pubkey, METRO_AUDIT_PUBKEY) != 0) {
		fail(v, "checkpoints", m->row_id, m->chain_seq, "rollback",
		     m->head_seq < p->head_seq ? m->head_seq : p->head_seq,
		     "fork: checkpoint epoch %lld in the database (%s, head %lld) differs from "
		     "the published one (%s, head %lld)",
		     (long long)p->epoch, m->short_id, (long long)m->head_seq, p->short_id,
		     (long long)p->head_seq);
		return;
	}
	v->r->rollback_checked = 1;
}

/* The stored procedure text must still hash to the digest the runs cite. */
static void check_procedures(struct vctx *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db, "SELECT id, chain_seq, sha256, content FROM procedures", -1,
			       &st, NULL) != SQLITE_OK)
		return; /* reported by check_table */
	while (sqlite3_step(st) == SQLITE_ROW) {
		char hex[2 * METRO_AUDIT_HASH + 1];
		const void *c = sqlite3_column_blob(st, 3);
		int len = sqlite3_column_bytes(st, 3);
		crypto_hash_sha256_state h;
		unsigned char d[METRO_AUDIT_HASH];
		crypto_hash_sha256_init(&h);
		if (c && len > 0)
			crypto_hash_sha256_update(&h, c, (unsigned long long)len);
		crypto_hash_sha256_final(&h, d);
		metro_audit_hex(d, METRO_AUDIT_HASH, hex);
		const char *stored = (const char *)sqlite3_column_text(st, 2);
		if (!stored || strcmp(stored, hex) != 0) {
			int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 1);
			fail(v, "procedures", id, seq, "procedure-hash", seq ? seq : INT64_MAX,
			     "procedures row %lld: stored sha256 %.16s… is not the digest of its "
			     "content (%.16s…)",
			     (long long)id, stored ? stored : "(null)", hex);
		}
	}
	sqlite3_finalize(st);
}

/* A certificate number must never be issued twice: the sequence must be at or past every
 * number issued, or the next one would repeat. */
static void check_cert_sequence(struct vctx *v)
{
	sqlite3_stmt *st, *q;
	if (sqlite3_prepare_v2(v->db, "SELECT id, chain_seq, number FROM certificates", -1, &st,
			       NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT last FROM cert_sequence WHERE station = ? AND year = ?", -1,
			       &q, NULL) != SQLITE_OK) {
		fail(v, "cert_sequence", 0, 0, "schema", 0, "cannot read cert_sequence: %s",
		     sqlite3_errmsg(v->db));
		sqlite3_finalize(st);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *num = (const char *)sqlite3_column_text(st, 2);
		int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 1);
		size_t len = num ? strlen(num) : 0;
		/* <station>-<YYYY>-<NNNNNN...> */
		const char *dash2 = num ? strrchr(num, '-') : NULL;
		if (!dash2 || dash2 - num < 6 || dash2[-5] != '-' ||
		    len - (size_t)(dash2 - num) < 2)
			continue; /* not ours to judge: the row hash covers the text */
		char *station = metro_strndup(num, (size_t)(dash2 - 5 - num));
		long year = strtol(dash2 - 4, NULL, 10);
		long long n = strtoll(dash2 + 1, NULL, 10);
		sqlite3_bind_text(q, 1, station, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, year);
		long long last = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
		sqlite3_reset(q);
		if (last < n)
			fail(v, "cert_sequence", id, seq, "certificate-sequence",
			     seq ? seq : INT64_MAX,
			     "certificate %s (certificates row %lld) is beyond the sequence's last "
			     "number %lld for %s/%ld: a number could be issued twice",
			     num, (long long)id, last, station, year);
		free(station);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(q);
}

int metro_audit_verify(const struct metro_audit_opts *o, struct metro_audit_report *r)
{
	struct vctx v = {o, r, NULL, NULL, 0, 0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(r, 0, sizeof *r);
	if (sodium_init() < 0) {
		fail(&v, "", 0, 0, "open", 0, "libsodium cannot initialise");
		return METRO_E_IO;
	}
	char err[512];
	int rc = metro_audit_open_ro(o->db_path, &v.db, &r->schema_version, err, sizeof err);
	if (rc) {
		fail(&v, "", 0, 0, "open", 0, "%s", err);
		return rc;
	}
	r->trusted_key = o->npubkeys > 0;
	/* One read transaction: every check sees the same snapshot even if a writer is busy
	 * with the file (verifying a live database rather than a copy). */
	sqlite3_exec(v.db, "BEGIN", NULL, NULL, NULL);
	check_integrity(&v);
	int missing = 0;
	for (int i = 0; metro_audit_tables[i].name; i++) {
		const struct metro_audit_table *t = &metro_audit_tables[i];
		if (t->since > r->schema_version)
			continue;
		if (!table_exists(v.db, t->name)) {
			fail(&v, t->name, 0, 0, "schema", 0, "table %s is missing (dropped)",
			     t->name);
			missing++;
		}
	}
	if (!table_exists(v.db, "chain")) {
		fail(&v, "chain", 0, 0, "schema", 0, "table chain is missing (dropped)");
	} else {
		load_chain(&v);
		for (int i = 0; metro_audit_tables[i].name; i++) {
			if (metro_audit_tables[i].since > r->schema_version ||
			    !table_exists(v.db, metro_audit_tables[i].name))
				continue;
			check_table(&v, i);
			r->tables++;
		}
		if (!missing)
			check_claims(&v);
		struct metro_audit_checkpoint *cps;
		size_t ncp;
		check_checkpoints(&v, &cps, &ncp);
		r->checkpoints = (int64_t)ncp;
		if (ncp) {
			r->last = cps[ncp - 1];
			r->unsigned_tail = r->head_seq - r->last.chain_seq;
		} else {
			r->unsigned_tail = r->head_seq;
		}
		if (o->published)
			check_published(&v, cps, ncp);
		free(cps);
		check_procedures(&v);
		check_cert_sequence(&v);
	}
	if (!r->checkpoints) {
		if (o->strict)
			fail(&v, "checkpoints", 0, 0, "unsigned", INT64_MAX,
			     "no checkpoint: nothing in this database is signed");
		else
			warn(&v, "no checkpoint: nothing in this database is signed");
	} else if (r->unsigned_tail > 0) {
		if (o->strict)
			fail(&v, "chain", 0, r->last.chain_seq + 1, "unsigned", INT64_MAX,
			     "%lld chain records after the last checkpoint (records %lld..%lld) "
			     "are "
			     "not signed",
			     (long long)r->unsigned_tail, (long long)r->last.chain_seq + 1,
			     (long long)r->head_seq);
		else
			warn(&v,
			     "%lld chain records after the last checkpoint (records %lld..%lld) "
			     "are "
			     "not signed yet",
			     (long long)r->unsigned_tail, (long long)r->last.chain_seq + 1,
			     (long long)r->head_seq);
	}
	if (!o->npubkeys && r->checkpoints) {
		const char *m = "signatures were checked against the public key stored in the "
				"database: this shows the records are consistent, not who wrote "
				"them (anyone with write access can re-sign); give --pubkey FILE";
		if (o->strict)
			fail(&v, "", 0, 0, "untrusted-key", INT64_MAX, "%s", m);
		else
			warn(&v, "%s", m);
	}
	if (r->nfailures)
		qsort(r->failures, r->nfailures, sizeof *r->failures, by_order);
	free(v.chain);
	sqlite3_exec(v.db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(v.db);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return r->total_failures ? METRO_E_CORRUPT : METRO_OK;
}

void metro_audit_report_free(struct metro_audit_report *r)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	free(r->failures);
	memset(r, 0, sizeof *r);
}

static json_t *failure_json(const struct metro_audit_failure *f)
{
	json_t *j = json_pack("{ss ss ss}", "check", f->check, "table", f->table, "message",
			      f->message);
	json_object_set_new(j, "row", f->row ? json_integer(f->row) : json_null());
	json_object_set_new(j, "chain_seq",
			    f->chain_seq ? json_integer(f->chain_seq) : json_null());
	return j;
}

json_t *metro_audit_report_json(const struct metro_audit_report *r, int result)
{
	const char *res = result == METRO_OK	      ? "verified"
			  : result == METRO_E_CORRUPT ? "failed"
						      : "unreadable";
	json_t *j = json_pack(
		"{sb ss si sI sI sI s{sI ss} sI sI ss sb sI sf}", "ok", result == METRO_OK,
		"result", res, "schema_version", r->schema_version, "records",
		(json_int_t)r->records, "rows", (json_int_t)r->rows, "tables",
		(json_int_t)r->tables, "head", "seq", (json_int_t)r->head_seq, "hash", r->head_hash,
		"checkpoints", (json_int_t)r->checkpoints, "unsigned_tail",
		(json_int_t)r->unsigned_tail, "trust", r->trusted_key ? "pubkey" : "stored-key",
		"rollback_checked", r->rollback_checked, "failure_count",
		(json_int_t)r->total_failures, "seconds", r->seconds);
	if (r->checkpoints) {
		json_t *cp = metro_audit_checkpoint_json(&r->last);
		json_object_set_new(cp, "chain_seq", json_integer(r->last.chain_seq));
		json_object_set_new(j, "last_checkpoint", cp);
	} else {
		json_object_set_new(j, "last_checkpoint", json_null());
	}
	json_t *w = json_array(), *f = json_array();
	for (size_t i = 0; i < r->nwarnings; i++)
		json_array_append_new(w, json_string(r->warnings[i]));
	for (size_t i = 0; i < r->nfailures; i++)
		json_array_append_new(f, failure_json(&r->failures[i]));
	json_object_set_new(j, "warnings", w);
	json_object_set_new(j, "first_failure",
			    r->nfailures ? failure_json(&r->failures[0]) : json_null());
	json_object_set_new(j, "failures", f);
	return j;
}
