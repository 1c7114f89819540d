/* Unit tests of the record store (lib/records/store.c) and the chain codec and verifier
 * (lib/records/audit.c).
 *
 * Failing closed is exercised two ways, both real SQLite failures rather than mocks:
 *   - a VFS shim registered as SQLite's default VFS forwards every call to the unix VFS and,
 *     when told to, fails writes with SQLITE_FULL or fsyncs with SQLITE_IOERR_FSYNC;
 *   - in a child process, RLIMIT_FSIZE (with SIGXFSZ ignored) makes the kernel refuse to grow
 *     the WAL file (EFBIG), which SQLite reports as an I/O error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define STATION "test-lab"
#define EXE_SHA "aa00000000000000000000000000000000000000000000000000000000000001"

struct fx {
	char *dir;
	char *db;
	struct metro_store *s;
	int64_t proc;
};

static struct metro_standard_conf standard(const char *id, const char *cert, int due_days)
{
	struct metro_standard_conf c;
	memset(&c, 0, sizeof c);
	c.id = (char *)id;
	c.description = "test standard";
	c.serial = "SN-1";
	c.certificate = (char *)cert;
	c.issuer = "Test Institute";
	c.calibrated = tu_days_from_now(-10);
	c.due = tu_days_from_now(due_days);
	c.uncertainty_pct = 0.2;
	c.k = 2;
	return c;
}

static int open_at(struct fx *f, int max_schema, char *err, size_t cap)
{
	struct metro_store_opts o = {.path = f->db, .station = STATION, .max_schema = max_schema};
	return metro_store_open(&o, &f->s, err, cap);
}

static void reopen(struct fx *f)
{
	char err[512];
	metro_store_close(&f->s);
	int rc = open_at(f, 0, err, sizeof err);
	if (rc)
		fail_msg("reopen: %s", err);
}

/* A fresh store with two standards and a procedure. */
static void setup_fx(struct fx *f, int max_schema)
{
	char err[512];
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	f->db = metro_asprintf("%s/records.db", f->dir);
	int rc = open_at(f, max_schema, err, sizeof err);
	if (rc)
		fail_msg("open: %s", err);
	struct metro_standard_conf std[2] = {standard("std-a", "CERT-A-1", 100),
					     standard("std-b", "CERT-B-1", 200)};
	assert_int_equal(metro_store_sync_standards(f->s, std, 2), 0);
	const char text[] = "regulation: {id: TEST}\npoints: [Q3]\n";
	assert_int_equal(
		metro_store_procedure(f->s, "test.yaml", text, strlen(text), NULL, &f->proc), 0);
}

static void teardown_fx(struct fx *f)
{
	metro_store_close(&f->s);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->db);
}

static int64_t begin(struct fx *f, int positions, int64_t resumed_from, int *err_out)
{
	static const char *const ids[] = {"std-a"};
	struct metro_store_meter m[4];
	char serial[4][24];
	for (int i = 0; i < positions; i++) {
		snprintf(serial[i], sizeof serial[i], "SER-%d", i + 1);
		m[i] = (struct metro_store_meter){i + 1,  serial[i], "M1", "Maker",
						  "PA-1", "2",	     NULL};
	}
	struct metro_store_run r = {.rig = "rig-1",
				    .procedure = f->proc,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "op",
				    .simulated = 1,
				    .standards = ids,
				    .nstandards = 1,
				    .meters = m,
				    .nmeters = (size_t)positions,
				    .resumed_from = resumed_from};
	int64_t run = 0;
	int err = metro_store_run_begin(f->s, &r, &run);
	if (err_out)
		*err_out = err;
	else if (err)
		fail_msg("run_begin: %s", metro_store_errmsg(f->s));
	return run;
}

static int point(struct fx *f, int64_t run, int pos, const char *tp, const char *error)
{
	json_t *rd = json_pack("{s[ff]s[ss]}", "v", 1.0, 2.0, "t", "2026-01-01T00:00:00Z",
			       "2026-01-01T00:01:00Z");
	struct metro_store_point p = {run,  pos,   tp,	 1,   rd,     NULL,
				      NULL, error, NULL, "2", "pass", "rule"};
	int err = metro_store_point(f->s, &p, NULL);
	json_decref(rd);
	return err;
}

static int verdict(struct fx *f, int64_t run, int pos, const char *v, int64_t corrects,
		   const char *why, int64_t *id)
{
	struct metro_store_verdict vd = {run, pos, v, NULL, "rule", corrects, "tester", why};
	return metro_store_verdict(f->s, &vd, id);
}

static sqlite3 *raw(struct fx *f)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int raw_exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Verify the file with the station's public key; returns the verifier's result. */
static int verify(struct fx *f, int strict)
{
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f->db;
	o.strict = strict;
	char *pub = metro_asprintf("%s/records.pub", f->dir);
	assert_int_equal(metro_audit_read_pubkey(pub, o.pubkeys[0]), 0);
	free(pub);
	o.npubkeys = 1;
	int rc = metro_audit_verify(&o, &r);
	for (size_t i = 0; i < r.nfailures; i++)
		fprintf(stderr, "verify: %s\n", r.failures[i].message);
	metro_audit_report_free(&r);
	return rc;
}

/* ---- schema and migrations ----------------------------------------------------------------- */

