/* store.c — the record store (see store.h, docs/records.md).
 *
 * Shape of a write: metro_store_tx_begin() (BEGIN IMMEDIATE, load the chain head), the
 * statements, each chained row followed by its chain record, then tx_end() which commits or
 * rolls back.  A chained row is written with chain_seq = head + 1, read back with SELECT * and
 * hashed from what SQLite returns, so the hash covers exactly the stored values (after STRICT
 * typing), by the same code the verifier runs.
 */
#include "store.h"
#include "store_int.h"

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

/* Version 3: the rig profile a run drove its rig with, chained like the procedure (its exact
 * content and SHA-256), and the runs column that names it.  The column is NULL in older rows
 * (their chain hashes still hold) and in runs recorded without a profile. */
static const char SCHEMA_V3[] =
	"CREATE TABLE profiles (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  name TEXT NOT NULL CHECK (name <> ''),\n"
	"  path TEXT NOT NULL CHECK (path <> ''),\n"
	"  sha256 TEXT NOT NULL " HEX64("sha256") " CHECK (sha256 NOT GLOB '*[^0-9a-f]*'),\n"
	"  content TEXT NOT NULL,\n"
	"  registered TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (path, sha256)\n"
	") STRICT;\n" IMMUTABLE("profiles")
	"ALTER TABLE runs ADD COLUMN profile INTEGER REFERENCES profiles(id);\n"
	"CREATE INDEX runs_rig ON runs(rig, id);\n";

/* Version 4 (#17): the person registry (chained, updated like standards, with one
 * person_changes row per changed field), the signed steps of each certificate's workflow, and
 * two certificates columns: `workflow` (1: issued only through the signed steps; 0: issued when
 * numbered; NULL in rows recorded before version 4, which were issued when numbered) and
 * `replaces` (a reissue: the voided certificate it replaces; one reissue per voided number).
 * Rules that tie columns together are triggers (guards against mistakes; the chain and the
 * store's checks are what hold), per-column shapes are CHECKs. */
static const char SCHEMA_V4[] =
	"CREATE TABLE people (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  person TEXT NOT NULL UNIQUE CHECK (person <> '' AND person NOT GLOB '*[^a-z0-9._-]*'),\n"
	"  name TEXT NOT NULL CHECK (name <> ''),\n"
	"  roles TEXT NOT NULL CHECK (json_valid(roles) AND json_type(roles) = 'array'),\n"
	"  qualification TEXT,\n"
	"  qualification_due TEXT CHECK (qualification_due IS NULL OR date(qualification_due) IS "
	"qualification_due),\n"
	"  procedures TEXT NOT NULL CHECK (json_valid(procedures) AND json_type(procedures) = "
	"'array'),\n"
	"  sign_pk TEXT NOT NULL " HEX64("sign_pk") " CHECK (sign_pk NOT GLOB '*[^0-9a-f]*'),\n"
	"  unix_user TEXT,\n"
	"  active INTEGER NOT NULL CHECK (active IN (0, 1)),\n"
	"  updated TEXT NOT NULL,\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" NO_DELETE("people")
	"CREATE TABLE person_changes (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  person TEXT NOT NULL,\n"
	"  field TEXT NOT NULL,\n"
	"  old TEXT " JSON_OR_NULL("old") ",\n"
	"  new TEXT " JSON_OR_NULL("new") ",\n"
	"  audit_event INTEGER NOT NULL REFERENCES audit_events(id),\n"
	"  chain_seq INTEGER NOT NULL\n"
	") STRICT;\n" IMMUTABLE("person_changes")
	"CREATE INDEX person_changes_person ON person_changes(person);\n"
	"ALTER TABLE certificates ADD COLUMN workflow INTEGER CHECK (workflow IS NULL OR workflow "
	"IN (0, 1));\n"
	"ALTER TABLE certificates ADD COLUMN replaces TEXT REFERENCES certificates(number);\n"
	"CREATE UNIQUE INDEX certificates_replaces ON certificates(replaces) WHERE replaces IS NOT "
	"NULL;\n"
	/* Copies, like run_standards: the person's name, role and qualification as they were. */
	"CREATE TABLE certificate_steps (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  certificate TEXT NOT NULL REFERENCES certificates(number),\n"
	"  step TEXT NOT NULL CHECK (step IN ('verified', 'checked', 'approved', 'issued', "
	"'voided')),\n"
	"  station TEXT NOT NULL,\n"
	"  person TEXT NOT NULL,\n"
	"  person_name TEXT NOT NULL,\n"
	"  role TEXT NOT NULL CHECK (role IN ('verifier', 'checker', 'approver', 'manager')),\n"
	"  qualification TEXT,\n"
	"  qualification_due TEXT CHECK (qualification_due IS NULL OR date(qualification_due) IS "
	"qualification_due),\n"
	"  time TEXT NOT NULL,\n"
	"  recorded TEXT NOT NULL,\n"
	"  statement TEXT NOT NULL CHECK (json_valid(statement)),\n"
	"  signature TEXT NOT NULL CHECK (length(signature) = 128),\n"
	"  sign_pk TEXT NOT NULL " HEX64("sign_pk") ",\n"
	"  why TEXT,\n"
	"  replaces TEXT,\n"
	"  chain_seq INTEGER NOT NULL,\n"
	"  UNIQUE (certificate, step)\n"
	") STRICT;\n" IMMUTABLE("certificate_steps")
	"CREATE TRIGGER certificate_steps_rules BEFORE INSERT ON certificate_steps WHEN "
	"(NEW.step = 'voided' AND coalesce(NEW.why, '') = '') OR (NEW.replaces IS NOT NULL AND "
	"NEW.step <> 'verified') BEGIN SELECT RAISE(ABORT, 'a voided step needs a reason, and only "
	"a verified step names the certificate it replaces'); END;\n";

