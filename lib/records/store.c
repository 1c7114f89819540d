/* store.c — the record store (see store.h, docs/records.md).
 *
 * Shape of a write: metro_store_tx_begin() (BEGIN IMMEDIATE, load the chain head), the
 * statements, each chained row followed by its chain record, then tx_end() which commits or
 * rolls back.  A chained row is written with chain_seq = head + 1, read back with SELECT * and
 * hashed from what SQLite returns, so the hash covers exactly the stored values (after STRICT
 * typing), by the same code the verifier runs.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "log.h"
#include "sha256.h"
#include "util.h"

/* Document seqs are reserved in blocks of this size, one durable write per block. */
#define SEQ_BLOCK 65536

struct stmt_cache {
	char *sql;
	sqlite3_stmt *st;
};

struct metro_store {
	sqlite3 *db;
	char *path;
	char *station;
	int readonly;
	int schema;
	int have_key;
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
	struct stmt_cache *cache;
	size_t ncache;
	int depth;  /* transaction nesting */
	int doomed; /* error that will roll the outermost transaction back */
	int64_t head_seq;
	unsigned char head_hash[METRO_AUDIT_HASH];
	int64_t seq_next, seq_reserved;
	int64_t *recovered;
	size_t nrecovered;
	char failed[512]; /* "" while healthy */
	char errmsg[512];
};

/* ---- schema -------------------------------------------------------------------------------- */

/* The schema is laid out as SQL, not as clang-format would lay out C strings. */
/* clang-format off */
/* Rows of these tables never change once written (the chain covers them as inserts only). */
#define IMMUTABLE(t)                                                                              \
	"CREATE TRIGGER " t "_no_update BEFORE UPDATE ON " t " BEGIN SELECT RAISE(ABORT, '" t     \
	" rows are immutable'); END;\n"                                                           \
	"CREATE TRIGGER " t "_no_delete BEFORE DELETE ON " t " BEGIN SELECT RAISE(ABORT, '" t     \
	" rows are immutable'); END;\n"
/* Rows of these tables change (each change is a new chain record) but never disappear. */
#define NO_DELETE(t)                                                                              \
	"CREATE TRIGGER " t "_no_delete BEFORE DELETE ON " t " BEGIN SELECT RAISE(ABORT, '" t     \
	" rows cannot be deleted'); END;\n"
#define JSON_OR_NULL(c) "CHECK (" c " IS NULL OR json_valid(" c "))"
/* An exact decimal as text: optional sign, digits, optional fraction. */
#define DECIMAL_OR_NULL(c)                                                                        \
	"CHECK (" c " IS NULL OR (" c " GLOB '[0-9]*' OR " c " GLOB '[-+][0-9]*') AND " c          \
	" NOT GLOB '?*[^0-9.]*' AND " c " NOT GLOB '*.*.*')"
#define VERDICTS "('pass', 'conditional', 'fail', 'aborted', 'error')"
#define HEX64(c) "CHECK (length(" c ") = 64)"

static const char SCHEMA_V1[] =
	/* The hash chain: one record per inserted or updated row of a chained table. */
	"CREATE TABLE chain (\n"
	"  seq INTEGER PRIMARY KEY,\n"
	"  tbl TEXT NOT NULL,\n"
	"  row_id INTEGER NOT NULL,\n"
	"  op TEXT NOT NULL CHECK (op IN ('insert', 'update')),\n"
	"  row_hash TEXT NOT NULL " HEX64("row_hash") ",\n"
	"  prev TEXT NOT NULL " HEX64("prev") ",\n"
	"  hash TEXT NOT NULL " HEX64("hash") "\n"
	") STRICT;\n" IMMUTABLE("chain")
	"CREATE TABLE stations (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  station TEXT NOT NULL UNIQUE,\n"
	"  name TEXT, institution TEXT, authorisation TEXT, address TEXT,\n"
	"  updated TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" NO_DELETE("stations")
	"CREATE TABLE audit_events (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  time TEXT NOT NULL,\n"
	"  actor TEXT NOT NULL CHECK (actor <> ''),\n"
	"  action TEXT NOT NULL CHECK (action <> ''),\n"
	"  subject TEXT,\n"
	"  old TEXT " JSON_OR_NULL("old") ",\n"
	"  new TEXT " JSON_OR_NULL("new") ",\n"
	"  why TEXT NOT NULL CHECK (why <> ''),\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("audit_events")
	/* The registry as it stands; history is in standard_changes and audit_events. */
	"CREATE TABLE standards (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  std_id TEXT NOT NULL UNIQUE CHECK (std_id <> ''),\n"
	"  description TEXT, serial TEXT, certificate TEXT, issuer TEXT,\n"
	"  calibrated TEXT, due TEXT NOT NULL CHECK (date(due) IS due),\n"
	"  uncertainty_pct REAL, k REAL, accuracy_class TEXT,\n"
	"  assessment_certificate TEXT,\n"
	"  assessment_due TEXT CHECK (assessment_due IS NULL OR date(assessment_due) IS "
	"assessment_due),\n"
	"  active INTEGER NOT NULL CHECK (active IN (0, 1)),\n"
	"  updated TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" NO_DELETE("standards")
	"CREATE TABLE standard_changes (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  std_id TEXT NOT NULL,\n"
	"  field TEXT NOT NULL,\n"
	"  old TEXT " JSON_OR_NULL("old") ",\n"
	"  new TEXT " JSON_OR_NULL("new") ",\n"
	"  audit_event INTEGER NOT NULL REFERENCES audit_events(id),\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("standard_changes")
	"CREATE INDEX standard_changes_std ON standard_changes(std_id);\n"
	"CREATE TABLE rigs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  rig TEXT NOT NULL UNIQUE,\n"
	"  kind TEXT NOT NULL, driver TEXT,\n"
	"  positions INTEGER NOT NULL CHECK (positions >= 1),\n"
	"  standards TEXT NOT NULL CHECK (json_valid(standards)),\n"
	"  simulated INTEGER NOT NULL CHECK (simulated IN (0, 1)),\n"
	"  updated TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" NO_DELETE("rigs")
	"CREATE TABLE procedures (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL,\n"
	"  sha256 TEXT NOT NULL UNIQUE " HEX64("sha256") ",\n"
	"  content TEXT NOT NULL,\n"
	"  registered TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("procedures")
	"CREATE TABLE software (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL, version TEXT NOT NULL,\n"
	"  exe_sha256 TEXT NOT NULL,\n"
	"  registered TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (name, version, exe_sha256)\n"
	") STRICT;\n" IMMUTABLE("software")
	"CREATE TABLE meters (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  serial TEXT NOT NULL CHECK (serial <> ''),\n"
	"  model TEXT, manufacturer TEXT, pattern_approval TEXT, accuracy_class TEXT,\n"
	"  nameplate TEXT " JSON_OR_NULL("nameplate") ",\n"
	"  registered TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("meters")
	"CREATE INDEX meters_serial ON meters(serial);\n"
	"CREATE TABLE runs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  station TEXT NOT NULL,\n"
	"  rig TEXT NOT NULL,\n"
	"  procedure INTEGER NOT NULL REFERENCES procedures(id),\n"
	"  software INTEGER NOT NULL REFERENCES software(id),\n"
	"  verification_type TEXT NOT NULL CHECK (verification_type <> ''),\n"
	"  operator TEXT NOT NULL CHECK (operator <> ''),\n"
	"  state TEXT NOT NULL CHECK (state IN ('running', 'done', 'stopped', 'aborted', 'error', "
	"'incomplete')),\n"
	"  simulated INTEGER NOT NULL CHECK (simulated IN (0, 1)),\n"
	"  started TEXT NOT NULL, started_mono INTEGER NOT NULL,\n"
	"  ended TEXT, ended_mono INTEGER, end_reason TEXT,\n"
	"  resumed_from INTEGER UNIQUE REFERENCES runs(id),\n"
	"  environment TEXT " JSON_OR_NULL("environment") ",\n"
	"  parameters TEXT " JSON_OR_NULL("parameters") ",\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" NO_DELETE("runs")
	"CREATE INDEX runs_state ON runs(state);\n"
	/* Copies, not references: the certificate fields as they were when the run started. */
	"CREATE TABLE run_standards (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  run INTEGER NOT NULL REFERENCES runs(id),\n"
	"  std_id TEXT NOT NULL,\n"
	"  description TEXT, serial TEXT, certificate TEXT, issuer TEXT,\n"
	"  calibrated TEXT, due TEXT NOT NULL,\n"
	"  uncertainty_pct REAL, k REAL, accuracy_class TEXT,\n"
	"  assessment_certificate TEXT, assessment_due TEXT,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (run, std_id)\n"
	") STRICT;\n" IMMUTABLE("run_standards")
	"CREATE TABLE positions (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  run INTEGER NOT NULL REFERENCES runs(id),\n"
	"  position INTEGER NOT NULL CHECK (position >= 1),\n"
	"  meter INTEGER NOT NULL REFERENCES meters(id),\n"
	"  verdict TEXT CHECK (verdict IS NULL OR verdict IN " VERDICTS "),\n"
	"  verdict_id INTEGER REFERENCES verdicts(id),\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (run, position)\n"
	") STRICT;\n" NO_DELETE("positions")
	"CREATE INDEX positions_meter ON positions(meter);\n"
	"CREATE TABLE points (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  run INTEGER NOT NULL,\n"
	"  position INTEGER NOT NULL,\n"
	"  test_point TEXT NOT NULL CHECK (test_point <> ''),\n"
	"  attempt INTEGER NOT NULL CHECK (attempt >= 1),\n"
	"  readings TEXT NOT NULL CHECK (json_valid(readings)),\n"
	"  intermediates TEXT " JSON_OR_NULL("intermediates") ",\n"
	"  environment TEXT " JSON_OR_NULL("environment") ",\n"
	"  error TEXT " DECIMAL_OR_NULL("error") ",\n"
	"  rounded TEXT " DECIMAL_OR_NULL("rounded") ",\n"
	"  mpe TEXT " DECIMAL_OR_NULL("mpe") ",\n"
	"  verdict TEXT CHECK (verdict IS NULL OR verdict IN " VERDICTS "),\n"
	"  rule TEXT,\n"
	"  recorded TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (run, position, test_point, attempt),\n"
	"  FOREIGN KEY (run, position) REFERENCES positions(run, position)\n"
	") STRICT;\n" IMMUTABLE("points")
	"CREATE TABLE verdicts (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  run INTEGER NOT NULL,\n"
	"  position INTEGER NOT NULL,\n"
	"  verdict TEXT NOT NULL CHECK (verdict IN " VERDICTS "),\n"
	"  failed_items TEXT " JSON_OR_NULL("failed_items") ",\n"
	"  rule TEXT,\n"
	"  corrects INTEGER UNIQUE REFERENCES verdicts(id),\n"
	"  actor TEXT NOT NULL CHECK (actor <> ''),\n"
	"  why TEXT,\n"
	"  decided TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  CHECK (corrects IS NULL OR why <> ''),\n"
	"  FOREIGN KEY (run, position) REFERENCES positions(run, position)\n"
	") STRICT;\n"
	"CREATE TRIGGER verdicts_no_update BEFORE UPDATE ON verdicts BEGIN SELECT RAISE(ABORT, "
	"'verdicts are immutable: record a correction instead'); END;\n"
	"CREATE TRIGGER verdicts_no_delete BEFORE DELETE ON verdicts BEGIN SELECT RAISE(ABORT, "
	"'verdicts are immutable: record a correction instead'); END;\n"
	"CREATE INDEX verdicts_position ON verdicts(run, position);\n"
	"CREATE TABLE inputs (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  run INTEGER NOT NULL REFERENCES runs(id),\n"
	"  position INTEGER,\n"
	"  prompt TEXT NOT NULL CHECK (prompt <> ''),\n"
	"  answer TEXT NOT NULL,\n"
	"  operator TEXT NOT NULL CHECK (operator <> ''),\n"
	"  answered TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("inputs")
	"CREATE TABLE checkpoints (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  epoch INTEGER NOT NULL UNIQUE CHECK (epoch >= 1),\n"
	"  station TEXT NOT NULL,\n"
	"  time TEXT NOT NULL,\n"
	"  head_seq INTEGER NOT NULL CHECK (head_seq >= 0),\n"
	"  head_hash TEXT NOT NULL " HEX64("head_hash") ",\n"
	"  pubkey TEXT NOT NULL " HEX64("pubkey") ",\n"
	"  signature TEXT NOT NULL CHECK (length(signature) = 128),\n"
	"  short_id TEXT NOT NULL UNIQUE,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("checkpoints")
	/* The last certificate number issued per station and year: only ever rises. */
	"CREATE TABLE cert_sequence (\n"
	"  station TEXT NOT NULL,\n"
	"  year INTEGER NOT NULL,\n"
	"  last INTEGER NOT NULL CHECK (last >= 1),\n"
	"  PRIMARY KEY (station, year)\n"
	") STRICT, WITHOUT ROWID;\n"
	"CREATE TRIGGER cert_sequence_rises BEFORE UPDATE ON cert_sequence WHEN NEW.last <= OLD.last"
	" OR NEW.station IS NOT OLD.station OR NEW.year IS NOT OLD.year BEGIN SELECT RAISE(ABORT, "
	"'certificate numbers are never reused'); END;\n"
	"CREATE TRIGGER cert_sequence_no_delete BEFORE DELETE ON cert_sequence BEGIN SELECT "
	"RAISE(ABORT, 'certificate numbers are never reused'); END;\n"
	"CREATE TABLE certificates (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  number TEXT NOT NULL UNIQUE,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('certificate', 'notice')),\n"
	"  run INTEGER NOT NULL,\n"
	"  position INTEGER NOT NULL,\n"
	"  verdict INTEGER NOT NULL REFERENCES verdicts(id),\n"
	"  issued TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  FOREIGN KEY (run, position) REFERENCES positions(run, position)\n"
	") STRICT;\n" IMMUTABLE("certificates");