static void test_fresh_file(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), METRO_STORE_SCHEMA);
	/* Every table is STRICT; the database is in WAL mode. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
				     "sql NOT LIKE '%STRICT%'"),
			 0);
	assert_true(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'") >= 18);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* The key pair beside the database: secret 0600, public 0644. */
	struct stat sb;
	char *key = metro_asprintf("%s/records.key", f.dir),
	     *pub = metro_asprintf("%s/records.pub", f.dir);
	assert_int_equal(stat(key, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(pub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	unsigned char pk[32];
	char hex[65];
	assert_int_equal(metro_audit_read_pubkey(pub, pk), 0);
	metro_audit_hex(pk, 32, hex);
	assert_string_equal(hex, metro_store_pubkey(f.s));
	free(key);
	free(pub);
	teardown_fx(&f);
}

/* A version-1 file (written by the version-1 schema, runs and all) migrates to the current
 * version, keeps its data, and its chain still verifies: the column added by version 2 is NULL
 * in old rows and NULL columns are not part of a row's encoding. */
static void test_migrate_old_file(void **state)
{
	(void)state;
	struct fx f;
	char err[512];
	setup_fx(&f, 1);
	int64_t run = begin(&f, 2, 0, NULL);
	assert_int_equal(point(&f, run, 1, "Q3", "0.5"), 0);
	assert_int_equal(verdict(&f, run, 1, "pass", 0, NULL, NULL), 0);
	assert_int_equal(metro_store_run_end(f.s, run, "done", NULL), 0);
	metro_store_close(&f.s);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'documents'"),
			 0);
	sqlite3_close(db);
	assert_int_equal(verify(&f, 1), 0);

	assert_int_equal(open_at(&f, 0, err, sizeof err), 0);
	db = raw(&f);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), METRO_STORE_SCHEMA);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'documents'"),
			 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = "
				     "'client'"),
			 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM points"), 1);
	sqlite3_close(db);
	/* New writes on the migrated file, then the whole chain verifies. */
	int64_t run2 = begin(&f, 1, 0, NULL);
	assert_int_equal(point(&f, run2, 1, "Q3", "0.1"), 0);
	int64_t seq;
	json_t *doc = json_pack("{ss}", "schema", "x/1");
	assert_int_equal(metro_store_document(f.s, "run.rig-1", doc, &seq), 0);
	json_decref(doc);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, 1), 0);
	assert_int_equal(open_at(&f, 0, err, sizeof err), 0);
	teardown_fx(&f);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	struct fx f;
	char err[512];
	setup_fx(&f, 0);
	metro_store_close(&f.s);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_exec(db, "PRAGMA user_version = 99"), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(open_at(&f, 0, err, sizeof err), METRO_E_UNSUPPORTED);
	assert_null(f.s);
	assert_non_null(strstr(err, "schema version 99 is newer"));
	/* The verifier refuses it too, as unreadable rather than tampered. */
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f.db;
	assert_int_equal(metro_audit_verify(&o, &r), METRO_E_UNSUPPORTED);
	metro_audit_report_free(&r);
	/* And a foreign SQLite file is not taken for a store. */
	char *other = metro_asprintf("%s/other.db", f.dir);
	assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
	assert_int_equal(raw_exec(db, "CREATE TABLE t (x)"), SQLITE_OK);
	sqlite3_close(db);
	struct metro_store_opts so = {.path = other, .station = STATION};
	assert_int_equal(metro_store_open(&so, &f.s, err, sizeof err), METRO_E_UNSUPPORTED);
	assert_non_null(strstr(err, "not a metrod record store"));
	free(other);
	teardown_fx(&f);
}

static void test_strict_refusals(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 1, 0, NULL);
	sqlite3 *db = raw(&f);
	/* STRICT: a text where an integer belongs is refused, not silently stored. */
	int rc = raw_exec(db, "UPDATE runs SET simulated = 'yes' WHERE id = 1");
	assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
	assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_DATATYPE);
	rc = raw_exec(db, "INSERT INTO inputs (run, position, prompt, answer, operator, answered, "
			  "chain_seq) VALUES ('one', NULL, 'p', 'a', 'o', 't', 1)");
	assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_DATATYPE);
	rc = raw_exec(db, "INSERT INTO stations (station, updated, chain_seq) VALUES "
			  "('x', 't', 1.5)");
	assert_int_equal(sqlite3_extended_errcode(db), SQLITE_CONSTRAINT_DATATYPE);
	/* CHECKs: states, verdicts, JSON columns. */
	assert_int_not_equal(raw_exec(db, "UPDATE runs SET state = 'paused' WHERE id = 1"), 0);
	assert_int_not_equal(raw_exec(db, "UPDATE positions SET verdict = 'ok' WHERE id = 1"), 0);
	assert_int_not_equal(raw_exec(db, "UPDATE runs SET parameters = '{bad' WHERE id = 1"), 0);
	sqlite3_close(db);
	/* Through the API: a non-decimal error, an unknown verdict, a bad end state. */
	json_t *rd = json_pack("{}");
	struct metro_store_point p = {run,  1,	   "Q3", 1,    rd,   NULL,
				      NULL, "1,5", NULL, NULL, NULL, NULL};
	assert_int_equal(metro_store_point(f.s, &p, NULL), METRO_E_INVAL);
	assert_non_null(strstr(metro_store_errmsg(f.s), "CHECK constraint"));
	p.error = "-1.5e3";
	assert_int_equal(metro_store_point(f.s, &p, NULL), METRO_E_INVAL);
	p.error = "-1.50";
	assert_int_equal(metro_store_point(f.s, &p, NULL), 0);
	p.verdict = "ok";
	assert_int_equal(metro_store_point(f.s, &p, NULL), METRO_E_INVAL);
	json_decref(rd);
	assert_int_equal(metro_store_run_end(f.s, run, "finished", NULL), METRO_E_INVAL);
	/* A refused write is the caller's problem: the store stays healthy. */
	assert_null(metro_store_failed(f.s));
	assert_int_equal(verify(&f, 0), 0);
	teardown_fx(&f);
}

/* The typed evidence path (evidence.h): the error, its rounding and the limit a point result
 * carries are stored as exact decimal text, whatever their size: a near-perfect meter's
 * -0.00000237 % (which a double's text once turned into "-2.37e-06", refused by the CHECK and
 * lost), a value with 20 significant digits, a non-terminating quotient cut to 20 digits.  A
 * value that cannot be written is refused and nothing is stored. */
static void test_point_result_exact(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 3, 0, NULL);
	struct {
		struct metro_dec error;
		const char *want;
	} cases[] = {
		{metro_dec_e(-237, -8), "-0.00000237"},
		{metro_dec_e(-1234567890123456789LL, -17), "-12.34567890123456789"},
		{metro_dec_div(metro_dec_e(1, 0), metro_dec_e(3, 0)), "0.33333333333333333333"},
	};
	for (int i = 0; i < 3; i++) {
		struct metro_point_result *r = metro_point_result_new(
			run, i + 1, "S", "Q3", NULL, "flow-point", json_pack("{sf}", "v", 1.0));
		r->judged = 1;
		assert_int_equal(metro_mx_judge(cases[i].error, metro_dec_e(2, 0),
						METRO_MX_RULE_FULL, metro_dec_e(0, 0),
						&r->judgement),
				 0);
		r->verdict = METRO_VERDICT_PASS;
		int64_t id = 0;
		assert_int_equal(metro_store_point_result(f.s, r, r->values, &id), 0);
		sqlite3 *db = raw(&f);
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db,
						    "SELECT error, rounded, mpe, verdict, rule "
						    "FROM points WHERE id = ?",
						    -1, &st, NULL),
				 SQLITE_OK);
		sqlite3_bind_int64(st, 1, id);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), cases[i].want);
		assert_string_equal((const char *)sqlite3_column_text(st, 1), cases[i].want);
		assert_string_equal((const char *)sqlite3_column_text(st, 2), "2");
		assert_string_equal((const char *)sqlite3_column_text(st, 3), "pass");
		assert_string_equal((const char *)sqlite3_column_text(st, 4), "full-precision");
		sqlite3_finalize(st);
		sqlite3_close(db);
		metro_point_result_free(&r);
	}
	/* An invalid value: refused by name, nothing stored, the store healthy. */
	struct metro_point_result *r =
		metro_point_result_new(run, 1, "S", "Q1", NULL, "flow-point", NULL);
	r->judged = 1;
	r->judgement.value = metro_dec_invalid();
	r->judgement.rounded = metro_dec_invalid();
	r->judgement.mpe = metro_dec_e(2, 0);
	assert_int_equal(metro_store_point_result(f.s, r, r->values, NULL), METRO_E_INVAL);
	assert_non_null(strstr(metro_store_errmsg(f.s), "point Q1 of position 1"));
	metro_point_result_free(&r);
	sqlite3 *db = raw(&f);
	sqlite3_stmt *st;
	sqlite3_prepare_v2(db, "SELECT count(*) FROM points WHERE test_point = 'Q1'", -1, &st,
			   NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_null(metro_store_failed(f.s));
	assert_int_equal(verify(&f, 0), 0);
	teardown_fx(&f);
}