/* Version 5 (#18): what a certificate prints after JJF 1069 besides the address: the station's
 * phone and postcode, and a standard's measuring range (in the registry and in the copy a run
 * keeps).  NULL in older rows, whose chain hashes still hold. */
static const char SCHEMA_V5[] = "ALTER TABLE stations ADD COLUMN phone TEXT;\n"
				"ALTER TABLE stations ADD COLUMN postcode TEXT;\n"
				"ALTER TABLE standards ADD COLUMN measuring_range TEXT;\n"
				"ALTER TABLE run_standards ADD COLUMN measuring_range TEXT;\n";

static const struct {
	int version;
	const char *sql;
} migrations[] = {
	{1, SCHEMA_V1},
	{2, SCHEMA_V2},
	{3, SCHEMA_V3},
	{4, SCHEMA_V4},
	{5, SCHEMA_V5},
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

int st_refuse(struct metro_store *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
	va_end(ap);
	return err;
}

int st_empty(const char *p)
{
	return !p || !*p;
}

/* Wall-clock time as ISO 8601 UTC with microseconds: a label, never used for durations. */
void st_now_iso(char buf[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 40 - n, ".%06ldZ", ts.tv_nsec / 1000);
}

void st_today(struct metro_date *d, char buf[11])
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
int st_sqlfail(struct metro_store *s, int rc, const char *what)
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
sqlite3_stmt *st_prep(struct metro_store *s, const char *sql)
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
		st_sqlfail(s, rc, "prepare");
		return NULL;
	}
	s->cache = metro_realloc(s->cache, (s->ncache + 1) * sizeof *s->cache);
	s->cache[s->ncache].sql = metro_strdup(sql);
	s->cache[s->ncache].st = st;
	s->ncache++;
	return st;
}

char *st_dump_json(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY |
					 JSON_REAL_PRECISION(15))
		 : NULL;
}

/* Bind a JSON scalar by type (string, real, integer, null); anything else as JSON text. */
void st_bind_value(sqlite3_stmt *st, int idx, const json_t *v)
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
		sqlite3_bind_text(st, idx, st_dump_json(v), -1, free);
}

/* Bind arguments to the statement's parameters in order, skipping index `skip`.  Formats:
 * t text (NULL binds NULL), i int, l int64_t, z int64_t with 0 meaning NULL, d double,
 * j const json_t * stored as JSON text (NULL binds NULL), v const json_t * scalar by type,
 * n NULL (no argument). */
void st_bindv(sqlite3_stmt *st, int skip, const char *fmt, va_list ap)
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
			char *t = st_dump_json(va_arg(ap, const json_t *));
			if (t)
				sqlite3_bind_text(st, idx, t, -1, free);
			else
				sqlite3_bind_null(st, idx);
			break;
		}
		case 'v':
			st_bind_value(st, idx, va_arg(ap, const json_t *));
			break;
		default: /* 'n' */
			sqlite3_bind_null(st, idx);
			break;
		}
	}
}