/* Version 2: the submitting organisation of a run (a certificate field), and published
 * documents for replay with the durable seq counter.  The new runs column is NULL in older
 * rows, and NULL columns are not part of a row's encoding, so their chain hashes still hold. */
static const char SCHEMA_V2[] =
	"ALTER TABLE runs ADD COLUMN client TEXT;\n"
	"CREATE TABLE counters (\n"
	"  name TEXT PRIMARY KEY,\n"
	"  value INTEGER NOT NULL\n"
	") STRICT;\n"
	"CREATE TABLE documents (\n"
	"  seq INTEGER PRIMARY KEY,\n"
	"  topic TEXT NOT NULL,\n"
	"  time TEXT NOT NULL,\n"
	"  body TEXT NOT NULL CHECK (json_valid(body))\n"
	") STRICT;\n" IMMUTABLE("documents");

static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{1, SCHEMA_V1},
	{2, SCHEMA_V2},
};

/* clang-format on */

_Static_assert(sizeof migrations / sizeof migrations[0] == METRO_STORE_SCHEMA,
	       "one migration step per schema version");

/* ---- small helpers ------------------------------------------------------------------------- */

static void setmsg(struct metro_store *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void setmsg(struct metro_store *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
}

static int refuse(struct metro_store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(struct metro_store *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

static int empty(const char *p)
{
	return !p || !*p;
}

/* Wall-clock time as ISO 8601 UTC with microseconds: a label, never used for durations. */
static void now_iso(char buf[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static void today(struct metro_date *d, char buf[11])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	d->year = tm.tm_year + 1900;
	d->month = tm.tm_mon + 1;
	d->day = tm.tm_mday;
	snprintf(buf, 11, "%04d-%02d-%02d", d->year % 10000, d->month % 100, d->day % 100);
}

/* The store decides here which SQLite failures are the caller's (a constraint: the record was
 * refused, the store is fine) and which are the file's or the disk's: those fail closed. */
static int sqlfail(struct metro_store *s, int rc, const char *what)
{
	const char *m = sqlite3_errmsg(s->db);
	int prim = rc & 0xff;
	if (prim == SQLITE_CONSTRAINT) {
		setmsg(s, "%s refused: %s", what, m);
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
			       ? METRO_E_EXISTS
			       : METRO_E_INVAL;
	}
	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED) {
		setmsg(s, "%s: the database is locked by another process (%s)", what, m);
		return METRO_E_TIMEOUT;
	}
	if (prim == SQLITE_TOOBIG || prim == SQLITE_MISMATCH || prim == SQLITE_RANGE) {
		setmsg(s, "%s refused: %s", what, m);
		return METRO_E_INVAL;
	}
	if (s->readonly) {
		setmsg(s, "%s: %s (%s)", what, sqlite3_errstr(rc), m);
		return METRO_E_IO;
	}
	if (!s->failed[0]) {
		snprintf(
			s->failed, sizeof s->failed,
			"%s: %s (%s, SQLite code %d): the record store refuses writes until metrod "
			"restarts",
			what, sqlite3_errstr(rc), m, rc);
		metro_err("store %s failed closed: %s", s->path, s->failed);
	}
	setmsg(s, "%s", s->failed);
	return METRO_E_IO;
}

/* A cached prepared statement, reset and unbound.  Statements are reset again after use so no
 * read snapshot stays open (it would hold back WAL checkpoints). */
static sqlite3_stmt *prep(struct metro_store *s, const char *sql)
{
	for (size_t i = 0; i < s->ncache; i++) {
		if (!strcmp(s->cache[i].sql, sql)) {
			sqlite3_reset(s->cache[i].st);
			sqlite3_clear_bindings(s->cache[i].st);
			return s->cache[i].st;
		}
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		sqlfail(s, rc, "prepare");
		return NULL;
	}
	s->cache = metro_realloc(s->cache, (s->ncache + 1) * sizeof *s->cache);
	s->cache[s->ncache].sql = metro_strdup(sql);
	s->cache[s->ncache].st = st;
	s->ncache++;
	return st;
}

static char *dump_json(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
					 JSON_REAL_PRECISION(15))
		 : NULL;
}

/* Bind a JSON scalar by type (string, real, integer, null); anything else as JSON text. */
static void bind_value(sqlite3_stmt *st, int idx, const json_t *v)
{
	if (!v || json_is_null(v))
		sqlite3_bind_null(st, idx);
	else if (json_is_string(v))
		sqlite3_bind_text(st, idx, json_string_value(v), (int)json_string_length(v),
				  SQLITE_TRANSIENT);
	else if (json_is_integer(v))
		sqlite3_bind_int64(st, idx, json_integer_value(v));
	else if (json_is_real(v))
		sqlite3_bind_double(st, idx, json_real_value(v));
	else if (json_is_boolean(v))
		sqlite3_bind_int(st, idx, json_is_true(v));
	else
		sqlite3_bind_text(st, idx, dump_json(v), -1, free);
}

/* Bind arguments to the statement's parameters in order, skipping index `skip`.  Formats:
 * t text (NULL binds NULL), i int, l int64_t, z int64_t with 0 meaning NULL, d double,
 * j const json_t * stored as JSON text (NULL binds NULL), v const json_t * scalar by type,
 * n NULL (no argument). */
static void bindv(sqlite3_stmt *st, int skip, const char *fmt, va_list ap)
{
	int idx = 1;
	for (const char *f = fmt; *f; f++, idx++) {
		if (idx == skip)
			idx++;
		switch (*f) {
		case 't': {
			const char *v = va_arg(ap, const char *);
			if (v)
				sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
			else
				sqlite3_bind_null(st, idx);
			break;
		}
		case 'i':
			sqlite3_bind_int(st, idx, va_arg(ap, int));
			break;
		case 'l':
			sqlite3_bind_int64(st, idx, va_arg(ap, int64_t));
			break;
		case 'z': {
			int64_t v = va_arg(ap, int64_t);
			if (v)
				sqlite3_bind_int64(st, idx, v);
			else
				sqlite3_bind_null(st, idx);
			break;
		}
		case 'd':
			sqlite3_bind_double(st, idx, va_arg(ap, double));
			break;
		case 'j': {
			char *t = dump_json(va_arg(ap, const json_t *));
			if (t)
				sqlite3_bind_text(st, idx, t, -1, free);
			else
				sqlite3_bind_null(st, idx);
			break;
		}
		case 'v':
			bind_value(st, idx, va_arg(ap, const json_t *));
			break;
		default: /* 'n' */
			sqlite3_bind_null(st, idx);
			break;
		}
	}
}

/* Prepare (cached) and bind; the caller steps and must sqlite3_reset.  NULL on error. */
static sqlite3_stmt *query(struct metro_store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, 0, fmt, ap);
	va_end(ap);
	return st;
}

/* Run a statement that returns nothing. */
static int exec1(struct metro_store *s, const char *what, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = sqlfail(s, rc, what);
	sqlite3_reset(st);
	return err;
}

/* One integer from the first row: 0, METRO_E_NOTFOUND (no row) or an error. */
static int query_int(struct metro_store *s, int64_t *out, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : sqlfail(s, rc, "query");
	sqlite3_reset(st);
	return err;
}

/* One text value (copied, caller frees) from the first row. */
static int query_text(struct metro_store *s, char **out, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = prep(s, sql);
	*out = NULL;
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		*out = t ? metro_strdup(t) : NULL;
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : sqlfail(s, rc, "query");
	}
	sqlite3_reset(st);
	return err;
}

/* ---- the chain ----------------------------------------------------------------------------- */

static int load_head(struct metro_store *s)
{
	sqlite3_stmt *st = prep(s, "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1");
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	s->head_seq = 0;
	memset(s->head_hash, 0, sizeof s->head_hash);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		s->head_seq = sqlite3_column_int64(st, 0);
		if (!h || metro_audit_unhex(h, strlen(h), s->head_hash, METRO_AUDIT_HASH))
			err = refuse(s, METRO_E_CORRUPT,
				     "chain record %lld has a malformed hash: the store will not "
				     "extend a damaged chain (run metroctl audit verify)",
				     (long long)s->head_seq);
	} else if (rc != SQLITE_DONE) {
		err = sqlfail(s, rc, "reading the chain head");
	}
	sqlite3_reset(st);
	return err;
}

/* Append the chain record of row_id of table, which was just written with chain_seq = seq. */
static int chain_add(struct metro_store *s, const char *table, int64_t row_id, int op, int64_t seq)
{
	const struct metro_audit_table *t = metro_audit_table(table);
	char sql[128];
	unsigned char rh[METRO_AUDIT_HASH], link[METRO_AUDIT_HASH];
	const char *why = NULL;
	snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE %s = ?", t->name, t->key);
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return METRO_E_IO;
	sqlite3_bind_int64(st, 1, row_id);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_ROW)
		err = rc == SQLITE_DONE ? refuse(s, METRO_E_NOTFOUND, "%s row %lld vanished", table,
						 (long long)row_id)
					: sqlfail(s, rc, "reading a row back");
	else if (metro_audit_hash_row(st, t->name, t->key, rh, &why))
		err = refuse(s, METRO_E_CORRUPT, "%s row %lld cannot be encoded: %s", table,
			     (long long)row_id, why);
	sqlite3_reset(st);
	if (err)
		return err;
	metro_audit_link_hash(seq, op, table, row_id, rh, s->head_hash, link);
	char rhx[65], prevx[65], linkx[65];
	metro_audit_hex(rh, METRO_AUDIT_HASH, rhx);
	metro_audit_hex(s->head_hash, METRO_AUDIT_HASH, prevx);
	metro_audit_hex(link, METRO_AUDIT_HASH, linkx);
	err = exec1(s, "chain record",
		    "INSERT INTO chain (seq, tbl, row_id, op, row_hash, prev, hash) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?)",
		    "ltltttt", seq, table, row_id, op == METRO_AUDIT_INSERT ? "insert" : "update",
		    rhx, prevx, linkx);
	if (err)
		return err;
	s->head_seq = seq;
	memcpy(s->head_hash, link, METRO_AUDIT_HASH);
	return METRO_OK;
}