/* ---- verdicts, corrections, certificates --------------------------------------------------- */

static void test_verdicts_immutable(void **state)
{
	(void)state;
	struct fx f;
	int64_t v1, v2;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 2, 0, NULL);
	assert_int_equal(point(&f, run, 1, "Q3", "0.1"), 0);
	assert_int_equal(verdict(&f, run, 1, "pass", 0, NULL, &v1), 0);
	/* A second verdict for the same position is not an overwrite. */
	assert_int_equal(verdict(&f, run, 1, "fail", 0, NULL, &v2), METRO_E_EXISTS);
	assert_non_null(strstr(metro_store_errmsg(f.s), "correction"));
	sqlite3 *db = raw(&f);
	assert_int_not_equal(raw_exec(db, "UPDATE verdicts SET verdict = 'fail'"), SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "immutable"));
	assert_int_not_equal(raw_exec(db, "DELETE FROM verdicts"), SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "immutable"));
	/* The other record tables and the chain refuse too; mutable ones refuse deletion. */
	assert_int_not_equal(raw_exec(db, "UPDATE points SET error = '0'"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "DELETE FROM chain"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "UPDATE chain SET hash = hash"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "DELETE FROM audit_events"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "DELETE FROM runs"), SQLITE_OK);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM verdicts"), 1);
	sqlite3_close(db);
	teardown_fx(&f);
}

static void test_corrections(void **state)
{
	(void)state;
	struct fx f;
	int64_t v1, v2, v3;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 1, 0, NULL);
	assert_int_equal(verdict(&f, run, 1, "pass", 0, NULL, &v1), 0);
	assert_int_equal(metro_store_run_end(f.s, run, "done", NULL), 0);
	/* A first verdict after the end is refused; a correction needs a reason. */
	assert_int_equal(verdict(&f, run, 1, "fail", 0, NULL, &v2), METRO_E_EXISTS);
	assert_int_equal(verdict(&f, run, 1, "fail", v1, NULL, &v2), METRO_E_INVAL);
	assert_int_equal(verdict(&f, run, 1, "fail", v1, "wrong meter constant", &v2), 0);
	assert_true(v2 > v1);
	/* Only the current verdict can be corrected. */
	assert_int_equal(verdict(&f, run, 1, "pass", v1, "again", &v3), METRO_E_STATE);
	assert_int_equal(verdict(&f, run, 1, "conditional", v2, "re-read", &v3), 0);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM verdicts"), 3);
	assert_int_equal(raw_int(db, "SELECT corrects FROM verdicts WHERE id = 2"), v1);
	assert_int_equal(raw_int(db, "SELECT verdict_id FROM positions WHERE run = 1"), v3);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE action = "
				     "'verdict.correct' AND actor = 'tester' AND why = 're-read'"),
			 1);
	sqlite3_close(db);
	json_t *detail;
	assert_int_equal(metro_store_run(f.s, run, &detail), 0);
	json_t *pos = json_array_get(json_object_get(detail, "positions"), 0);
	assert_string_equal(json_string_value(json_object_get(pos, "verdict")), "conditional");
	assert_int_equal(json_array_size(json_object_get(detail, "verdicts")), 3);
	json_decref(detail);
	assert_int_equal(verify(&f, 0), 0);
	teardown_fx(&f);
}

static void test_certificate_numbers(void **state)
{
	(void)state;
	struct fx f;
	char a[METRO_STORE_CERT_MAX], b[METRO_STORE_CERT_MAX], c[METRO_STORE_CERT_MAX];
	char want[64];
	setup_fx(&f, 0);
	int64_t run = begin(&f, 3, 0, NULL);
	assert_int_equal(metro_store_certificate(f.s, run, 1, a), METRO_E_STATE);
	assert_string_equal(a, "");
	for (int pos = 1; pos <= 3; pos++)
		assert_int_equal(verdict(&f, run, pos, pos == 3 ? "fail" : "pass", 0, NULL, NULL),
				 0);
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	assert_int_equal(metro_store_certificate(f.s, run, 1, a), 0);
	snprintf(want, sizeof want, "%s-%04d-000001", STATION, tm.tm_year + 1900);
	assert_string_equal(a, want);
	assert_int_equal(metro_store_certificate(f.s, run, 2, b), 0);
	assert_true(strcmp(a, b) < 0);
	/* A certificate row deleted behind the store's back does not free its number. */
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_exec(db, "DROP TRIGGER certificates_no_delete; DELETE FROM "
				      "certificates WHERE id = 2"),
			 SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "UPDATE cert_sequence SET last = 1"), SQLITE_OK);
	assert_int_not_equal(raw_exec(db, "DELETE FROM cert_sequence"), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(metro_store_certificate(f.s, run, 3, c), 0);
	snprintf(want, sizeof want, "%s-%04d-000003", STATION, tm.tm_year + 1900);
	assert_string_equal(c, want);
	db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM certificates WHERE kind = 'notice'"), 1);
	assert_int_not_equal(raw_exec(db, "INSERT INTO certificates (number, kind, run, position, "
					  "verdict, issued, chain_seq) SELECT number, kind, run, "
					  "position, verdict, issued, 0 FROM certificates LIMIT 1"),
			     SQLITE_OK);
	sqlite3_close(db);
	/* Restarts keep the sequence. */
	reopen(&f);
	assert_int_equal(metro_store_certificate(f.s, run, 3, c), 0);
	snprintf(want, sizeof want, "%s-%04d-000004", STATION, tm.tm_year + 1900);
	assert_string_equal(c, want);
	teardown_fx(&f);
}

/* ---- standards ----------------------------------------------------------------------------- */

static json_t *event(sqlite3 *db, int64_t id, const char *col)
{
	char *sql =
		metro_asprintf("SELECT %s FROM audit_events WHERE id = %lld", col, (long long)id);
	sqlite3_stmt *st;
	json_t *j = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		j = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
	sqlite3_finalize(st);
	free(sql);
	return j;
}