/* Prepare (cached) and bind; the caller steps and must sqlite3_reset.  NULL on error. */
sqlite3_stmt *st_query(struct metro_store *s, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, 0, fmt, ap);
	va_end(ap);
	return st;
}

/* Run a statement that returns nothing. */
int st_exec1(struct metro_store *s, const char *what, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		err = st_sqlfail(s, rc, what);
	sqlite3_reset(st);
	return err;
}

/* One integer from the first row: 0, METRO_E_NOTFOUND (no row) or an error. */
int st_query_int(struct metro_store *s, int64_t *out, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	else
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : st_sqlfail(s, rc, "query");
	sqlite3_reset(st);
	return err;
}

/* One text value (copied, caller frees) from the first row. */
int st_query_text(struct metro_store *s, char **out, const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = st_prep(s, sql);
	*out = NULL;
	if (!st)
		return METRO_E_IO;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, 0, fmt, ap);
	va_end(ap);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		*out = t ? metro_strdup(t) : NULL;
	} else {
		err = rc == SQLITE_DONE ? METRO_E_NOTFOUND : st_sqlfail(s, rc, "query");
	}
	sqlite3_reset(st);
	return err;
}

/* ---- the chain ----------------------------------------------------------------------------- */

static int load_head(struct metro_store *s)
{
	sqlite3_stmt *st = st_prep(s, "SELECT seq, hash FROM chain ORDER BY seq DESC LIMIT 1");
	if (!st)
		return METRO_E_IO;
	int rc = sqlite3_step(st), err = METRO_OK;
	s->head_seq = 0;
	memset(s->head_hash, 0, sizeof s->head_hash);
	if (rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(st, 1);
		s->head_seq = sqlite3_column_int64(st, 0);
		if (!h || metro_audit_unhex(h, strlen(h), s->head_hash, METRO_AUDIT_HASH))
			err = st_refuse(
				s, METRO_E_CORRUPT,
				"chain record %lld has a malformed hash: the store will not "
				"extend a damaged chain (run metroctl audit verify)",
				(long long)s->head_seq);
	} else if (rc != SQLITE_DONE) {
		err = st_sqlfail(s, rc, "reading the chain head");
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
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return METRO_E_IO;
	sqlite3_bind_int64(st, 1, row_id);
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_ROW)
		err = rc == SQLITE_DONE ? st_refuse(s, METRO_E_NOTFOUND, "%s row %lld vanished",
						    table, (long long)row_id)
					: st_sqlfail(s, rc, "reading a row back");
	else if (metro_audit_hash_row(st, t->name, t->key, rh, &why))
		err = st_refuse(s, METRO_E_CORRUPT, "%s row %lld cannot be encoded: %s", table,
				(long long)row_id, why);
	sqlite3_reset(st);
	if (err)
		return err;
	metro_audit_link_hash(seq, op, table, row_id, rh, s->head_hash, link);
	char rhx[65], prevx[65], linkx[65];
	metro_audit_hex(rh, METRO_AUDIT_HASH, rhx);
	metro_audit_hex(s->head_hash, METRO_AUDIT_HASH, prevx);
	metro_audit_hex(link, METRO_AUDIT_HASH, linkx);
	err = st_exec1(s, "chain record",
		       "INSERT INTO chain (seq, tbl, row_id, op, row_hash, prev, hash) "
		       "VALUES (?, ?, ?, ?, ?, ?, ?)",
		       "ltltttt", seq, table, row_id,
		       op == METRO_AUDIT_INSERT ? "insert" : "update", rhx, prevx, linkx);
	if (err)
		return err;
	s->head_seq = seq;
	memcpy(s->head_hash, link, METRO_AUDIT_HASH);
	return METRO_OK;
}

/* Step a bound statement that writes one row of a chained table and chain it.  For an insert
 * row_id is taken from SQLite; for an update it must be given and exactly one row change. */