/* Step a bound statement that writes one row of a chained table and chain it.  For an insert
 * row_id is taken from SQLite; for an update it must be given and exactly one row change. */
static int finish_chained(struct metro_store *s, sqlite3_stmt *st, const char *table, int op,
			  int64_t row_id, int64_t seq, int64_t *id)
{
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_DONE)
		err = sqlfail(s, rc, table);
	else if (op == METRO_AUDIT_UPDATE && sqlite3_changes(s->db) != 1)
		err = refuse(s, METRO_E_NOTFOUND, "%s row %lld does not exist", table,
			     (long long)row_id);
	sqlite3_reset(st);
	if (err)
		return err;
	if (op == METRO_AUDIT_INSERT)
		row_id = sqlite3_last_insert_rowid(s->db);
	err = chain_add(s, table, row_id, op, seq);
	if (!err && id)
		*id = row_id;
	return err;
}

/* Insert (op INSERT) or update (op UPDATE, row_id given) a row of a chained table.  The SQL
 * names the chain_seq value :chain_seq; the other parameters are bound from fmt in order. */
static int write_chained(struct metro_store *s, const char *table, int op, int64_t row_id,
			 int64_t *id, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return METRO_E_IO;
	int cs = sqlite3_bind_parameter_index(st, ":chain_seq");
	int64_t seq = s->head_seq + 1;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, cs, fmt, ap);
	va_end(ap);
	sqlite3_bind_int64(st, cs, seq);
	return finish_chained(s, st, table, op, row_id, seq, id);
}

/* ---- transactions -------------------------------------------------------------------------- */

static void rollback_now(struct metro_store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	/* Seqs handed out in the rolled-back transaction are skipped, never reused: force a
	 * fresh durable reservation before the next one. */
	s->seq_reserved = 0;
	s->doomed = 0;
	s->depth = 0;
}

int metro_store_tx_begin(struct metro_store *s)
{
	if (s->readonly)
		return refuse(s, METRO_E_STATE, "the record store is open read-only");
	if (s->failed[0])
		return refuse(s, METRO_E_IO, "%s", s->failed);
	if (s->depth > 0) {
		if (s->doomed)
			return s->doomed;
		s->depth++;
		return METRO_OK;
	}
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return sqlfail(s, rc, "begin transaction");
	s->depth = 1;
	s->doomed = 0;
	int err = load_head(s);
	if (err)
		rollback_now(s);
	return err;
}

/* End one level of transaction with the result of the work done in it. */
static int tx_end(struct metro_store *s, int err)
{
	if (s->depth == 0)
		return err;
	if (err && !s->doomed)
		s->doomed = err;
	if (--s->depth > 0)
		return err;
	if (s->doomed) {
		int e = s->doomed;
		rollback_now(s);
		return e;
	}
	int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = sqlfail(s, rc, "commit");
		rollback_now(s);
		return err;
	}
	return METRO_OK;
}

int metro_store_tx_commit(struct metro_store *s)
{
	if (s->depth == 0)
		return refuse(s, METRO_E_STATE, "commit without a transaction");
	return tx_end(s, METRO_OK);
}

void metro_store_tx_rollback(struct metro_store *s)
{
	if (s->depth == 0)
		return;
	if (s->depth > 1) {
		s->depth--;
		if (!s->doomed)
			s->doomed =
				refuse(s, METRO_E_STATE, "an inner transaction was rolled back");
		return;
	}
	rollback_now(s);
}

/* ---- audit events -------------------------------------------------------------------------- */

static int audit_event(struct metro_store *s, const char *actor, const char *action,
		       const char *subject, const json_t *old_value, const json_t *new_value,
		       const char *why, int64_t *id)
{
	char now[40];
	if (empty(actor) || empty(action) || empty(why))
		return refuse(s, METRO_E_INVAL,
			      "an audit event needs an actor, an action and a "
			      "reason");
	now_iso(now);
	return write_chained(
		s, "audit_events", METRO_AUDIT_INSERT, 0, id,
		"INSERT INTO audit_events (time, actor, action, subject, old, new, why, "
		"chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, :chain_seq)",
		"ttttjjt", now, actor, action, subject, old_value, new_value, why);
}

int metro_store_audit(struct metro_store *s, const char *actor, const char *action,
		      const char *subject, const json_t *old_value, const json_t *new_value,
		      const char *why, int64_t *id)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, audit_event(s, actor, action, subject, old_value, new_value, why, id));
}

/* ---- registry: generic audited upsert ------------------------------------------------------ */

/* A column value as JSON (what the audit event shows as old/new). */
static json_t *col_json(sqlite3_stmt *st, int c)
{
	switch (sqlite3_column_type(st, c)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, c));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, c));
	case SQLITE_TEXT: {
		const char *t = (const char *)sqlite3_column_text(st, c);
		json_t *j = json_stringn(t, (size_t)sqlite3_column_bytes(st, c));
		return j ? j : json_null();
	}
	case SQLITE_NULL:
		return json_null();
	default: {
		char *hex = metro_malloc(2 * (size_t)sqlite3_column_bytes(st, c) + 1);
		metro_audit_hex(sqlite3_column_blob(st, c), (size_t)sqlite3_column_bytes(st, c),
				hex);
		json_t *j = json_string(hex);
		free(hex);
		return j;
	}
	}
}

struct upsert {
	const char *table;  /* a mutable chained table */
	const char *keycol; /* its natural key column */
	const char *key;
	const char *const *fields;
	size_t nf;
	json_t **vals;	  /* new values, nf of them (borrowed) */
	const char *kind; /* "standard": action names and subject */
	const char *actor, *why;
	int changes_rows; /* also write standard_changes rows */
};

/* Insert the row or update the fields that differ, with an audit event naming the old and
 * new values of each changed field.  *changed (may be NULL) tells whether anything changed. */
static int upsert_audited(struct metro_store *s, const struct upsert *u, int *changed)
{
	char *sql;
	size_t nf = u->nf;
	json_t **old = metro_calloc(nf, sizeof(json_t *));
	int64_t row_id = 0;
	int exists = 0, err = METRO_OK;
	if (changed)
		*changed = 0;

	/* SELECT id, f1, f2 ... FROM table WHERE keycol = ? */
	size_t len = 64 + strlen(u->table) + strlen(u->keycol);
	for (size_t i = 0; i < nf; i++)
		len += strlen(u->fields[i]) + 2;
	sql = metro_malloc(len);
	int n = snprintf(sql, len, "SELECT id");
	for (size_t i = 0; i < nf; i++)
		n += snprintf(sql + n, len - (size_t)n, ", %s", u->fields[i]);
	snprintf(sql + n, len - (size_t)n, " FROM %s WHERE %s = ?", u->table, u->keycol);
	sqlite3_stmt *st = query(s, sql, "t", u->key);
	free(sql);
	if (!st) {
		free(old);
		return METRO_E_IO;
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		exists = 1;
		row_id = sqlite3_column_int64(st, 0);
		for (size_t i = 0; i < nf; i++)
			old[i] = col_json(st, (int)i + 1);
	} else if (rc != SQLITE_DONE) {
		err = sqlfail(s, rc, u->table);
	}
	sqlite3_reset(st);

	json_t *jo = json_object(), *jn = json_object();
	size_t ndiff = 0;
	for (size_t i = 0; !err && i < nf; i++) {
		json_t *nv = u->vals[i] ? u->vals[i] : json_null();
		json_t *ov = old[i] ? old[i] : json_null();
		if (exists && json_equal(ov, nv))
			continue;
		if (!exists && json_is_null(nv))
			continue;
		json_object_set(jo, u->fields[i], ov);
		json_object_set(jn, u->fields[i], nv);
		ndiff++;
	}
	if (!err && (ndiff || !exists)) {
		char now[40];
		now_iso(now);
		/* INSERT INTO t (keycol, f..., updated, chain_seq) VALUES (?, ?..., ?, :chain_seq)
		 * UPDATE t SET f = ?, ..., updated = ?, chain_seq = :chain_seq WHERE id = ? */
		len = 128 + strlen(u->table) + strlen(u->keycol);
		for (size_t i = 0; i < nf; i++)
			len += strlen(u->fields[i]) + 8;
		sql = metro_malloc(len);
		if (exists) {
			n = snprintf(sql, len, "UPDATE %s SET ", u->table);
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, "%s = ?, ", u->fields[i]);
			snprintf(sql + n, len - (size_t)n,
				 "updated = ?, chain_seq = :chain_seq WHERE id = ?");
		} else {
			n = snprintf(sql, len, "INSERT INTO %s (%s", u->table, u->keycol);
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, ", %s", u->fields[i]);
			n += snprintf(sql + n, len - (size_t)n, ", updated, chain_seq) VALUES (?");
			for (size_t i = 0; i < nf; i++)
				n += snprintf(sql + n, len - (size_t)n, ", ?");
			snprintf(sql + n, len - (size_t)n, ", ?, :chain_seq)");
		}
		st = prep(s, sql);
		free(sql);
		if (!st) {
			err = METRO_E_IO;
		} else {
			int idx = 1;
			if (!exists)
				sqlite3_bind_text(st, idx++, u->key, -1, SQLITE_TRANSIENT);
			for (size_t i = 0; i < nf; i++)
				bind_value(st, idx++, u->vals[i]);
			sqlite3_bind_text(st, idx++, now, -1, SQLITE_TRANSIENT);
			int cs = sqlite3_bind_parameter_index(st, ":chain_seq");
			int64_t seq = s->head_seq + 1;
			sqlite3_bind_int64(st, cs, seq);
			if (exists)
				sqlite3_bind_int64(st, cs + 1, row_id);
			err = finish_chained(s, st, u->table,
					     exists ? METRO_AUDIT_UPDATE : METRO_AUDIT_INSERT,
					     row_id, seq, NULL);
		}
		int64_t ev = 0;
		char *action = metro_asprintf("%s.%s", u->kind, exists ? "change" : "add");
		char *subject = metro_asprintf("%s/%s", u->kind, u->key);
		if (!err)
			err = audit_event(s, u->actor, action, subject, exists ? jo : NULL, jn,
					  u->why, &ev);
		free(action);
		free(subject);
		for (size_t i = 0; !err && u->changes_rows && i < nf; i++) {
			json_t *nv = json_object_get(jn, u->fields[i]);
			if (!nv)
				continue;
			json_t *ov = json_object_get(jo, u->fields[i]);
			err = write_chained(
				s, "standard_changes", METRO_AUDIT_INSERT, 0, NULL,
				"INSERT INTO standard_changes (std_id, field, old, new, "
				"audit_event, chain_seq) VALUES (?, ?, ?, ?, ?, "
				":chain_seq)",
				"ttjjl", u->key, u->fields[i],
				exists && !json_is_null(ov) ? ov : NULL,
				json_is_null(nv) ? NULL : nv, ev);
		}
		if (!err && changed)
			*changed = 1;
	}
	json_decref(jo);
	json_decref(jn);
	for (size_t i = 0; i < nf; i++)
		json_decref(old[i]);
	free(old);
	return err;
}