static void test_standards_sync(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE action = "
				     "'standard.add' AND actor = 'config' AND why = 'configuration "
				     "load'"),
			 2);
	int64_t events = raw_int(db, "SELECT count(*) FROM audit_events");
	/* The same configuration again changes nothing. */
	struct metro_standard_conf std[2] = {standard("std-a", "CERT-A-1", 100),
					     standard("std-b", "CERT-B-1", 200)};
	assert_int_equal(metro_store_sync_standards(f.s, std, 2), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events"), events);
	/* A renewed certificate: one event with old and new values of the changed fields only. */
	std[0].certificate = "CERT-A-2";
	std[0].due = tu_days_from_now(465);
	assert_int_equal(metro_store_sync_standards(f.s, std, 2), 0);
	int64_t ev = raw_int(db, "SELECT max(id) FROM audit_events");
	json_t *old = event(db, ev, "old"), *nw = event(db, ev, "new");
	assert_non_null(old);
	assert_int_equal(json_object_size(old), 2);
	assert_string_equal(json_string_value(json_object_get(old, "certificate")), "CERT-A-1");
	assert_string_equal(json_string_value(json_object_get(nw, "certificate")), "CERT-A-2");
	assert_non_null(json_object_get(old, "due"));
	json_decref(old);
	json_decref(nw);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM standard_changes WHERE std_id = 'std-a' "
				     "AND field IN ('certificate', 'due') AND old IS NOT NULL"),
			 2);
	/* A standard dropped from the configuration is retired, not deleted. */
	assert_int_equal(metro_store_sync_standards(f.s, std, 1), 0);
	assert_int_equal(raw_int(db, "SELECT active FROM standards WHERE std_id = 'std-b'"), 0);
	ev = raw_int(db, "SELECT max(id) FROM audit_events");
	old = event(db, ev, "old");
	assert_int_equal(json_integer_value(json_object_get(old, "active")), 1);
	json_decref(old);
	/* A manager's change names who and why; it needs both. */
	std[1].certificate = "CERT-B-2";
	assert_int_equal(metro_store_standard_change(f.s, &std[1], "", "x"), METRO_E_INVAL);
	assert_int_equal(metro_store_standard_change(f.s, &std[1], "li.manager", NULL),
			 METRO_E_INVAL);
	assert_int_equal(metro_store_standard_change(f.s, &std[1], "li.manager", "renewed"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE actor = 'li.manager' "
				     "AND why = 'renewed' AND action = 'standard.change'"),
			 1);
	assert_int_equal(raw_int(db, "SELECT active FROM standards WHERE std_id = 'std-b'"), 1);
	sqlite3_close(db);
	/* Days left, as of a given day. */
	struct metro_date day = tu_days_from_now(0);
	json_t *list;
	assert_int_equal(metro_store_standards(f.s, &day, &list), 0);
	assert_int_equal(json_array_size(list), 2);
	json_t *a = json_array_get(list, 0);
	assert_string_equal(json_string_value(json_object_get(a, "std_id")), "std-a");
	assert_int_equal(json_integer_value(json_object_get(a, "days_left")), 465);
	json_decref(list);
	assert_int_equal(verify(&f, 0), 0);
	teardown_fx(&f);
}

static void test_run_refusals(void **state)
{
	(void)state;
	struct fx f;
	int err;
	setup_fx(&f, 0);
	/* Expired standard: refused, the error names the standard and its due date. */
	struct metro_standard_conf old = standard("std-a", "CERT-A-1", -1);
	assert_int_equal(metro_store_standard_change(f.s, &old, "mgr", "test expiry"), 0);
	begin(&f, 1, 0, &err);
	assert_int_equal(err, METRO_E_DENIED);
	char due[16];
	struct metro_date d = tu_days_from_now(-1);
	snprintf(due, sizeof due, "%04d-%02d-%02d", d.year, d.month, d.day);
	assert_non_null(strstr(metro_store_errmsg(f.s), "std-a"));
	assert_non_null(strstr(metro_store_errmsg(f.s), due));
	/* Expired assessment certificate. */
	struct metro_standard_conf a = standard("std-a", "CERT-A-1", 10);
	a.assessment_certificate = "ASSESS-1";
	a.assessment_due = tu_days_from_now(-3);
	assert_int_equal(metro_store_standard_change(f.s, &a, "mgr", "test assessment"), 0);
	begin(&f, 1, 0, &err);
	assert_int_equal(err, METRO_E_DENIED);
	assert_non_null(strstr(metro_store_errmsg(f.s), "ASSESS-1"));
	/* Unknown (or retired) standard. */
	struct metro_standard_conf b = standard("std-b", "CERT-B-1", 10);
	assert_int_equal(metro_store_sync_standards(f.s, &b, 1), 0);
	begin(&f, 1, 0, &err);
	assert_int_equal(err, METRO_E_NOTFOUND);
	assert_non_null(strstr(metro_store_errmsg(f.s), "std-a"));
	/* Nothing was recorded by the refused runs. */
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM runs"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM run_standards"), 0);
	sqlite3_close(db);
	teardown_fx(&f);
}

/* Later edits of the registry do not change what a run recorded. */
static void test_run_standards_are_copies(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 1, 0, NULL);
	struct metro_standard_conf c = standard("std-a", "CERT-A-9", 300);
	assert_int_equal(metro_store_standard_change(f.s, &c, "mgr", "renewed"), 0);
	json_t *detail;
	assert_int_equal(metro_store_run(f.s, run, &detail), 0);
	json_t *s0 = json_array_get(json_object_get(detail, "standards"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "certificate")), "CERT-A-1");
	json_decref(detail);
	teardown_fx(&f);
}

/* ---- crash recovery and resume ------------------------------------------------------------- */

static void test_incomplete_on_reopen(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	metro_store_close(&f.s);
	/* A child starts a run, commits two points and dies without closing anything. */
	pid_t pid = fork();
	if (pid == 0) {
		char err[512];
		if (open_at(&f, 0, err, sizeof err))
			_exit(2);
		int e = 0;
		int64_t run = begin(&f, 2, 0, &e);
		if (e || point(&f, run, 1, "Q3", "0.1") || point(&f, run, 2, "Q3", "0.2"))
			_exit(3);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Unsigned tail: the verifier says so, and fails it in strict mode. */
	assert_int_equal(verify(&f, 0), 0);
	assert_int_equal(verify(&f, 1), METRO_E_CORRUPT);
	reopen(&f);
	const int64_t *runs;
	assert_int_equal(metro_store_recovered(f.s, &runs), 1);
	int64_t run = runs[0];
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM runs WHERE state = 'incomplete' AND "
				     "end_reason LIKE 'interrupted%'"),
			 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE action = "
				     "'run.incomplete' AND subject = 'run/1'"),
			 1);
	sqlite3_close(db);
	/* Never resumed silently: no more points on the interrupted run. */
	assert_int_equal(point(&f, run, 1, "Q2", "0.3"), METRO_E_STATE);
	json_t *done;
	assert_int_equal(metro_store_committed_points(f.s, run, &done), 0);
	assert_int_equal(json_array_size(done), 2);
	json_decref(done);
	/* The explicit resume-run: a new run linked to the interrupted one. */
	int err;
	int64_t r2 = begin(&f, 2, run, &err);
	assert_int_equal(err, 0);
	assert_int_equal(point(&f, r2, 1, "Q2", "0.3"), 0);
	assert_int_equal(metro_store_committed_points(f.s, r2, &done), 0);
	assert_int_equal(json_array_size(done), 3); /* its own and the interrupted run's */
	json_decref(done);
	begin(&f, 2, run, &err);
	assert_int_equal(err, METRO_E_EXISTS);
	assert_int_equal(metro_store_run_end(f.s, r2, "done", NULL), 0);
	begin(&f, 2, r2, &err);
	assert_int_equal(err, METRO_E_STATE);
	/* A reopen finds nothing more to recover. */
	reopen(&f);
	assert_int_equal(metro_store_recovered(f.s, &runs), 0);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, 1), 0);
	teardown_fx(&f);
}