int st_finish_chained(struct metro_store *s, sqlite3_stmt *st, const char *table, int op,
		      int64_t row_id, int64_t seq, int64_t *id)
{
	int rc = sqlite3_step(st), err = METRO_OK;
	if (rc != SQLITE_DONE)
		err = st_sqlfail(s, rc, table);
	else if (op == METRO_AUDIT_UPDATE && sqlite3_changes(s->db) != 1)
		err = st_refuse(s, METRO_E_NOTFOUND, "%s row %lld does not exist", table,
				(long long)row_id);
	sqlite3_reset(st);
	if (err)
		return err;
	if (op == METRO_AUDIT_INSERT)
		row_id = sqlite3_last_insert_rowid(s->db);
	err = chain_add(s, table, row_id, op, seq);
	if (!err && id)
		*id = row_id;
	if (!err)
		st_clock_note(s);
	return err;
}

/* Insert (op INSERT) or update (op UPDATE, row_id given) a row of a chained table.  The SQL
 * names the chain_seq value :chain_seq; the other parameters are bound from fmt in order. */
int st_write_chained(struct metro_store *s, const char *table, int op, int64_t row_id, int64_t *id,
		     const char *sql, const char *fmt, ...)
{
	sqlite3_stmt *st = st_prep(s, sql);
	if (!st)
		return METRO_E_IO;
	int cs = sqlite3_bind_parameter_index(st, ":chain_seq");
	int64_t seq = s->head_seq + 1;
	va_list ap;
	va_start(ap, fmt);
	st_bindv(st, cs, fmt, ap);
	va_end(ap);
	sqlite3_bind_int64(st, cs, seq);
	return st_finish_chained(s, st, table, op, row_id, seq, id);
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
		return st_refuse(s, METRO_E_STATE, "the record store is open read-only");
	if (s->failed[0])
		return st_refuse(s, METRO_E_IO, "%s", s->failed);
	if (s->depth > 0) {
		if (s->doomed)
			return s->doomed;
		s->depth++;
		return METRO_OK;
	}
	int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return st_sqlfail(s, rc, "begin transaction");
	s->depth = 1;
	s->doomed = 0;
	int err = load_head(s);
	if (err)
		rollback_now(s);
	return err;
}

/* End one level of transaction with the result of the work done in it. */
int st_tx_end(struct metro_store *s, int err)
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
	if (metro_store_check_file(s)) { /* never commit into a file that is not the store */
		rollback_now(s);
		return METRO_E_IO;
	}
	int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = st_sqlfail(s, rc, "commit");
		rollback_now(s);
		return err;
	}
	return METRO_OK;
}

int metro_store_tx_commit(struct metro_store *s)
{
	if (s->depth == 0)
		return st_refuse(s, METRO_E_STATE, "commit without a transaction");
	return st_tx_end(s, METRO_OK);
}

void metro_store_tx_rollback(struct metro_store *s)
{
	if (s->depth == 0)
		return;
	if (s->depth > 1) {
		s->depth--;
		if (!s->doomed)
			s->doomed =
				st_refuse(s, METRO_E_STATE, "an inner transaction was rolled back");
		return;
	}
	rollback_now(s);
}

/* ---- audit events -------------------------------------------------------------------------- */