static json_t *jstr(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

static json_t *jdate(const struct metro_date *d)
{
	if (!d->year)
		return json_null();
	char buf[16];
	snprintf(buf, sizeof buf, "%04d-%02d-%02d", d->year % 10000, d->month % 100, d->day % 100);
	return json_string(buf);
}

static const char *const std_fields[] = {
	"description",	   "serial",
	"certificate",	   "issuer",
	"calibrated",	   "due",
	"uncertainty_pct", "k",
	"accuracy_class",  "assessment_certificate",
	"assessment_due",  "active",
};
#define NSTD (sizeof std_fields / sizeof std_fields[0])

static void std_values(const struct metro_standard_conf *c, json_t *v[NSTD], int active)
{
	int cls = c->accuracy_class != NULL;
	v[0] = jstr(c->description);
	v[1] = jstr(c->serial);
	v[2] = jstr(c->certificate);
	v[3] = jstr(c->issuer);
	v[4] = jdate(&c->calibrated);
	v[5] = jdate(&c->due);
	v[6] = cls ? json_null() : json_real(c->uncertainty_pct);
	v[7] = cls || c->k == 0 ? json_null() : json_real(c->k);
	v[8] = jstr(c->accuracy_class);
	v[9] = jstr(c->assessment_certificate);
	v[10] = jdate(&c->assessment_due);
	v[11] = json_integer(active);
}

static int apply_standard(struct metro_store *s, const struct metro_standard_conf *c,
			  const char *actor, const char *why)
{
	if (empty(c->id))
		return refuse(s, METRO_E_INVAL, "a standard needs an id");
	if (!c->due.year)
		return refuse(s, METRO_E_INVAL, "standard %s has no due date", c->id);
	json_t *v[NSTD];
	std_values(c, v, 1);
	struct upsert u = {"standards", "std_id",   c->id, std_fields, NSTD,
			   v,		"standard", actor, why,	       1};
	int err = upsert_audited(s, &u, NULL);
	for (size_t i = 0; i < NSTD; i++)
		json_decref(v[i]);
	return err;
}

/* Retire the active standards whose ids are not in keep[0..n). */
static int retire_standards(struct metro_store *s, const struct metro_standard_conf *keep, size_t n,
			    const char *actor, const char *why)
{
	sqlite3_stmt *st =
		query(s, "SELECT std_id FROM standards WHERE active = 1 ORDER BY id", "");
	if (!st)
		return METRO_E_IO;
	char **gone = NULL;
	size_t ngone = 0;
	int rc, err = METRO_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		size_t i = 0;
		while (i < n && (!keep[i].id || strcmp(keep[i].id, id) != 0))
			i++;
		if (i == n) {
			gone = metro_realloc(gone, (ngone + 1) * sizeof *gone);
			gone[ngone++] = metro_strdup(id);
		}
	}
	if (rc != SQLITE_DONE)
		err = sqlfail(s, rc, "standards");
	sqlite3_reset(st);
	for (size_t i = 0; i < ngone; i++) {
		static const char *const f[] = {"active"};
		json_t *v = json_integer(0);
		struct upsert u = {"standards", "std_id",   gone[i], f,	  1,
				   &v,		"standard", actor,   why, 1};
		if (!err)
			err = upsert_audited(s, &u, NULL);
		json_decref(v);
		free(gone[i]);
	}
	free(gone);
	return err;
}

int metro_store_sync_standards(struct metro_store *s, const struct metro_standard_conf *std,
			       size_t n)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	for (size_t i = 0; !err && i < n; i++)
		err = apply_standard(s, &std[i], "config", "configuration load");
	if (!err)
		err = retire_standards(s, std, n, "config", "configuration load");
	return tx_end(s, err);
}

int metro_store_standard_change(struct metro_store *s, const struct metro_standard_conf *std,
				const char *actor, const char *why)
{
	if (empty(actor) || empty(why))
		return refuse(s, METRO_E_INVAL, "a change of a standard needs who and why");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, apply_standard(s, std, actor, why));
}

static int apply_station(struct metro_store *s, const struct metro_store_station *st,
			 const char *actor, const char *why)
{
	static const char *const f[] = {"name", "institution", "authorisation", "address"};
	if (empty(st->id))
		return refuse(s, METRO_E_INVAL, "a station needs an id");
	json_t *v[4] = {jstr(st->name), jstr(st->institution), jstr(st->authorisation),
			jstr(st->address)};
	struct upsert u = {"stations", "station", st->id, f, 4, v, "station", actor, why, 0};
	int err = upsert_audited(s, &u, NULL);
	for (int i = 0; i < 4; i++)
		json_decref(v[i]);
	return err;
}

int metro_store_station(struct metro_store *s, const struct metro_store_station *st,
			const char *actor, const char *why)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, apply_station(s, st, actor, why));
}

static int apply_rig(struct metro_store *s, const struct metro_store_rig *r, const char *actor,
		     const char *why)
{
	static const char *const f[] = {"kind", "driver", "positions", "standards", "simulated"};
	if (empty(r->id))
		return refuse(s, METRO_E_INVAL, "a rig needs an id");
	json_t *ids = json_array();
	for (size_t i = 0; i < r->nstandards; i++)
		json_array_append_new(ids, jstr(r->standards[i]));
	char *text = dump_json(ids);
	json_decref(ids);
	json_t *v[5] = {json_string(metro_rig_kind_name(r->kind)), jstr(r->driver),
			json_integer(r->positions), json_string(text),
			json_integer(!!r->simulated)};
	free(text);
	struct upsert u = {"rigs", "rig", r->id, f, 5, v, "rig", actor, why, 0};
	int err = upsert_audited(s, &u, NULL);
	for (int i = 0; i < 5; i++)
		json_decref(v[i]);
	return err;
}

int metro_store_rig(struct metro_store *s, const struct metro_store_rig *r, const char *actor,
		    const char *why)
{
	if (empty(actor) || empty(why))
		return refuse(s, METRO_E_INVAL, "a rig change needs who and why");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, apply_rig(s, r, actor, why));
}

int metro_store_sync_registry(struct metro_store *s, const struct metro_store_registry *c)
{
	static const char actor[] = "config", why[] = "configuration load";
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = apply_station(s, &c->station, actor, why);
	for (size_t i = 0; !err && i < c->nstandards; i++)
		err = apply_standard(s, &c->standards[i], actor, why);
	if (!err)
		err = retire_standards(s, c->standards, c->nstandards, actor, why);
	for (size_t i = 0; !err && i < c->nrigs; i++)
		err = apply_rig(s, &c->rigs[i], actor, why);
	return tx_end(s, err);
}

int metro_store_procedure(struct metro_store *s, const char *name, const char *content, size_t len,
			  const char *sha256, int64_t *id)
{
	char hex[METRO_SHA256_HEX], now[40];
	if (empty(name) || !content)
		return refuse(s, METRO_E_INVAL, "a procedure needs a name and its content");
	if (memchr(content, '\0', len))
		return refuse(s, METRO_E_INVAL, "procedure %s: content contains a NUL byte", name);
	metro_sha256_hex(content, len, hex);
	if (sha256 && strcasecmp(sha256, hex) != 0)
		return refuse(s, METRO_E_CORRUPT,
			      "procedure %s: content has SHA-256 %s, not the %s it was loaded with",
			      name, hex, sha256);
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	int64_t found;
	err = query_int(s, &found, "SELECT id FROM procedures WHERE sha256 = ?", "t", hex);
	if (!err) {
		*id = found;
		return tx_end(s, METRO_OK);
	}
	if (err != METRO_E_NOTFOUND)
		return tx_end(s, err);
	now_iso(now);
	char *text = metro_strndup(content, len);
	err = write_chained(s, "procedures", METRO_AUDIT_INSERT, 0, id,
			    "INSERT INTO procedures (name, sha256, content, registered, chain_seq) "
			    "VALUES (?, ?, ?, ?, :chain_seq)",
			    "tttt", name, hex, text, now);
	free(text);
	return tx_end(s, err);
}

/* ---- runs ---------------------------------------------------------------------------------- */

static int software_id(struct metro_store *s, const char *version, const char *sha, int64_t *id)
{
	char now[40];
	int err = query_int(s, id,
			    "SELECT id FROM software WHERE name = 'metrod' AND version = ? AND "
			    "exe_sha256 = ?",
			    "tt", version, sha);
	if (err != METRO_E_NOTFOUND)
		return err;
	now_iso(now);
	return write_chained(s, "software", METRO_AUDIT_INSERT, 0, id,
			     "INSERT INTO software (name, version, exe_sha256, registered, "
			     "chain_seq) VALUES ('metrod', ?, ?, ?, :chain_seq)",
			     "ttt", version, sha, now);
}

static int meter_id(struct metro_store *s, const struct metro_store_meter *m, int64_t *id)
{
	char now[40];
	char *np = dump_json(m->nameplate);
	int err = query_int(s, id,
			    "SELECT id FROM meters WHERE serial = ? AND model IS ? AND "
			    "manufacturer IS ? AND pattern_approval IS ? AND accuracy_class IS ? "
			    "AND nameplate IS ? ORDER BY id LIMIT 1",
			    "tttttt", m->serial, m->model, m->manufacturer, m->pattern_approval,
			    m->accuracy_class, np);
	if (err == METRO_E_NOTFOUND) {
		now_iso(now);
		err = write_chained(s, "meters", METRO_AUDIT_INSERT, 0, id,
				    "INSERT INTO meters (serial, model, manufacturer, "
				    "pattern_approval, accuracy_class, nameplate, registered, "
				    "chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, :chain_seq)",
				    "ttttttt", m->serial, m->model, m->manufacturer,
				    m->pattern_approval, m->accuracy_class, np, now);
	}
	free(np);
	return err;
}

/* A standard the run needs: in the registry, active, and neither it nor its assessment
 * certificate past due on the run date. */
static int check_standard(struct metro_store *s, const char *id, const char *day)
{
	sqlite3_stmt *st = query(s,
				 "SELECT certificate, due, assessment_certificate, assessment_due "
				 "FROM standards WHERE std_id = ? AND active = 1",
				 "t", id);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		const char *cert = (const char *)sqlite3_column_text(st, 0);
		const char *due = (const char *)sqlite3_column_text(st, 1);
		const char *acert = (const char *)sqlite3_column_text(st, 2);
		const char *adue = (const char *)sqlite3_column_text(st, 3);
		/* ISO dates compare as text. */
		if (due && strcmp(due, day) < 0)
			err = refuse(s, METRO_E_DENIED,
				     "standard %s (certificate %s) was due %s; the run date is %s: "
				     "recalibrate it or update the registry",
				     id, cert ? cert : "?", due, day);
		else if (adue && strcmp(adue, day) < 0)
			err = refuse(
				s, METRO_E_DENIED,
				"standard %s: its assessment certificate %s was due %s; the run "
				"date is %s",
				id, acert ? acert : "?", adue, day);
	} else {
		err = rc == SQLITE_DONE
			      ? refuse(s, METRO_E_NOTFOUND,
				       "standard %s is not in the registry (or was retired)", id)
			      : sqlfail(s, rc, "standards");
	}
	sqlite3_reset(st);
	return err;
}