/* ---- failing closed ------------------------------------------------------------------------ */

enum { FAULT_NONE, FAULT_FULL, FAULT_FSYNC };
static int fault_mode;
static int fault_hits;
static sqlite3_vfs *unix_vfs;
static sqlite3_vfs fault_vfs;

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real;
};

#define REAL(f) (((struct fault_file *)(f))->real)

static int ff_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}
static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), b, n, off);
}
static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
	if (fault_mode == FAULT_FULL) {
		fault_hits++;
		return SQLITE_FULL;
	}
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, off);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int ff_sync(sqlite3_file *f, int flags)
{
	if (fault_mode == FAULT_FSYNC) {
		fault_hits++;
		return SQLITE_IOERR_FSYNC;
	}
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int ff_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int ff_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}
static int ff_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}
static int ff_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}
static int ff_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int ff_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}
static int ff_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}
static int ff_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int ff_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}
static void ff_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int ff_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int ff_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods fault_io = {
	3,	    ff_close,	   ff_read,	ff_write,   ff_truncate, ff_sync,    ff_size,
	ff_lock,    ff_unlock,	   ff_reserved, ff_control, ff_sector,	 ff_devchar, ff_shmmap,
	ff_shmlock, ff_shmbarrier, ff_shmunmap, ff_fetch,   ff_unfetch,
};

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	(void)vfs;
	struct fault_file *p = (struct fault_file *)f;
	p->real = (sqlite3_file *)(p + 1);
	int rc = unix_vfs->xOpen(unix_vfs, name, p->real, flags, out);
	p->base.pMethods = p->real->pMethods ? &fault_io : NULL;
	return rc;
}

static void fault_vfs_install(void)
{
	unix_vfs = sqlite3_vfs_find(NULL);
	fault_vfs = *unix_vfs;
	fault_vfs.zName = "metro-fault";
	fault_vfs.pNext = NULL;
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) + unix_vfs->szOsFile;
	fault_vfs.xOpen = fv_open;
	assert_int_equal(sqlite3_vfs_register(&fault_vfs, 1), SQLITE_OK);
}

static void fault_vfs_remove(void)
{
	sqlite3_vfs_unregister(&fault_vfs);
	sqlite3_vfs_register(unix_vfs, 1);
}

static void failed_closed_with(int mode, const char *expect)
{
	struct fx f;
	fault_mode = FAULT_NONE;
	fault_hits = 0;
	fault_vfs_install();
	setup_fx(&f, 0);
	int64_t run = begin(&f, 2, 0, NULL);
	assert_int_equal(point(&f, run, 1, "Q3", "0.1"), 0);
	json_t *doc;
	assert_int_equal(metro_store_checkpoint(f.s, &doc), 0);
	json_decref(doc);
	assert_null(metro_store_failed(f.s));

	fault_mode = mode;
	assert_int_equal(point(&f, run, 2, "Q3", "0.2"), METRO_E_IO);
	assert_true(fault_hits > 0);
	const char *why = metro_store_failed(f.s);
	assert_non_null(why);
	assert_non_null(strstr(why, expect));
	/* The disk comes back: the store stays closed for writes until it is reopened. */
	fault_mode = FAULT_NONE;
	assert_int_equal(point(&f, run, 2, "Q3", "0.2"), METRO_E_IO);
	assert_int_equal(verdict(&f, run, 1, "pass", 0, NULL, NULL), METRO_E_IO);
	int err;
	begin(&f, 1, 0, &err);
	assert_int_equal(err, METRO_E_IO);
	assert_int_equal(metro_store_checkpoint(f.s, &doc), METRO_E_IO);
	int64_t seq;
	assert_int_equal(metro_store_next_seq(f.s, &seq), METRO_E_IO);
	assert_int_equal(metro_store_tx_begin(f.s), METRO_E_IO);
	/* Reads still work, and show nothing of the failed write. */
	json_t *done;
	assert_int_equal(metro_store_committed_points(f.s, run, &done), 0);
	assert_int_equal(json_array_size(done), 1);
	json_decref(done);
	/* Reopened: the file holds exactly the committed records, and they verify. */
	reopen(&f);
	assert_null(metro_store_failed(f.s));
	const int64_t *rec;
	assert_int_equal(metro_store_recovered(f.s, &rec), 1);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, 1), 0);
	teardown_fx(&f);
	fault_vfs_remove();
}

static void test_failed_closed_disk_full(void **state)
{
	(void)state;
	failed_closed_with(FAULT_FULL, "database or disk is full");
}

static void test_failed_closed_fsync_error(void **state)
{
	(void)state;
	failed_closed_with(FAULT_FSYNC, "disk I/O error");
}