int st_audit_event(struct metro_store *s, const char *actor, const char *action,
		   const char *subject, const json_t *old_value, const json_t *new_value,
		   const char *why, int64_t *id)
{
	char now[40];
	if (st_empty(actor) || st_empty(action) || st_empty(why))
		return st_refuse(s, METRO_E_INVAL,
				 "an audit event needs an actor, an action and a "
				 "reason");
	st_now_iso(now);
	return st_write_chained(
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
	return st_tx_end(s,
			 st_audit_event(s, actor, action, subject, old_value, new_value, why, id));
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
	if (st_query_int(s, &v, "PRAGMA user_version", "") ||
	    st_query_int(s, &ntables, "SELECT count(*) FROM sqlite_schema", "")) {
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
/* Every run still `running` becomes `incomplete` (end reason `reason`, an audit event with
 * `why` each), inside the caller's transaction; *ids (caller frees) lists them. */
static int mark_incomplete(struct metro_store *s, const char *reason, const char *why,
			   int64_t **ids, size_t *n)
{
	char subject[80], now[40];
	*ids = NULL;
	*n = 0;
	int err = METRO_OK;
	sqlite3_stmt *st = st_query(s, "SELECT id FROM runs WHERE state = 'running'", "");
	if (!st)
		return METRO_E_IO;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ids = metro_realloc(*ids, (*n + 1) * sizeof **ids);
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE)
		err = st_sqlfail(s, rc, "runs");
	sqlite3_reset(st);
	st_now_iso(now);
	for (size_t i = 0; !err && i < *n; i++) {
		/* The monotonic clock of an earlier boot is gone: no ended_mono. */
		err = st_write_chained(
			s, "runs", METRO_AUDIT_UPDATE, (*ids)[i], NULL,
			"UPDATE runs SET state = 'incomplete', ended = ?, end_reason "
			"= ?, chain_seq = :chain_seq WHERE id = ?",
			"ttl", now, reason, (*ids)[i]);
		json_t *o = json_pack("{ss}", "state", "running");
		json_t *nw = json_pack("{ss}", "state", "incomplete");
		snprintf(subject, sizeof subject, "run/%lld", (long long)(*ids)[i]);
		if (!err)
			err = st_audit_event(s, "metrod", "run.incomplete", subject, o, nw, why,
					     NULL);
		json_decref(o);
		json_decref(nw);
		if (!err)
			metro_warn("store: run %lld was interrupted; marked incomplete",
				   (long long)(*ids)[i]);
	}
	return err;
}

int metro_store_interrupt_runs(struct metro_store *s, const char *reason, const char *why,
			       size_t *n)
{
	int64_t *ids = NULL;
	*n = 0;
	int err = metro_store_tx_begin(s);
	if (!err)
		err = st_tx_end(s, mark_incomplete(s, reason, why, &ids, n));
	free(ids);
	return err;
}

static int recover(struct metro_store *s, int key_created, const char *keyp)
{
	struct metro_audit_checkpoint last;
	char subject[80];
	int err = metro_store_tx_begin(s);
	if (err)
		return err;
	snprintf(subject, sizeof subject, "station/%s", s->station);
	if (key_created) {
		json_t *n = json_pack("{ssss}", "pubkey", s->pk_hex, "key_file", keyp);
		err = st_audit_event(s, "metrod", "station.key-created", subject, NULL, n,
				     "no station key: created on first open", NULL);
		json_decref(n);
	}
	if (!err && !metro_audit_checkpoint_load(s->db, 0, &last) &&
	    memcmp(last.pubkey, s->pk, METRO_AUDIT_PUBKEY) != 0) {
		char old[65];
		metro_audit_hex(last.pubkey, METRO_AUDIT_PUBKEY, old);
		json_t *o = json_pack("{ss}", "pubkey", old),
		       *n = json_pack("{ss}", "pubkey", s->pk_hex);
		err = st_audit_event(s, "metrod", "station.key-changed", subject, o, n,
				     "the station key differs from the key of the last checkpoint: "
				     "older checkpoints verify only with the old public key",
				     NULL);
		json_decref(o);
		json_decref(n);
	}
	int64_t *ids = NULL;
	size_t n = 0;
	if (!err)
		err = mark_incomplete(s, "interrupted: found running when the store was opened",
				      "found running when the store was opened: interrupted by a "
				      "crash, kill or power loss; never resumed silently",
				      &ids, &n);
	err = st_tx_end(s, err);
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
	int err = st_query_int(s, &reserved,
			       "SELECT value FROM counters WHERE name = 'publish_seq'", "");
	if (err && err != METRO_E_NOTFOUND)
		return err;
	err = st_query_int(s, &maxdoc, "SELECT coalesce(max(seq), 0) FROM documents", "");
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
	if (st_query_text(s, &mode, "PRAGMA journal_mode = WAL", "") || !mode ||
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
	if (rc != SQLITE_OK || st_query_int(s, &fk, "PRAGMA foreign_keys", "") ||
	    st_query_int(s, &sync, "PRAGMA synchronous", "") || fk != 1 || sync != 2) {
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
	s->watch_fd = -1;
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
	rc = st_state_before_open(s, o, keyp, err, cap);
	if (!rc)
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
	if (!rc)
		rc = st_state_after_open(s, o, err, cap);
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
	if (s->watch_fd >= 0)
		close(s->watch_fd);
	free(s->state_path);
	free(s->prior);
	/* A clean close gives back the seqs reserved but not used: numbering resumes right after
	 * the last published document.  Only a crash leaves a gap (never a repeat). */
	if (s->db && !s->readonly && !s->failed[0] && s->seq_reserved >= s->seq_next &&
	    !metro_store_tx_begin(s) &&
	    st_tx_end(s, st_exec1(s, "seq reservation",
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