static int begin_run(struct metro_store *s, const struct metro_store_run *r, int64_t *run_id)
{
	char now[40], day[11];
	struct metro_date d;
	int64_t sw, rid, x;
	int err;
	now_iso(now);
	today(&d, day);
	err = query_int(s, &x, "SELECT id FROM procedures WHERE id = ?", "l", r->procedure);
	if (err == METRO_E_NOTFOUND)
		return refuse(s, err, "procedure %lld is not registered", (long long)r->procedure);
	if (err)
		return err;
	if (r->resumed_from) {
		char *state = NULL, *rig = NULL;
		int64_t proc = 0;
		err = query_text(s, &state, "SELECT state FROM runs WHERE id = ?", "l",
				 r->resumed_from);
		if (!err)
			err = query_text(s, &rig, "SELECT rig FROM runs WHERE id = ?", "l",
					 r->resumed_from);
		if (!err)
			err = query_int(s, &proc, "SELECT procedure FROM runs WHERE id = ?", "l",
					r->resumed_from);
		if (err == METRO_E_NOTFOUND)
			err = refuse(s, err, "run %lld does not exist", (long long)r->resumed_from);
		else if (!err && strcmp(state, "incomplete") != 0)
			err = refuse(s, METRO_E_STATE,
				     "run %lld is %s: only an incomplete run can be resumed",
				     (long long)r->resumed_from, state);
		else if (!err && (strcmp(rig, r->rig) != 0 || proc != r->procedure))
			err = refuse(s, METRO_E_INVAL,
				     "run %lld used rig %s and procedure %lld: a resume must use "
				     "the same",
				     (long long)r->resumed_from, rig, (long long)proc);
		else if (!err && !query_int(s, &x, "SELECT id FROM runs WHERE resumed_from = ?",
					    "l", r->resumed_from))
			err = refuse(s, METRO_E_EXISTS, "run %lld was already resumed by run %lld",
				     (long long)r->resumed_from, (long long)x);
		free(state);
		free(rig);
		if (err)
			return err;
	}
	for (size_t i = 0; i < r->nstandards; i++)
		if ((err = check_standard(s, r->standards[i], day)))
			return err;
	if ((err = software_id(s, r->software_version, r->software_sha256, &sw)))
		return err;
	/* Schema 1 has no client column (only tests write schema 1 files). */
	err = write_chained(
		s, "runs", METRO_AUDIT_INSERT, 0, &rid,
		s->schema >= 2
			? "INSERT INTO runs (station, rig, procedure, software, "
			  "verification_type, operator, state, simulated, started, "
			  "started_mono, resumed_from, environment, parameters, client, "
			  "chain_seq) VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, "
			  "?, :chain_seq)"
			: "INSERT INTO runs (station, rig, procedure, software, "
			  "verification_type, operator, state, simulated, started, "
			  "started_mono, resumed_from, environment, parameters, chain_seq) "
			  "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, :chain_seq)",
		s->schema >= 2 ? "ttllttitlzjjt" : "ttllttitlzjj", s->station, r->rig, r->procedure,
		sw, r->verification_type, r->operator_id, !!r->simulated, now,
		(int64_t)metro_now_ns(), r->resumed_from, r->environment, r->parameters, r->client);
	/* Copy, do not reference: the run keeps the certificate data it was verified under. */
	for (size_t i = 0; !err && i < r->nstandards; i++)
		err = write_chained(
			s, "run_standards", METRO_AUDIT_INSERT, 0, NULL,
			"INSERT INTO run_standards (run, std_id, description, serial, "
			"certificate, issuer, calibrated, due, uncertainty_pct, k, "
			"accuracy_class, assessment_certificate, assessment_due, "
			"chain_seq) SELECT ?, std_id, description, serial, certificate, "
			"issuer, calibrated, due, uncertainty_pct, k, accuracy_class, "
			"assessment_certificate, assessment_due, :chain_seq FROM "
			"standards WHERE std_id = ?",
			"lt", rid, r->standards[i]);
	for (size_t i = 0; !err && i < r->nmeters; i++) {
		int64_t mid;
		err = meter_id(s, &r->meters[i], &mid);
		if (!err)
			err = write_chained(
				s, "positions", METRO_AUDIT_INSERT, 0, NULL,
				"INSERT INTO positions (run, position, meter, chain_seq) "
				"VALUES (?, ?, ?, :chain_seq)",
				"lil", rid, r->meters[i].position, mid);
	}
	if (!err && r->resumed_from) {
		json_t *o = json_pack("{sI}", "run", (json_int_t)r->resumed_from);
		json_t *n = json_pack("{sI}", "run", (json_int_t)rid);
		char subject[48], why[96];
		snprintf(subject, sizeof subject, "run/%lld", (long long)rid);
		snprintf(why, sizeof why, "resume-run of incomplete run %lld",
			 (long long)r->resumed_from);
		err = audit_event(s, r->operator_id, "run.resume", subject, o, n, why, NULL);
		json_decref(o);
		json_decref(n);
	}
	if (!err)
		*run_id = rid;
	return err;
}

int metro_store_run_begin(struct metro_store *s, const struct metro_store_run *r, int64_t *run)
{
	if (empty(r->rig) || empty(r->operator_id) || empty(r->verification_type) ||
	    empty(r->software_version) || empty(r->software_sha256))
		return refuse(s, METRO_E_INVAL,
			      "a run needs a rig, an operator, a verification type and the "
			      "software identification");
	if (!r->nstandards || !r->nmeters)
		return refuse(s, METRO_E_INVAL, "a run needs at least one standard and one meter");
	for (size_t i = 0; i < r->nmeters; i++) {
		if (r->meters[i].position < 1 || empty(r->meters[i].serial))
			return refuse(s, METRO_E_INVAL,
				      "meter %zu: a position from 1 and a serial number are needed",
				      i + 1);
		for (size_t j = 0; j < i; j++)
			if (r->meters[j].position == r->meters[i].position)
				return refuse(s, METRO_E_INVAL, "two meters on position %d",
					      r->meters[i].position);
	}
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, begin_run(s, r, run));
}

/* The state of a run: 0 and *state (caller frees) or METRO_E_NOTFOUND with a message. */
static int run_state(struct metro_store *s, int64_t run, char **state)
{
	int err = query_text(s, state, "SELECT state FROM runs WHERE id = ?", "l", run);
	if (err == METRO_E_NOTFOUND)
		return refuse(s, err, "run %lld does not exist", (long long)run);
	return err;
}

static int valid_verdict(const char *v)
{
	static const char *const ok[] = {"pass", "conditional", "fail", "aborted", "error"};
	for (size_t i = 0; v && i < METRO_ARRAY_SIZE(ok); i++)
		if (!strcmp(v, ok[i]))
			return 1;
	return 0;
}

int metro_store_point(struct metro_store *s, const struct metro_store_point *p, int64_t *id)
{
	char now[40], *state = NULL;
	if (p->run < 1 || p->position < 1 || empty(p->test_point) || p->attempt < 1 || !p->readings)
		return refuse(s, METRO_E_INVAL,
			      "a point needs a run, a position, a test point id, an attempt from "
			      "1 and its raw readings");
	if (p->verdict && !valid_verdict(p->verdict))
		return refuse(s, METRO_E_INVAL, "'%s' is not a verdict", p->verdict);
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, p->run, &state);
	if (!err && strcmp(state, "running") != 0)
		err = refuse(s, METRO_E_STATE,
			     "run %lld is %s: points are recorded only while a run is running",
			     (long long)p->run, state);
	free(state);
	now_iso(now);
	if (!err)
		err = write_chained(
			s, "points", METRO_AUDIT_INSERT, 0, id,
			"INSERT INTO points (run, position, test_point, attempt, "
			"readings, intermediates, environment, error, rounded, mpe, "
			"verdict, rule, recorded, chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, "
			"?, ?, ?, ?, ?, ?, :chain_seq)",
			"litijjjtttttt", p->run, p->position, p->test_point, p->attempt,
			p->readings, p->intermediates, p->environment, p->error, p->rounded, p->mpe,
			p->verdict, p->rule, now);
	return tx_end(s, err);
}

/* The position's current verdict (one that no other verdict corrects): 0 and *id, *verdict
 * (caller frees), or METRO_E_NOTFOUND. */
static int current_verdict(struct metro_store *s, int64_t run, int position, int64_t *id,
			   char **verdict)
{
	sqlite3_stmt *st = query(s,
				 "SELECT v.id, v.verdict FROM verdicts v WHERE v.run = ? AND "
				 "v.position = ? AND NOT EXISTS (SELECT 1 FROM verdicts c WHERE "
				 "c.corrects = v.id) ORDER BY v.id DESC LIMIT 1",
				 "li", run, position);
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		const char *v = (const char *)sqlite3_column_text(st, 1);
		*verdict = metro_strdup(v ? v : "");
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : sqlfail(s, rc, "verdicts");
	}
	sqlite3_reset(st);
	return err;
}

static int record_verdict(struct metro_store *s, const struct metro_store_verdict *v, int64_t *out)
{
	char now[40], *state = NULL, *cur_v = NULL;
	int64_t cur = 0, pos_id = 0, vid = 0;
	int err = run_state(s, v->run, &state);
	if (err)
		return err;
	err = query_int(s, &pos_id, "SELECT id FROM positions WHERE run = ? AND position = ?", "li",
			v->run, v->position);
	if (err == METRO_E_NOTFOUND)
		err = refuse(s, err, "run %lld has no position %d", (long long)v->run, v->position);
	int have = 0;
	if (!err) {
		err = current_verdict(s, v->run, v->position, &cur, &cur_v);
		have = !err;
		if (err == METRO_E_NOTFOUND)
			err = METRO_OK;
	}
	if (!err && !v->corrects) {
		if (have)
			err = refuse(s, METRO_E_EXISTS,
				     "run %lld position %d already has verdict %lld (%s): record a "
				     "correction that names it",
				     (long long)v->run, v->position, (long long)cur, cur_v);
		else if (strcmp(state, "running") != 0)
			err = refuse(s, METRO_E_STATE,
				     "run %lld is %s: a first verdict needs a running run",
				     (long long)v->run, state);
	} else if (!err) {
		if (!have || cur != v->corrects)
			err = refuse(s, METRO_E_STATE,
				     "verdict %lld is not the current verdict of run %lld position "
				     "%d (%s): a correction must name the current one",
				     (long long)v->corrects, (long long)v->run, v->position,
				     have ? "its current one is another" : "it has none");
	}
	now_iso(now);
	if (!err)
		err = write_chained(
			s, "verdicts", METRO_AUDIT_INSERT, 0, &vid,
			"INSERT INTO verdicts (run, position, verdict, failed_items, rule, "
			"corrects, actor, why, decided, chain_seq) VALUES (?, ?, ?, ?, ?, "
			"?, ?, ?, ?, :chain_seq)",
			"litjtzttt", v->run, v->position, v->verdict, v->failed_items, v->rule,
			v->corrects, v->actor, v->why, now);
	if (!err)
		err = write_chained(s, "positions", METRO_AUDIT_UPDATE, pos_id, NULL,
				    "UPDATE positions SET verdict = ?, verdict_id = ?, chain_seq = "
				    ":chain_seq WHERE id = ?",
				    "tll", v->verdict, vid, pos_id);
	if (!err && v->corrects) {
		json_t *o = json_pack("{sIss}", "verdict_id", (json_int_t)cur, "verdict", cur_v);
		json_t *n =
			json_pack("{sIss}", "verdict_id", (json_int_t)vid, "verdict", v->verdict);
		char subject[64];
		snprintf(subject, sizeof subject, "run/%lld/position/%d", (long long)v->run,
			 v->position);
		err = audit_event(s, v->actor, "verdict.correct", subject, o, n, v->why, NULL);
		json_decref(o);
		json_decref(n);
	}
	free(state);
	free(cur_v);
	if (!err && out)
		*out = vid;
	return err;
}

int metro_store_verdict(struct metro_store *s, const struct metro_store_verdict *v, int64_t *id)
{
	if (v->run < 1 || v->position < 1 || !valid_verdict(v->verdict) || empty(v->actor))
		return refuse(s, METRO_E_INVAL,
			      "a verdict needs a run, a position, one of pass, conditional, fail, "
			      "aborted, error, and who decided it");
	if (v->corrects && empty(v->why))
		return refuse(s, METRO_E_INVAL, "a correction needs a reason");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, record_verdict(s, v, id));
}

int metro_store_input(struct metro_store *s, const struct metro_store_input *in, int64_t *id)
{
	char now[40], *state = NULL;
	if (in->run < 1 || in->position < 0 || empty(in->prompt) || !in->answer ||
	    empty(in->operator_id))
		return refuse(s, METRO_E_INVAL,
			      "an input needs a run, the prompt, the answer and who answered");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, in->run, &state);
	free(state);
	now_iso(now);
	if (!err)
		err = write_chained(s, "inputs", METRO_AUDIT_INSERT, 0, id,
				    "INSERT INTO inputs (run, position, prompt, answer, operator, "
				    "answered, chain_seq) VALUES (?, ?, ?, ?, ?, ?, :chain_seq)",
				    "lztttt", in->run, (int64_t)in->position, in->prompt,
				    in->answer, in->operator_id, now);
	return tx_end(s, err);
}