/* The kernel refuses to grow the files: RLIMIT_FSIZE in a child process. */
static void test_failed_closed_file_size_limit(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	metro_store_close(&f.s);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char err[512];
		struct stat sb;
		int e = 0;
		if (open_at(&f, 0, err, sizeof err))
			_exit(10);
		int64_t run = begin(&f, 1, 0, &e);
		if (e)
			_exit(15);
		signal(SIGXFSZ, SIG_IGN);
		char *wal = metro_asprintf("%s-wal", f.db);
		off_t big = stat(wal, &sb) == 0 ? sb.st_size : 0;
		if (stat(f.db, &sb) == 0 && sb.st_size > big)
			big = sb.st_size;
		free(wal);
		struct rlimit rl = {(rlim_t)big + 65536, (rlim_t)big + 65536};
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(11);
		/* Large readings until the WAL cannot grow. */
		char *blob = metro_malloc(8192);
		memset(blob, 'x', 8191);
		blob[8191] = '\0';
		int err_at = 0;
		for (int i = 1; i <= 200 && !e; i++) {
			char tp[16];
			snprintf(tp, sizeof tp, "P%d", i);
			json_t *rd = json_pack("{ss}", "raw", blob);
			struct metro_store_point p = {run,  1,	   tp,	 1,    rd,   NULL,
						      NULL, "0.1", NULL, NULL, NULL, NULL};
			e = metro_store_point(f.s, &p, NULL);
			json_decref(rd);
			err_at = i;
		}
		free(blob);
		if (e != METRO_E_IO || err_at < 2) {
			fprintf(stderr, "rlimit child: error %d at point %d: %s\n", e, err_at,
				metro_store_errmsg(f.s));
			_exit(12);
		}
		if (!metro_store_failed(f.s) || !strstr(metro_store_failed(f.s), "I/O"))
			_exit(13);
		/* Refused from now on, even a tiny write. */
		if (metro_store_audit(f.s, "t", "a", NULL, NULL, NULL, "w", NULL) != METRO_E_IO)
			_exit(14);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Nothing half-written: the file verifies and the run is recovered as incomplete. */
	assert_int_equal(verify(&f, 0), 0);
	reopen(&f);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_exec(db, "PRAGMA integrity_check"), SQLITE_OK);
	assert_true(raw_int(db, "SELECT count(*) FROM points") >= 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM runs WHERE state = 'incomplete'"), 1);
	sqlite3_close(db);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, 1), 0);
	teardown_fx(&f);
}

/* ---- transactions, documents, seqs, checkpoints, keys -------------------------------------- */

static void test_transaction_groups(void **state)
{
	(void)state;
	struct fx f;
	int64_t seq;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 1, 0, NULL);
	/* A result and its document commit together. */
	assert_int_equal(metro_store_tx_begin(f.s), 0);
	assert_int_equal(point(&f, run, 1, "Q3", "0.1"), 0);
	json_t *doc = json_pack("{ss}", "schema", "metrod.point/1");
	assert_int_equal(metro_store_document(f.s, "point.rig-1", doc, &seq), 0);
	assert_int_equal(json_integer_value(json_object_get(doc, "seq")), seq);
	json_decref(doc);
	assert_int_equal(metro_store_tx_commit(f.s), 0);
	/* A failure inside the group rolls the whole group back. */
	assert_int_equal(metro_store_tx_begin(f.s), 0);
	assert_int_equal(point(&f, run, 1, "Q2", "0.2"), 0);
	assert_int_equal(point(&f, run, 9, "Q2", "0.2"), METRO_E_INVAL); /* no position 9 */
	doc = json_pack("{ss}", "schema", "metrod.point/1");
	assert_int_equal(metro_store_document(f.s, "point.rig-1", doc, NULL), METRO_E_INVAL);
	json_decref(doc);
	assert_int_equal(metro_store_tx_commit(f.s), METRO_E_INVAL);
	json_t *done;
	assert_int_equal(metro_store_committed_points(f.s, run, &done), 0);
	assert_int_equal(json_array_size(done), 1);
	json_decref(done);
	/* An explicit rollback too. */
	assert_int_equal(metro_store_tx_begin(f.s), 0);
	assert_int_equal(point(&f, run, 1, "Q1", "0.2"), 0);
	metro_store_tx_rollback(f.s);
	assert_int_equal(metro_store_tx_commit(f.s), METRO_E_STATE);
	assert_int_equal(metro_store_committed_points(f.s, run, &done), 0);
	assert_int_equal(json_array_size(done), 1);
	json_decref(done);
	assert_null(metro_store_failed(f.s));
	assert_int_equal(verify(&f, 0), 0);
	teardown_fx(&f);
}

static void test_seq_and_replay(void **state)
{
	(void)state;
	struct fx f;
	int64_t a, b, c, d;
	setup_fx(&f, 0);
	assert_int_equal(metro_store_next_seq(f.s, &a), 0);
	assert_int_equal(metro_store_next_seq(f.s, &b), 0);
	assert_true(b == a + 1);
	json_t *doc = json_pack("{ss}", "schema", "metrod.verdict/1");
	assert_int_equal(metro_store_document(f.s, "verdict.rig-1", doc, &c), 0);
	json_decref(doc);
	assert_true(c > b);
	reopen(&f);
	/* After a clean close numbering goes on right after the last document (the close's
	 * checkpoint, c + 1): the unused part of the reservation was given back. */
	assert_int_equal(metro_store_next_seq(f.s, &d), 0);
	assert_true(d == c + 2);
	json_t *list;
	assert_int_equal(metro_store_replay(f.s, c, 0, &list), 0);
	/* The verdict document and the final checkpoint of the first close, on topic audit. */
	assert_int_equal(json_array_size(list), 2);
	json_t *first = json_array_get(list, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "seq")), c);
	assert_string_equal(json_string_value(json_object_get(first, "topic")), "verdict.rig-1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "doc"), "seq")),
			 c);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "topic")),
			    "audit");
	json_decref(list);
	teardown_fx(&f);
}

static void test_checkpoints(void **state)
{
	(void)state;
	struct fx f;
	json_t *d1, *d2, *d3;
	setup_fx(&f, 0);
	assert_int_equal(metro_store_checkpoint(f.s, &d1), 0);
	assert_non_null(d1);
	/* Nothing new: no new checkpoint. */
	assert_int_equal(metro_store_checkpoint(f.s, &d2), 0);
	assert_null(d2);
	int64_t run = begin(&f, 1, 0, NULL);
	(void)run;
	assert_int_equal(metro_store_checkpoint(f.s, &d3), 0);
	assert_non_null(d3);
	assert_int_equal(json_integer_value(json_object_get(d3, "epoch")),
			 json_integer_value(json_object_get(d1, "epoch")) + 1);
	assert_true(json_integer_value(json_object_get(d3, "head_seq")) >
		    json_integer_value(json_object_get(d1, "head_seq")));
	assert_true(json_is_integer(json_object_get(d3, "seq")));
	assert_int_equal(strlen(json_string_value(json_object_get(d3, "id"))), 12);
	/* The published document verifies with the station key. */
	struct metro_audit_checkpoint cp;
	const char *why = NULL;
	assert_int_equal(metro_audit_checkpoint_parse(d3, &cp, &why), 0);
	unsigned char pk[32];
	assert_int_equal(metro_audit_unhex(metro_store_pubkey(f.s), 64, pk, 32), 0);
	assert_int_equal(metro_audit_checkpoint_check(&cp, pk, &why), 0);
	cp.head_seq++;
	assert_int_equal(metro_audit_checkpoint_check(&cp, pk, &why), METRO_E_CORRUPT);
	json_decref(d1);
	json_decref(d3);
	metro_store_close(&f.s);
	/* The verifier accepts it as the published checkpoint. */
	assert_int_equal(verify(&f, 1), 0);
	teardown_fx(&f);
}

static void test_key_files(void **state)
{
	(void)state;
	struct fx f;
	char err[512];
	setup_fx(&f, 0);
	metro_store_close(&f.s);
	char *key = metro_asprintf("%s/records.key", f.dir);
	char *pub = metro_asprintf("%s/records.pub", f.dir);
	char *pub2 = metro_asprintf("%s/records.pub.orig", f.dir);
	/* A key others can read is refused. */
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(open_at(&f, 0, err, sizeof err), METRO_E_DENIED);
	assert_non_null(strstr(err, "0600"));
	assert_int_equal(chmod(key, 0600), 0);
	/* A public key that does not match the secret key is refused. */
	assert_int_equal(rename(pub, pub2), 0);
	FILE *fp = fopen(pub, "w");
	fprintf(fp, "%064d\n", 0);
	fclose(fp);
	assert_int_equal(open_at(&f, 0, err, sizeof err), METRO_E_CORRUPT);
	/* A missing public key is written again from the secret key. */
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(open_at(&f, 0, err, sizeof err), 0);
	metro_store_close(&f.s);
	/* A public key without its secret key: no silent new key. */
	assert_int_equal(rename(key, pub2), 0);
	assert_int_equal(open_at(&f, 0, err, sizeof err), METRO_E_DENIED);
	/* With both gone, a new key is made, and the change is an audit event. */
	assert_int_equal(unlink(pub), 0);
	assert_int_equal(open_at(&f, 0, err, sizeof err), 0);
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE action = "
				     "'station.key-changed'"),
			 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM audit_events WHERE action = "
				     "'station.key-created'"),
			 2);
	sqlite3_close(db);
	metro_store_close(&f.s);
	/* Old checkpoints verify with the old key, new ones with the new key: both trusted. */
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f.db;
	assert_int_equal(metro_audit_read_pubkey(pub, o.pubkeys[0]), 0);
	o.npubkeys = 1;
	assert_int_equal(metro_audit_verify(&o, &r), METRO_E_CORRUPT);
	assert_string_equal(r.failures[0].check, "checkpoint-signature");
	metro_audit_report_free(&r);
	free(key);
	free(pub);
	free(pub2);
	teardown_fx(&f);
}

/* ---- queries ------------------------------------------------------------------------------- */

static void test_trace(void **state)
{
	(void)state;
	struct fx f;
	char num[METRO_STORE_CERT_MAX];
	int64_t in_id;
	setup_fx(&f, 0);
	int64_t run = begin(&f, 2, 0, NULL);
	assert_int_equal(point(&f, run, 1, "Q3", "0.42"), 0);
	assert_int_equal(point(&f, run, 2, "Q3", "0.11"), 0);
	struct metro_store_input in = {run, 1, "seal-intact", "yes", "op"};
	assert_int_equal(metro_store_input(f.s, &in, &in_id), 0);
	assert_int_equal(verdict(&f, run, 1, "pass", 0, NULL, NULL), 0);
	assert_int_equal(metro_store_run_end(f.s, run, "done", NULL), 0);
	assert_int_equal(metro_store_certificate(f.s, run, 1, num), 0);
	json_t *cp;
	assert_int_equal(metro_store_checkpoint(f.s, &cp), 0);
	json_decref(cp);
	json_t *t;
	assert_int_equal(metro_store_trace(f.s, num, &t), 0);
	assert_string_equal(json_string_value(json_object_get(t, "matched_by")), "certificate");
	json_t *e = json_array_get(json_object_get(t, "results"), 0);
	assert_int_equal(json_array_size(json_object_get(t, "results")), 1);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(e, "meter"), "serial")), "SER-1");
	json_t *r = json_object_get(e, "run");
	assert_true(json_is_true(
		json_object_get(json_object_get(r, "procedure"), "content_matches_sha256")));
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(r, "software"), "exe_sha256")),
		EXE_SHA);
	assert_string_equal(json_string_value(json_object_get(r, "operator")), "op");
	json_t *std = json_array_get(json_object_get(e, "standards"), 0);
	assert_string_equal(json_string_value(json_object_get(std, "certificate")), "CERT-A-1");
	json_t *pt = json_array_get(json_object_get(e, "points"), 0);
	assert_int_equal(json_array_size(json_object_get(e, "points")), 1);
	assert_true(json_is_object(json_object_get(pt, "readings")));
	assert_string_equal(json_string_value(json_object_get(pt, "error")), "0.42");
	assert_int_equal(json_array_size(json_object_get(e, "inputs")), 1);
	assert_true(json_is_object(json_object_get(e, "signed_by")));
	json_decref(t);
	/* By serial; unknown. */
	assert_int_equal(metro_store_trace(f.s, "SER-2", &t), 0);
	assert_string_equal(json_string_value(json_object_get(t, "matched_by")), "serial");
	json_decref(t);
	assert_int_equal(metro_store_trace(f.s, "NOPE", &t), METRO_E_NOTFOUND);
	assert_null(t);
	/* Runs list and detail. */
	json_t *runs;
	assert_int_equal(metro_store_runs(f.s, 0, &runs), 0);
	assert_int_equal(json_array_size(runs), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "positions")),
			 2);
	json_decref(runs);
	assert_int_equal(metro_store_run(f.s, 99, &t), METRO_E_NOTFOUND);
	teardown_fx(&f);
}

/* ---- the codec ----------------------------------------------------------------------------- */

static size_t sample_row(unsigned char *buf, size_t cap)
{
	struct metro_audit_record r;
	memset(&r, 0, sizeof r);
	r.kind = METRO_AUDIT_ROW;
	r.name = "points";
	r.name_len = 6;
	r.row_id = 42;
	r.nfields = 4;
	r.fields[0] = (struct metro_audit_field){"attempt", 7, METRO_AUDIT_INTEGER, -3, 0, NULL, 0};
	r.fields[1] = (struct metro_audit_field){"error", 5, METRO_AUDIT_TEXT, 0, 0, "0.42", 4};
	r.fields[2] = (struct metro_audit_field){"k", 1, METRO_AUDIT_REAL, 0, 2.5, NULL, 0};
	r.fields[3] = (struct metro_audit_field){"raw", 3, METRO_AUDIT_BLOB, 0, 0, "\0\1", 2};
	return metro_audit_encode(&r, buf, cap, NULL);
}