int metro_store_run_end(struct metro_store *s, int64_t run, const char *state, const char *reason)
{
	static const char *const ok[] = {"done", "stopped", "aborted", "error"};
	char now[40], *cur = NULL;
	size_t i = 0;
	while (state && i < METRO_ARRAY_SIZE(ok) && strcmp(state, ok[i]) != 0)
		i++;
	if (!state || i == METRO_ARRAY_SIZE(ok))
		return refuse(s, METRO_E_INVAL,
			      "'%s' is not an end state (done, stopped, aborted, "
			      "error)",
			      state ? state : "(null)");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = run_state(s, run, &cur);
	if (!err && strcmp(cur, "running") != 0)
		err = refuse(s, METRO_E_STATE, "run %lld is %s, not running", (long long)run, cur);
	free(cur);
	now_iso(now);
	if (!err)
		err = write_chained(s, "runs", METRO_AUDIT_UPDATE, run, NULL,
				    "UPDATE runs SET state = ?, ended = ?, ended_mono = ?, "
				    "end_reason = ?, chain_seq = :chain_seq WHERE id = ?",
				    "ttltl", state, now, (int64_t)metro_now_ns(), reason, run);
	return tx_end(s, err);
}

/* ---- certificates, seqs, documents --------------------------------------------------------- */

int metro_store_certificate(struct metro_store *s, int64_t run, int position,
			    char number[METRO_STORE_CERT_MAX])
{
	char now[40], *verdict = NULL;
	int64_t vid = 0, last = 0;
	number[0] = '\0';
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = current_verdict(s, run, position, &vid, &verdict);
	if (err == METRO_E_NOTFOUND)
		err = refuse(s, METRO_E_STATE, "run %lld position %d has no verdict",
			     (long long)run, position);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	int year = tm.tm_year + 1900;
	if (!err)
		err = exec1(s, "certificate sequence",
			    "INSERT INTO cert_sequence (station, year, last) VALUES (?, ?, 1) "
			    "ON CONFLICT (station, year) DO UPDATE SET last = last + 1",
			    "ti", s->station, year);
	if (!err)
		err = query_int(s, &last,
				"SELECT last FROM cert_sequence WHERE station = ? AND year = ?",
				"ti", s->station, year);
	if (!err) {
		snprintf(number, METRO_STORE_CERT_MAX, "%s-%04d-%06lld", s->station, year,
			 (long long)last);
		now_iso(now);
		err = write_chained(
			s, "certificates", METRO_AUDIT_INSERT, 0, NULL,
			"INSERT INTO certificates (number, kind, run, position, verdict, "
			"issued, chain_seq) VALUES (?, ?, ?, ?, ?, ?, :chain_seq)",
			"ttlilt", number,
			verdict && !strcmp(verdict, "pass") ? "certificate" : "notice", run,
			position, vid, now);
	}
	free(verdict);
	err = tx_end(s, err);
	if (err)
		number[0] = '\0';
	return err;
}

static int next_seq(struct metro_store *s, int64_t *seq)
{
	if (s->seq_next > s->seq_reserved) {
		int64_t upto = s->seq_next + SEQ_BLOCK - 1;
		int err = exec1(s, "seq reservation",
				"INSERT INTO counters (name, value) VALUES ('publish_seq', ?) ON "
				"CONFLICT (name) DO UPDATE SET value = excluded.value",
				"l", upto);
		if (err)
			return err;
		s->seq_reserved = upto;
	}
	*seq = s->seq_next++;
	return METRO_OK;
}

int metro_store_next_seq(struct metro_store *s, int64_t *seq)
{
	if (s->seq_next <= s->seq_reserved && !s->failed[0] && !s->readonly) {
		*seq = s->seq_next++;
		return METRO_OK;
	}
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, next_seq(s, seq));
}

static int store_document(struct metro_store *s, const char *topic, json_t *doc, int64_t *out)
{
	char now[40];
	int64_t seq;
	if (empty(topic) || !json_is_object(doc))
		return refuse(s, METRO_E_INVAL, "a document needs a topic and a JSON object");
	int err = next_seq(s, &seq);
	if (err)
		return err;
	json_object_set_new(doc, "seq", json_integer(seq));
	now_iso(now);
	err = exec1(s, "document",
		    "INSERT INTO documents (seq, topic, time, body) VALUES (?, ?, ?, ?)", "lttj",
		    seq, topic, now, doc);
	if (!err && out)
		*out = seq;
	return err;
}

int metro_store_document(struct metro_store *s, const char *topic, json_t *doc, int64_t *seq)
{
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	return tx_end(s, store_document(s, topic, doc, seq));
}

int metro_store_replay(struct metro_store *s, int64_t from, size_t limit, json_t **out)
{
	*out = NULL;
	if (s->schema < 2)
		return refuse(s, METRO_E_UNSUPPORTED, "schema version %d stores no documents",
			      s->schema);
	sqlite3_stmt *st =
		query(s,
		      "SELECT seq, topic, body FROM documents WHERE seq >= ? ORDER BY seq "
		      "LIMIT ?",
		      "ll", from, (int64_t)(limit ? limit : 1000));
	if (!st)
		return METRO_E_IO;
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *doc = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		json_array_append_new(a, json_pack("{sI ss so}", "seq",
						   (json_int_t)sqlite3_column_int64(st, 0), "topic",
						   (const char *)sqlite3_column_text(st, 1), "doc",
						   doc ? doc : json_null()));
	}
	int err = rc == SQLITE_DONE ? METRO_OK : sqlfail(s, rc, "replay");
	sqlite3_reset(st);
	if (err)
		json_decref(a);
	else
		*out = a;
	return err;
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static int make_checkpoint(struct metro_store *s, json_t **doc)
{
	struct metro_audit_checkpoint last, cp;
	int err = metro_audit_checkpoint_load(s->db, 0, &last);
	if (err && err != METRO_E_NOTFOUND)
		return refuse(s, err == METRO_E_IO ? METRO_E_IO : METRO_E_CORRUPT,
			      "cannot read the last checkpoint: %s", sqlite3_errmsg(s->db));
	if (!err && last.chain_seq == s->head_seq)
		return METRO_OK; /* nothing new to sign */
	memset(&cp, 0, sizeof cp);
	metro_strlcpy(cp.station, s->station, sizeof cp.station);
	cp.epoch = err ? 1 : last.epoch + 1;
	cp.head_seq = s->head_seq;
	memcpy(cp.head_hash, s->head_hash, METRO_AUDIT_HASH);
	now_iso(cp.time);
	if (metro_audit_checkpoint_sign(&cp, s->sk))
		return refuse(s, METRO_E_INVAL, "checkpoint cannot be encoded");
	char hh[65], pk[65], sig[129];
	metro_audit_hex(cp.head_hash, METRO_AUDIT_HASH, hh);
	metro_audit_hex(cp.pubkey, METRO_AUDIT_PUBKEY, pk);
	metro_audit_hex(cp.signature, METRO_AUDIT_SIG, sig);
	err = write_chained(
		s, "checkpoints", METRO_AUDIT_INSERT, 0, &cp.row_id,
		"INSERT INTO checkpoints (epoch, station, time, head_seq, head_hash, "
		"pubkey, signature, short_id, chain_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
		":chain_seq)",
		"lttltttt", cp.epoch, cp.station, cp.time, cp.head_seq, hh, pk, sig, cp.short_id);
	if (err)
		return err;
	cp.chain_seq = s->head_seq;
	json_t *d = metro_audit_checkpoint_json(&cp);
	if (s->schema >= 2)
		err = store_document(s, "audit", d, NULL);
	if (err)
		json_decref(d);
	else
		*doc = d;
	return err;
}

int metro_store_checkpoint(struct metro_store *s, json_t **doc)
{
	*doc = NULL;
	if (!s->have_key)
		return refuse(s, METRO_E_STATE, "no station key: the store is open read-only");
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	err = tx_end(s, make_checkpoint(s, doc));
	if (err && *doc) {
		json_decref(*doc);
		*doc = NULL;
	}
	return err;
}

/* ---- keys ---------------------------------------------------------------------------------- */

/* path with its extension (after the last '.' of the last component) replaced by ext. */
static char *replace_ext(const char *path, const char *ext)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash + 1 : path, '.');
	size_t n = dot && dot != (slash ? slash + 1 : path) ? (size_t)(dot - path) : strlen(path);
	char *base = metro_strndup(path, n);
	char *out = metro_asprintf("%s%s", base, ext);
	free(base);
	return out;
}

static int write_new_file(const char *path, const char *text, mode_t mode, char *err, size_t cap)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		snprintf(err, cap, "%s: cannot create: %s", path, strerror(errno));
		return METRO_E_IO;
	}
	size_t len = strlen(text);
	/* fchmod: the umask may only narrow the mode, but say exactly what we mean. */
	int ok = fchmod(fd, mode) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	int e = errno;
	if (close(fd) != 0)
		ok = 0;
	if (!ok) {
		snprintf(err, cap, "%s: cannot write: %s", path, strerror(e));
		unlink(path);
		return METRO_E_IO;
	}
	return METRO_OK;
}

static void fsync_dir(const char *path)
{
	char *dir = metro_dirname(path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

/* Load the station key pair, or create it when neither file exists.  *created tells which. */
static int load_key(struct metro_store *s, const char *keyp, const char *pubp, int *created,
		    char *err, size_t cap)
{
	struct stat sb;
	unsigned char seed[crypto_sign_SEEDBYTES], pk[METRO_AUDIT_PUBKEY];
	char hex[2 * crypto_sign_SEEDBYTES + 2];
	int rc = METRO_OK;
	*created = 0;
	if (stat(keyp, &sb) == 0) {
		if (sb.st_mode & 077) {
			snprintf(err, cap,
				 "%s: mode %04o lets others read the station key: it must be 0600 "
				 "(chmod 600 %s; consider the key compromised if others read it)",
				 keyp, (unsigned)(sb.st_mode & 07777), keyp);
			return METRO_E_DENIED;
		}
		char *text;
		size_t len;
		rc = metro_read_file(keyp, 4096, &text, &len);
		if (rc) {
			snprintf(err, cap, "%s: cannot read the station key", keyp);
			return rc;
		}
		while (len && strchr(" \t\r\n", text[len - 1]))
			len--;
		rc = metro_audit_unhex(text, len, seed, sizeof seed);
		sodium_memzero(text, len);
		free(text);
		if (rc) {
			snprintf(err, cap, "%s: not a station key (64 hex digits expected)", keyp);
			return METRO_E_INVAL;
		}
		crypto_sign_seed_keypair(s->pk, s->sk, seed);
		sodium_memzero(seed, sizeof seed);
		rc = metro_audit_read_pubkey(pubp, pk);
		if (rc == METRO_E_NOTFOUND) {
			char phex[2 * METRO_AUDIT_PUBKEY + 2];
			metro_audit_hex(s->pk, METRO_AUDIT_PUBKEY, phex);
			strcat(phex, "\n");
			rc = write_new_file(pubp, phex, 0644, err, cap);
		} else if (rc) {
			snprintf(err, cap, "%s: not a public key (64 hex digits expected)", pubp);
		} else if (memcmp(pk, s->pk, METRO_AUDIT_PUBKEY) != 0) {
			snprintf(err, cap,
				 "%s does not match %s: a published key that does not verify the "
				 "checkpoints would be worthless; restore the right pair",
				 pubp, keyp);
			rc = METRO_E_CORRUPT;
		}
		return rc;
	}
	if (errno != ENOENT) {
		snprintf(err, cap, "%s: %s", keyp, strerror(errno));
		return METRO_E_IO;
	}
	if (stat(pubp, &sb) == 0) {
		snprintf(err, cap,
			 "%s exists but the secret key %s does not: restore the key, or move the "
			 "old public key aside (keep it: it verifies the old checkpoints) to start "
			 "a new key",
			 pubp, keyp);
		return METRO_E_DENIED;
	}
	randombytes_buf(seed, sizeof seed);
	crypto_sign_seed_keypair(s->pk, s->sk, seed);
	metro_audit_hex(seed, sizeof seed, hex);
	sodium_memzero(seed, sizeof seed);
	strcat(hex, "\n");
	rc = write_new_file(keyp, hex, 0600, err, cap);
	sodium_memzero(hex, sizeof hex);
	if (!rc) {
		char phex[2 * METRO_AUDIT_PUBKEY + 2];
		metro_audit_hex(s->pk, METRO_AUDIT_PUBKEY, phex);
		strcat(phex, "\n");
		rc = write_new_file(pubp, phex, 0644, err, cap);
		if (rc)
			unlink(keyp);
	}
	if (!rc) {
		fsync_dir(keyp);
		*created = 1;
	}
	return rc;
}

/* ---- open, migrate, recover, close --------------------------------------------------------- */

static int migrate(struct metro_store *s, int target, char *err, size_t cap)
{
	int64_t v = 0, ntables = 0;
	if (query_int(s, &v, "PRAGMA user_version", "") ||
	    query_int(s, &ntables, "SELECT count(*) FROM sqlite_schema", "")) {
		snprintf(err, cap, "%s: cannot read: %s", s->path, s->errmsg);
		return METRO_E_IO;
	}
	if (v > METRO_STORE_SCHEMA) {
		snprintf(err, cap,
			 "%s: schema version %lld is newer than this metrod knows (%d): refusing "
			 "to open it; run the metrod that wrote it, or a newer one",
			 s->path, (long long)v, METRO_STORE_SCHEMA);
		return METRO_E_UNSUPPORTED;
	}
	int64_t from = v;
	if (v == 0 && ntables > 0) {
		snprintf(err, cap,
			 "%s: not a metrod record store (an SQLite file with other tables)",
			 s->path);
		return METRO_E_UNSUPPORTED;
	}
	for (size_t i = 0; i < METRO_ARRAY_SIZE(migrations); i++) {
		int to = migrations[i].version;
		if (to <= v || to > target)
			continue;
		char *e = NULL;
		char *sql =
			metro_asprintf("BEGIN IMMEDIATE;\n%s\nPRAGMA user_version = %d;\nCOMMIT;",
				       migrations[i].sql, to);
		int rc = sqlite3_exec(s->db, sql, NULL, NULL, &e);
		free(sql);
		if (rc != SQLITE_OK) {
			snprintf(err, cap, "%s: migration to schema version %d failed: %s", s->path,
				 to, e ? e : sqlite3_errstr(rc));
			sqlite3_free(e);
			if (!sqlite3_get_autocommit(s->db))
				sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR
				       ? METRO_E_IO
				       : METRO_E_CORRUPT;
		}
		v = to;
	}
	if (from && v != from)
		metro_notice("store %s: migrated schema from version %lld to %lld", s->path,
			     (long long)from, (long long)v);
	s->schema = (int)v;
	return METRO_OK;
}

/* Runs left `running` were interrupted (crash, kill, power loss): mark them `incomplete`, an
 * audit event each, never resume them silently.  Also record key creation and key changes. */
static int recover(struct metro_store *s, int key_created, const char *keyp)
{
	struct metro_audit_checkpoint last;
	char subject[80], now[40];
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	snprintf(subject, sizeof subject, "station/%s", s->station);
	if (key_created) {
		json_t *n = json_pack("{ssss}", "pubkey", s->pk_hex, "key_file", keyp);
		err = audit_event(s, "metrod", "station.key-created", subject, NULL, n,
				  "no station key: created on first open", NULL);
		json_decref(n);
	}
	if (!err && !metro_audit_checkpoint_load(s->db, 0, &last) &&
	    memcmp(last.pubkey, s->pk, METRO_AUDIT_PUBKEY) != 0) {
		char old[65];
		metro_audit_hex(last.pubkey, METRO_AUDIT_PUBKEY, old);
		json_t *o = json_pack("{ss}", "pubkey", old),
		       *n = json_pack("{ss}", "pubkey", s->pk_hex);
		err = audit_event(s, "metrod", "station.key-changed", subject, o, n,
				  "the station key differs from the key of the last checkpoint: "
				  "older checkpoints verify only with the old public key",
				  NULL);
		json_decref(o);
		json_decref(n);
	}
	int64_t *ids = NULL;
	size_t n = 0;
	sqlite3_stmt *st = err ? NULL : query(s, "SELECT id FROM runs WHERE state = 'running'", "");
	if (st) {
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			ids = metro_realloc(ids, (n + 1) * sizeof *ids);
			ids[n++] = sqlite3_column_int64(st, 0);
		}
		if (rc != SQLITE_DONE)
			err = sqlfail(s, rc, "runs");
		sqlite3_reset(st);
	} else if (!err) {
		err = METRO_E_IO;
	}
	now_iso(now);
	for (size_t i = 0; !err && i < n; i++) {
		/* The monotonic clock of the crashed boot is gone: no ended_mono. */
		err = write_chained(
			s, "runs", METRO_AUDIT_UPDATE, ids[i], NULL,
			"UPDATE runs SET state = 'incomplete', ended = ?, end_reason = ?, "
			"chain_seq = :chain_seq WHERE id = ?",
			"ttl", now, "interrupted: found running when the store was opened", ids[i]);
		json_t *o = json_pack("{ss}", "state", "running");
		json_t *nw = json_pack("{ss}", "state", "incomplete");
		snprintf(subject, sizeof subject, "run/%lld", (long long)ids[i]);
		if (!err)
			err = audit_event(s, "metrod", "run.incomplete", subject, o, nw,
					  "found running when the store was opened: interrupted by "
					  "a crash, kill or power loss; never resumed silently",
					  NULL);
		json_decref(o);
		json_decref(nw);
		if (!err)
			metro_warn("store: run %lld was interrupted; marked incomplete",
				   (long long)ids[i]);
	}
	err = tx_end(s, err);
	if (err)
		free(ids);
	else {
		s->recovered = ids;
		s->nrecovered = n;
	}
	return err;
}

static int init_seq(struct metro_store *s)
{
	int64_t reserved = 0, maxdoc = 0;
	if (s->schema < 2)
		return METRO_OK;
	int err = query_int(s, &reserved, "SELECT value FROM counters WHERE name = 'publish_seq'",
			    "");
	if (err && err != METRO_E_NOTFOUND)
		return err;
	err = query_int(s, &maxdoc, "SELECT coalesce(max(seq), 0) FROM documents", "");
	if (err)
		return err;
	s->seq_next = (reserved > maxdoc ? reserved : maxdoc) + 1;
	s->seq_reserved = 0;
	return METRO_OK;
}

static int open_rw(struct metro_store *s, const struct metro_store_opts *o, char *err, size_t cap)
{
	int rc = sqlite3_open_v2(o->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, cap, "%s: cannot open: %s", o->path,
			 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		return METRO_E_IO;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	/* WAL for readers beside the writer; synchronous=FULL so a commit that returned survives
	 * power loss (NORMAL could lose the last transactions, which would then have been
	 * published and missing). */
	char *mode = NULL;
	if (query_text(s, &mode, "PRAGMA journal_mode = WAL", "") || !mode ||
	    strcasecmp(mode, "wal") != 0) {
		snprintf(err, cap, "%s: cannot switch to WAL mode (%s)", o->path,
			 mode ? mode : s->errmsg);
		free(mode);
		return METRO_E_IO;
	}
	free(mode);
	char *e = NULL;
	rc = sqlite3_exec(s->db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", NULL, NULL,
			  &e);
	int64_t fk = 0, sync = 0;
	if (rc != SQLITE_OK || query_int(s, &fk, "PRAGMA foreign_keys", "") ||
	    query_int(s, &sync, "PRAGMA synchronous", "") || fk != 1 || sync != 2) {
		snprintf(err, cap, "%s: cannot set foreign_keys and synchronous=FULL: %s", o->path,
			 e ? e : s->errmsg);
		sqlite3_free(e);
		return METRO_E_IO;
	}
	return METRO_OK;
}

int metro_store_open(const struct metro_store_opts *o, struct metro_store **out, char *err,
		     size_t cap)
{
	*out = NULL;
	err[0] = '\0';
	if (sodium_init() < 0) {
		snprintf(err, cap, "libsodium cannot initialise");
		return METRO_E_IO;
	}
	if (!o->path || !*o->path) {
		snprintf(err, cap, "no database path");
		return METRO_E_INVAL;
	}
	if (!o->readonly &&
	    (!o->station || !*o->station || strlen(o->station) > 63 || strchr(o->station, '/'))) {
		snprintf(err, cap,
			 "a writable record store needs the station id (1..63 bytes, no /)");
		return METRO_E_INVAL;
	}
	struct metro_store *s = metro_calloc(1, sizeof *s);
	s->path = metro_strdup(o->path);
	s->station = metro_strdup(o->station ? o->station : "");
	s->readonly = o->readonly;
	int rc;
	if (o->readonly) {
		rc = metro_audit_open_ro(o->path, &s->db, &s->schema, err, cap);
		if (!rc)
			sqlite3_extended_result_codes(s->db, 1);
		if (!rc)
			*out = s;
		else
			metro_store_close(&s);
		return rc;
	}
	char *keyp = o->key_path ? metro_strdup(o->key_path) : replace_ext(o->path, ".key");
	char *pubp;
	size_t kl = strlen(keyp);
	if (o->pub_path)
		pubp = metro_strdup(o->pub_path);
	else if (kl > 4 && !strcmp(keyp + kl - 4, ".key"))
		pubp = metro_asprintf("%.*s.pub", (int)(kl - 4), keyp);
	else
		pubp = metro_asprintf("%s.pub", keyp);
	int created = 0;
	rc = open_rw(s, o, err, cap);
	if (!rc)
		rc = migrate(s, o->max_schema > 0 ? o->max_schema : METRO_STORE_SCHEMA, err, cap);
	if (!rc)
		rc = load_key(s, keyp, pubp, &created, err, cap);
	if (!rc) {
		s->have_key = 1;
		metro_audit_hex(s->pk, METRO_AUDIT_PUBKEY, s->pk_hex);
		rc = recover(s, created, keyp);
		if (rc)
			snprintf(err, cap, "%s: recovery failed: %s", o->path, s->errmsg);
	}
	if (!rc && (rc = init_seq(s)) != 0)
		snprintf(err, cap, "%s: %s", o->path, s->errmsg);
	free(keyp);
	free(pubp);
	if (rc) {
		s->have_key = 0; /* no checkpoint from a store that failed to open */
		metro_store_close(&s);
		return rc;
	}
	*out = s;
	return METRO_OK;
}

void metro_store_close(struct metro_store **ps)
{
	struct metro_store *s = *ps;
	if (!s)
		return;
	if (s->depth)
		rollback_now(s);
	if (s->db && s->have_key && !s->failed[0]) {
		json_t *doc = NULL;
		if (metro_store_checkpoint(s, &doc))
			metro_warn("store %s: final checkpoint failed: %s", s->path, s->errmsg);
		json_decref(doc);
	}
	/* A clean close gives back the seqs reserved but not used: numbering resumes right after
	 * the last published document.  Only a crash leaves a gap (never a repeat). */
	if (s->db && !s->readonly && !s->failed[0] && s->seq_reserved >= s->seq_next &&
	    !metro_store_tx_begin(s) &&
	    tx_end(s, exec1(s, "seq reservation",
			    "UPDATE counters SET value = ? WHERE name = 'publish_seq'", "l",
			    s->seq_next - 1)))
		metro_warn("store %s: cannot give back the unused seqs: %s", s->path, s->errmsg);
	for (size_t i = 0; i < s->ncache; i++) {
		sqlite3_finalize(s->cache[i].st);
		free(s->cache[i].sql);
	}
	free(s->cache);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		metro_warn("store %s: close: %s", s->path, sqlite3_errmsg(s->db));
	sodium_memzero(s->sk, sizeof s->sk);
	free(s->recovered);
	free(s->path);
	free(s->station);
	free(s);
	*ps = NULL;
}

const char *metro_store_failed(const struct metro_store *s)
{
	return s->failed[0] ? s->failed : NULL;
}

const char *metro_store_errmsg(const struct metro_store *s)
{
	return s->errmsg;
}

size_t metro_store_recovered(const struct metro_store *s, const int64_t **runs)
{
	*runs = s->recovered;
	return s->nrecovered;
}

const char *metro_store_pubkey(const struct metro_store *s)
{
	return s->pk_hex;
}

/* ---- queries ------------------------------------------------------------------------------- */

/* Columns that hold JSON text: embedded as JSON in query results. */
static int json_column(const char *name)
{
	static const char *const cols[] = {
		"readings",	"intermediates", "environment", "parameters", "nameplate",
		"failed_items", "old",		 "new",		"standards",  "body"};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cols); i++)
		if (!strcmp(name, cols[i]))
			return 1;
	return 0;
}