static void test_codec(void **state)
{
	(void)state;
	unsigned char buf[512], again[512];
	size_t n = sample_row(buf, sizeof buf);
	/* Documented layout: header, table, row id, count, then fields. */
	assert_int_equal(n, 4 + 1 + 1 + 6 + 8 + 2 + (1 + 7 + 1 + 8) + (1 + 5 + 1 + 4 + 4) +
				    (1 + 1 + 1 + 8) + (1 + 3 + 1 + 4 + 2));
	assert_memory_equal(buf, "MROW\x01\x06points", 12);
	struct metro_audit_record r;
	const char *why;
	assert_int_equal(metro_audit_decode(buf, n, &r, &why), 0);
	assert_int_equal(r.kind, METRO_AUDIT_ROW);
	assert_int_equal(r.row_id, 42);
	assert_int_equal(r.nfields, 4);
	assert_int_equal(r.fields[0].i, -3);
	assert_true(r.fields[2].r == 2.5);
	assert_int_equal(metro_audit_encode(&r, again, sizeof again, NULL), n);
	assert_memory_equal(buf, again, n);
	/* Truncations, trailing bytes, unsorted fields, bad names: all refused. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(metro_audit_decode(buf, k, &r, &why), METRO_E_CORRUPT);
	buf[n] = 0;
	assert_int_equal(metro_audit_decode(buf, n + 1, &r, &why), METRO_E_CORRUPT);
	assert_string_equal(why, "trailing bytes");
	memcpy(again, buf, n);
	again[21] = 'z'; /* "attempt" -> "zttempt": now after "error" */
	assert_int_equal(metro_audit_decode(again, n, &r, &why), METRO_E_CORRUPT);
	memcpy(again, buf, n);
	again[21] = 'A';
	assert_int_equal(metro_audit_decode(again, n, &r, &why), METRO_E_CORRUPT);
	/* Link and checkpoint records round-trip too. */
	struct metro_audit_record l;
	memset(&l, 0, sizeof l);
	l.kind = METRO_AUDIT_LINK;
	l.seq = 7;
	l.op = METRO_AUDIT_UPDATE;
	l.name = "runs";
	l.name_len = 4;
	l.row_id = 3;
	memset(l.row_hash, 0xab, 32);
	n = metro_audit_encode(&l, buf, sizeof buf, NULL);
	assert_int_equal(n, 4 + 1 + 8 + 1 + 1 + 4 + 8 + 32 + 32);
	assert_int_equal(metro_audit_decode(buf, n, &r, &why), 0);
	assert_int_equal(r.seq, 7);
	l.op = 3;
	assert_int_equal(metro_audit_encode(&l, buf, sizeof buf, NULL), 0);
	struct metro_audit_checkpoint cp;
	memset(&cp, 0, sizeof cp);
	strcpy(cp.station, "demo-lab");
	strcpy(cp.time, "2026-11-28T10:00:00.000000Z");
	cp.epoch = 3;
	cp.head_seq = 99;
	n = metro_audit_checkpoint_message(&cp, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(metro_audit_decode(buf, n, &r, &why), 0);
	assert_int_equal(r.kind, METRO_AUDIT_CHECKPOINT);
	assert_int_equal(r.head_seq, 99);
}

/* Random mutations of valid encodings: never a crash, and whatever decodes re-encodes to the
 * same bytes (one encoding per record). */
static void test_codec_mutations(void **state)
{
	(void)state;
	unsigned char base[512], buf[600], again[600];
	size_t n = sample_row(base, sizeof base);
	unsigned seed = 12345;
	int decoded = 0;
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, base, n);
		size_t len = n;
		int edits = 1 + (int)(rand_r(&seed) % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = rand_r(&seed) % len;
			switch (rand_r(&seed) % 3) {
			case 0:
				buf[at] = (unsigned char)rand_r(&seed);
				break;
			case 1:
				len = at + 1;
				break;
			default:
				if (len < sizeof buf)
					buf[len++] = (unsigned char)rand_r(&seed);
				break;
			}
		}
		struct metro_audit_record r;
		const char *why;
		if (metro_audit_decode(buf, len, &r, &why) == 0) {
			decoded++;
			assert_int_equal(metro_audit_encode(&r, again, sizeof again, NULL), len);
			assert_memory_equal(buf, again, len);
		} else {
			assert_non_null(why);
		}
	}
	assert_true(decoded > 0);
	struct metro_audit_record r;
	assert_int_equal(metro_audit_decode(NULL, 0, &r, NULL), METRO_E_CORRUPT);
}

/* An untouched store verifies, strictly, with its key; the verifier never writes. */
static void test_chain_verifies(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	for (int k = 0; k < 3; k++) {
		int64_t run = begin(&f, 2, 0, NULL);
		for (int pos = 1; pos <= 2; pos++) {
			assert_int_equal(point(&f, run, pos, "Q3", "0.1"), 0);
			assert_int_equal(verdict(&f, run, pos, "pass", 0, NULL, NULL), 0);
		}
		assert_int_equal(metro_store_run_end(f.s, run, "done", NULL), 0);
		json_t *cp;
		assert_int_equal(metro_store_checkpoint(f.s, &cp), 0);
		json_decref(cp);
	}
	metro_store_close(&f.s);
	struct stat before, after;
	assert_int_equal(stat(f.db, &before), 0);
	assert_int_equal(verify(&f, 1), 0);
	assert_int_equal(stat(f.db, &after), 0);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	assert_int_equal(before.st_size, after.st_size);
	/* One edit, and the verifier names the row. */
	sqlite3 *db = raw(&f);
	assert_int_equal(raw_exec(db, "DROP TRIGGER points_no_update; UPDATE points SET error = "
				      "'0.2' WHERE id = 3"),
			 SQLITE_OK);
	sqlite3_close(db);
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f.db;
	assert_int_equal(metro_audit_verify(&o, &r), METRO_E_CORRUPT);
	assert_string_equal(r.failures[0].table, "points");
	assert_int_equal(r.failures[0].row, 3);
	assert_string_equal(r.failures[0].check, "row-hash");
	metro_audit_report_free(&r);
	teardown_fx(&f);
}

int main(void)
{
	tu_srcdir();
	metro_log_set_level(METRO_LOG_ERR - 1); /* the tests provoke errors on purpose */
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_file),
		cmocka_unit_test(test_migrate_old_file),
		cmocka_unit_test(test_newer_schema_refused),
		cmocka_unit_test(test_strict_refusals),
		cmocka_unit_test(test_point_result_exact),
		cmocka_unit_test(test_verdicts_immutable),
		cmocka_unit_test(test_corrections),
		cmocka_unit_test(test_certificate_numbers),
		cmocka_unit_test(test_standards_sync),
		cmocka_unit_test(test_run_refusals),
		cmocka_unit_test(test_run_standards_are_copies),
		cmocka_unit_test(test_incomplete_on_reopen),
		cmocka_unit_test(test_failed_closed_disk_full),
		cmocka_unit_test(test_failed_closed_fsync_error),
		cmocka_unit_test(test_failed_closed_file_size_limit),
		cmocka_unit_test(test_transaction_groups),
		cmocka_unit_test(test_seq_and_replay),
		cmocka_unit_test(test_checkpoints),
		cmocka_unit_test(test_key_files),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_codec),
		cmocka_unit_test(test_codec_mutations),
		cmocka_unit_test(test_chain_verifies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