/* The current row as a JSON object; tracks the highest chain_seq seen in *maxseq. */
static json_t *row_json(sqlite3_stmt *st, int64_t *maxseq)
{
	json_t *o = json_object();
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		const char *name = sqlite3_column_name(st, c);
		json_t *v = NULL;
		if (sqlite3_column_type(st, c) == SQLITE_TEXT && json_column(name))
			v = json_loads((const char *)sqlite3_column_text(st, c), JSON_DECODE_ANY,
				       NULL);
		if (!v)
			v = col_json(st, c);
		if (maxseq && !strcmp(name, "chain_seq") && json_integer_value(v) > *maxseq)
			*maxseq = json_integer_value(v);
		json_object_set_new(o, name, v);
	}
	return o;
}

/* Every row of a query as a JSON array (0 and *out, or an error). */
static int rows_json(struct metro_store *s, json_t **out, int64_t *maxseq, const char *sql,
		     const char *fmt, ...)
{
	*out = NULL;
	sqlite3_stmt *st = prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	bindv(st, 0, fmt, ap);
	va_end(ap);
	json_t *a = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, row_json(st, maxseq));
	int err = rc == SQLITE_DONE ? METRO_OK : sqlfail(s, rc, "query");
	sqlite3_reset(st);
	if (err)
		json_decref(a);
	else
		*out = a;
	return err;
}

/* The first row as an object; METRO_E_NOTFOUND when there is none. */
static int row1_json(struct metro_store *s, json_t **out, int64_t *maxseq, const char *sql,
		     const char *fmt, int64_t arg)
{
	json_t *a;
	int err = rows_json(s, &a, maxseq, sql, fmt, arg);
	if (err)
		return err;
	*out = json_incref(json_array_get(a, 0));
	json_decref(a);
	return *out ? METRO_OK : METRO_E_NOTFOUND;
}

int metro_store_runs(struct metro_store *s, size_t limit, json_t **out)
{
	return rows_json(s, out, NULL,
			 "SELECT r.id, r.rig, r.state, r.verification_type, r.operator, "
			 "r.simulated, r.started, r.ended, r.resumed_from, p.name AS procedure, "
			 "p.sha256 AS procedure_sha256, (SELECT count(*) FROM positions x WHERE "
			 "x.run = r.id) AS positions FROM runs r JOIN procedures p ON p.id = "
			 "r.procedure ORDER BY r.id DESC LIMIT ?",
			 "l", (int64_t)(limit ? limit : 100));
}

/* The run with its procedure (name, hash, whether the content still has that hash) and
 * software. */
static int run_json(struct metro_store *s, int64_t run, json_t **out, int64_t *maxseq)
{
	json_t *r, *p = NULL, *sw = NULL;
	int err = row1_json(s, &r, maxseq, "SELECT * FROM runs WHERE id = ?", "l", run);
	if (err == METRO_E_NOTFOUND)
		return refuse(s, err, "run %lld does not exist", (long long)run);
	if (err)
		return err;
	err = row1_json(s, &p, maxseq, "SELECT * FROM procedures WHERE id = ?", "l",
			json_integer_value(json_object_get(r, "procedure")));
	if (!err) {
		const char *content = json_string_value(json_object_get(p, "content"));
		char hex[METRO_SHA256_HEX];
		metro_sha256_hex(content ? content : "", content ? strlen(content) : 0, hex);
		const char *stored = json_string_value(json_object_get(p, "sha256"));
		json_object_set_new(p, "content_matches_sha256",
				    json_boolean(stored && !strcmp(stored, hex)));
		json_object_set_new(r, "procedure", p);
		err = row1_json(s, &sw, maxseq, "SELECT * FROM software WHERE id = ?", "l",
				json_integer_value(json_object_get(r, "software")));
	}
	if (!err)
		json_object_set_new(r, "software", sw);
	if (err) {
		json_decref(r);
		return err == METRO_E_NOTFOUND ? METRO_E_CORRUPT : err;
	}
	*out = r;
	return METRO_OK;
}

static int set_rows(struct metro_store *s, json_t *obj, const char *key, int64_t *maxseq,
		    const char *sql, const char *fmt, int64_t a, int b)
{
	json_t *rows;
	int err = rows_json(s, &rows, maxseq, sql, fmt, a, b);
	if (!err)
		json_object_set_new(obj, key, rows);
	return err;
}

int metro_store_run(struct metro_store *s, int64_t run, json_t **out)
{
	json_t *r = NULL;
	*out = NULL;
	int err = run_json(s, run, &r, NULL);
	if (err)
		return err;
	err = set_rows(s, r, "standards", NULL,
		       "SELECT * FROM run_standards WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "positions", NULL,
			       "SELECT p.position, p.verdict, p.verdict_id, m.serial, m.model, "
			       "m.manufacturer, m.pattern_approval, m.accuracy_class, m.nameplate "
			       "FROM positions p JOIN meters m ON m.id = p.meter WHERE p.run = ? "
			       "ORDER BY p.position",
			       "l", run, 0);
	if (!err)
		err = set_rows(s, r, "points", NULL,
			       "SELECT * FROM points WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "verdicts", NULL,
			       "SELECT * FROM verdicts WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "inputs", NULL,
			       "SELECT * FROM inputs WHERE run = ? ORDER BY id", "l", run, 0);
	if (!err)
		err = set_rows(s, r, "certificates", NULL,
			       "SELECT * FROM certificates WHERE run = ? ORDER BY id", "l", run, 0);
	if (err)
		json_decref(r);
	else
		*out = r;
	return err;
}

int metro_store_committed_points(struct metro_store *s, int64_t run, json_t **out)
{
	return rows_json(s, out, NULL,
			 "WITH RECURSIVE lineage(id) AS (SELECT ? UNION SELECT r.resumed_from "
			 "FROM runs r JOIN lineage l ON r.id = l.id WHERE r.resumed_from IS NOT "
			 "NULL) SELECT run, position, test_point, attempt, verdict, error, rounded "
			 "FROM points WHERE run IN (SELECT id FROM lineage) ORDER BY position, "
			 "test_point, attempt, run",
			 "l", run);
}

/* The evidence for one (run, position). */
static int evidence(struct metro_store *s, int64_t run, int position, json_t **out)
{
	int64_t maxseq = 0;
	json_t *e = json_object(), *r = NULL;
	int err = run_json(s, run, &r, &maxseq);
	if (!err) {
		json_object_set_new(e, "run", r);
		json_object_set_new(e, "position", json_integer(position));
	}
	if (!err) {
		json_t *a;
		err = rows_json(s, &a, &maxseq,
				"SELECT m.* FROM meters m JOIN positions p ON p.meter = m.id WHERE "
				"p.run = ? AND p.position = ?",
				"li", run, position);
		if (!err) {
			json_object_set_new(e, "meter", json_incref(json_array_get(a, 0)));
			json_decref(a);
		}
	}
	if (!err)
		err = set_rows(s, e, "standards", &maxseq,
			       "SELECT * FROM run_standards WHERE run = ? ORDER BY id", "l", run,
			       0);
	if (!err)
		err = set_rows(s, e, "position_record", &maxseq,
			       "SELECT * FROM positions WHERE run = ? AND position = ?", "li", run,
			       position);
	if (!err)
		err = set_rows(
			s, e, "points", &maxseq,
			"WITH RECURSIVE lineage(id) AS (SELECT ? UNION SELECT r.resumed_from "
			"FROM runs r JOIN lineage l ON r.id = l.id WHERE r.resumed_from IS "
			"NOT NULL) SELECT * FROM points WHERE run IN (SELECT id FROM lineage) "
			"AND position = ? ORDER BY run, id",
			"li", run, position);
	if (!err)
		err = set_rows(s, e, "verdicts", &maxseq,
			       "SELECT * FROM verdicts WHERE run = ? AND position = ? ORDER BY id",
			       "li", run, position);
	if (!err)
		err = set_rows(s, e, "inputs", &maxseq,
			       "SELECT * FROM inputs WHERE run = ? AND (position IS NULL OR "
			       "position = ?) ORDER BY id",
			       "li", run, position);
	if (!err)
		err = set_rows(s, e, "certificates", &maxseq,
			       "SELECT * FROM certificates WHERE run = ? AND position = ? ORDER BY "
			       "id",
			       "li", run, position);
	if (!err) {
		json_t *cp;
		err = rows_json(
			s, &cp, NULL,
			"SELECT epoch, short_id AS id, head_seq, time FROM checkpoints WHERE "
			"head_seq >= ? ORDER BY epoch LIMIT 1",
			"l", maxseq);
		if (!err) {
			json_t *first = json_array_get(cp, 0);
			json_object_set_new(e, "signed_by",
					    first ? json_incref(first) : json_null());
			json_object_set_new(e, "max_chain_seq", json_integer(maxseq));
			json_decref(cp);
		}
	}
	if (err)
		json_decref(e);
	else
		*out = e;
	return err;
}

int metro_store_trace(struct metro_store *s, const char *what, json_t **out)
{
	*out = NULL;
	if (empty(what))
		return refuse(s, METRO_E_INVAL, "trace needs a certificate number or a serial");
	sqlite3_stmt *st = query(s,
				 "SELECT run, position, 'certificate' FROM certificates WHERE "
				 "number = ?1 UNION ALL SELECT p.run, p.position, 'serial' FROM "
				 "positions p JOIN meters m ON m.id = p.meter WHERE m.serial = ?1 "
				 "ORDER BY 1, 2",
				 "t", what);
	if (!st)
		return METRO_E_IO;
	int64_t(*pairs)[2] = NULL;
	size_t n = 0;
	int rc, by_cert = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		by_cert |= !strcmp((const char *)sqlite3_column_text(st, 2), "certificate");
		pairs = metro_realloc(pairs, (n + 1) * sizeof *pairs);
		pairs[n][0] = sqlite3_column_int64(st, 0);
		pairs[n][1] = sqlite3_column_int64(st, 1);
		n++;
	}
	int err = rc == SQLITE_DONE ? METRO_OK : sqlfail(s, rc, "trace");
	sqlite3_reset(st);
	if (!err && !n)
		err = refuse(s, METRO_E_NOTFOUND, "no certificate and no meter serial '%s'", what);
	json_t *res = json_pack("{ss ss}", "query", what, "matched_by",
				by_cert ? "certificate" : "serial");
	json_t *list = json_array();
	for (size_t i = 0; !err && i < n; i++) {
		json_t *e;
		if (i && pairs[i][0] == pairs[i - 1][0] && pairs[i][1] == pairs[i - 1][1])
			continue;
		err = evidence(s, pairs[i][0], (int)pairs[i][1], &e);
		if (!err)
			json_array_append_new(list, e);
	}
	free(pairs);
	json_object_set_new(res, "results", list);
	if (err)
		json_decref(res);
	else
		*out = res;
	return err;
}

int metro_store_standards(struct metro_store *s, const struct metro_date *day, json_t **out)
{
	json_t *a;
	int err = rows_json(s, &a, NULL, "SELECT * FROM standards ORDER BY std_id", "");
	if (err)
		return err;
	long t = metro_date_days(day);
	size_t i;
	json_t *row;
	json_array_foreach (a, i, row) {
		static const char *const dues[][2] = {{"due", "days_left"},
						      {"assessment_due", "assessment_days_left"}};
		for (size_t k = 0; k < 2; k++) {
			struct metro_date d;
			const char *v = json_string_value(json_object_get(row, dues[k][0]));
			json_object_set_new(row, dues[k][1],
					    v && !metro_date_parse(v, &d)
						    ? json_integer(metro_date_days(&d) - t)
						    : json_null());
		}
	}
	*out = a;
	return METRO_OK;
}
