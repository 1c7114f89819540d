/* Unit tests of the offline verifier (lib/records/audit_verify.c, metro_audit_verify): its API
 * and its exact error reporting.
 *
 * Each test builds a record store through lib/records' own API (two runs, points, verdicts,
 * inputs, certificates, two checkpoints), closes it, tampers with the SQLite file directly
 * (sqlite3_exec after dropping the schema's guard triggers, as a forger with write access
 * would), and checks that the verifier reports what docs/records.md "Verifying" promises: the
 * check's name, the table, row id and chain record, the full message, the order (the first
 * failing record in chain order first) and the count.  The expected messages are built here
 * from values read out of the tampered file (hashes, seqs, ids), not from the verifier.
 *
 * Some cases need a forger who also recomputes hashes: rechain() recomputes the row hashes of
 * every chained row and every link hash with the library's public encoder, and can re-sign the
 * checkpoints with a key of its own.  tests/integration/test_tamper.sh does the same end to
 * end through `metroctl audit verify`; this file is about the verifier's API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "audit_int.h"
#include "error.h"
#include "log.h"
#include "sha256.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define STATION "verify-lab"
#define EXE_SHA "bb00000000000000000000000000000000000000000000000000000000000002"
#define ELL "\xe2\x80\xa6" /* "…" as the verifier writes it after a shortened hash */

struct fx {
	char *dir, *db, *pub;
	json_t *published[3]; /* the checkpoint documents of epochs 1 and 2 */
	char *copy_after_1;   /* the file as it was right after checkpoint 1 */
};

static struct metro_store *open_store(struct fx *f)
{
	char err[512];
	struct metro_store *s = NULL;
	struct metro_store_opts o = {.path = f->db, .station = STATION};
	if (metro_store_open(&o, &s, err, sizeof err))
		fail_msg("open: %s", err);
	return s;
}

static int64_t run_begin(struct metro_store *s, int64_t proc, int positions)
{
	static const char *const ids[] = {"std-a"};
	struct metro_store_meter m[3];
	static char serial[3][24];
	static int next_serial;
	for (int i = 0; i < positions; i++) {
		snprintf(serial[i], sizeof serial[i], "WM-%04d", ++next_serial);
		m[i] = (struct metro_store_meter){i + 1,  serial[i], "LXS-15", "Maker",
						  "PA-1", "2",	     NULL};
	}
	struct metro_store_run r = {.rig = "water-1",
				    .procedure = proc,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "op",
				    .simulated = 1,
				    .standards = ids,
				    .nstandards = 1,
				    .meters = m,
				    .nmeters = (size_t)positions};
	int64_t run = 0;
	if (metro_store_run_begin(s, &r, &run))
		fail_msg("run_begin: %s", metro_store_errmsg(s));
	return run;
}

static void point(struct metro_store *s, int64_t run, int pos, const char *tp, const char *error,
		  const char *verdict)
{
	json_t *rd = json_pack("{s[ff]}", "volume_l", 10.0, 10.05);
	struct metro_store_point p = {run,  pos,   tp,	  1,   rd,	NULL,
				      NULL, error, error, "2", verdict, "full-precision"};
	int err = metro_store_point(s, &p, NULL);
	json_decref(rd);
	if (err)
		fail_msg("point: %s", metro_store_errmsg(s));
}

static void verdict(struct metro_store *s, int64_t run, int pos, const char *v)
{
	struct metro_store_verdict vd = {run, pos, v, NULL, "rule", 0, "engine", NULL};
	assert_int_equal(metro_store_verdict(s, &vd, NULL), 0);
}

/* extra_points more points in a third run (for the report's cap). */
static void build(struct fx *f, int extra_points)
{
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	f->db = metro_asprintf("%s/records.db", f->dir);
	f->pub = metro_asprintf("%s/records.pub", f->dir);
	f->copy_after_1 = metro_asprintf("%s/copy-after-1.db", f->dir);
	struct metro_store *s = open_store(f);
	struct metro_standard_conf std;
	memset(&std, 0, sizeof std);
	std.id = "std-a";
	std.description = "volumetric tank";
	std.serial = "T-1";
	std.certificate = "CAL-1";
	std.issuer = "Institute";
	std.calibrated = tu_days_from_now(-10);
	std.due = tu_days_from_now(300);
	std.uncertainty_pct = 0.05;
	std.k = 2;
	assert_int_equal(metro_store_sync_standards(s, &std, 1), 0);
	const char text[] = "procedure: {id: test}\nitems: [q3, q2]\n";
	int64_t proc;
	assert_int_equal(metro_store_procedure(s, "test.yaml", text, strlen(text), NULL, &proc), 0);

	/* run 1: two meters, two points each (recorded back to back), an input, verdicts,
	 * certificates; then checkpoint 1 */
	int64_t run = run_begin(s, proc, 2);
	assert_int_equal(metro_store_tx_begin(s), 0);
	point(s, run, 1, "q3", "0.42", "pass");
	point(s, run, 2, "q3", "-0.11", "pass");
	point(s, run, 1, "q2", "1.5", "pass");
	point(s, run, 2, "q2", "2.5", "fail");
	assert_int_equal(metro_store_tx_commit(s), 0);
	struct metro_store_input in = {run, 1, "visual", "pass", "op"};
	assert_int_equal(metro_store_input(s, &in, NULL), 0);
	verdict(s, run, 1, "pass");
	verdict(s, run, 2, "fail");
	assert_int_equal(metro_store_run_end(s, run, "done", NULL), 0);
	char num[METRO_STORE_CERT_MAX];
	assert_int_equal(metro_store_certificate(s, run, 1, num), 0);
	assert_int_equal(metro_store_certificate(s, run, 2, num), 0);
	assert_int_equal(metro_store_checkpoint(s, &f->published[1]), 0);
	assert_non_null(f->published[1]);
	metro_store_close(&s);
	/* a genuine older copy of the file */
	char *cmd = metro_asprintf("cp '%s' '%s'", f->db, f->copy_after_1);
	assert_int_equal(system(cmd), 0);
	free(cmd);

	/* run 2: one meter, then checkpoint 2 (the last chain record) */
	s = open_store(f);
	run = run_begin(s, proc, 1);
	point(s, run, 1, "q3", "-0.3", "pass");
	verdict(s, run, 1, "pass");
	assert_int_equal(metro_store_run_end(s, run, "done", NULL), 0);
	assert_int_equal(metro_store_certificate(s, run, 1, num), 0);
	if (extra_points) {
		run = run_begin(s, proc, 1);
		assert_int_equal(metro_store_tx_begin(s), 0);
		for (int i = 0; i < extra_points; i++) {
			char tp[16];
			snprintf(tp, sizeof tp, "p%03d", i);
			point(s, run, 1, tp, "0.1", "pass");
		}
		assert_int_equal(metro_store_tx_commit(s), 0);
		assert_int_equal(metro_store_run_end(s, run, "done", NULL), 0);
	}
	assert_int_equal(metro_store_checkpoint(s, &f->published[2]), 0);
	assert_non_null(f->published[2]);
	metro_store_close(&s);
}

static void destroy(struct fx *f)
{
	json_decref(f->published[1]);
	json_decref(f->published[2]);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->db);
	free(f->pub);
	free(f->copy_after_1);
}

/* ---- the raw file -------------------------------------------------------------------------- */

/* The file opened for tampering, with every guard trigger dropped. */
static sqlite3 *raw(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	char **names = NULL;
	size_t n = 0;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT name FROM sqlite_schema WHERE type = "
					    "'trigger'",
					    -1, &st, NULL),
			 SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		names = metro_realloc(names, (n + 1) * sizeof *names);
		names[n++] = metro_strdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	for (size_t i = 0; i < n; i++) {
		char *sql = metro_asprintf("DROP TRIGGER \"%s\"", names[i]);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
		free(sql);
		free(names[i]);
	}
	free(names);
	return db;
}

static void exec(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void exec(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = metro_vasprintf(fmt, ap);
	va_end(ap);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	free(sql);
}

static int64_t qint(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int64_t qint(sqlite3 *db, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = metro_vasprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_INTEGER)
		fail_msg("%s: no integer", sql);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	free(sql);
	return v;
}

/* One text value (copied into out). */
static void qtext(sqlite3 *db, char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void qtext(sqlite3 *db, char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *sql = metro_vasprintf(fmt, ap);
	va_end(ap);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) != SQLITE_TEXT)
		fail_msg("%s: no text", sql);
	metro_strlcpy(out, (const char *)sqlite3_column_text(st, 0), cap);
	sqlite3_finalize(st);
	free(sql);
}

/* The first 16 hex digits of a chain record's column (as the verifier shortens hashes). */
static void chain_hex16(sqlite3 *db, int64_t seq, const char *col, char out[17])
{
	qtext(db, out, 17, "SELECT lower(substr(%s, 1, 16)) FROM chain WHERE seq = %lld", col,
	      (long long)seq);
}

/* The row hash of a table's row as it is now. */
static void row_hash(sqlite3 *db, const char *table, int64_t id, unsigned char h[32])
{
	char *sql = metro_asprintf("SELECT * FROM \"%s\" WHERE id = %lld", table, (long long)id);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *why = NULL;
	assert_int_equal(metro_audit_hash_row(st, table, "id", h, &why), 0);
	sqlite3_finalize(st);
	free(sql);
}

static void hex16(const unsigned char *h, char out[17])
{
	metro_audit_hex(h, 8, out);
}

static void load_checkpoint(sqlite3 *db, int64_t epoch, struct metro_audit_checkpoint *cp)
{
	assert_int_equal(metro_audit_checkpoint_load(db, epoch, cp), 0);
}

static void store_checkpoint(sqlite3 *db, const struct metro_audit_checkpoint *cp)
{
	char hh[65], pk[65], sig[129];
	metro_audit_hex(cp->head_hash, 32, hh);
	metro_audit_hex(cp->pubkey, 32, pk);
	metro_audit_hex(cp->signature, 64, sig);
	exec(db,
	     "UPDATE checkpoints SET epoch = %lld, head_seq = %lld, head_hash = '%s', pubkey = "
	     "'%s', signature = '%s', short_id = '%s' WHERE id = %lld",
	     (long long)cp->epoch, (long long)cp->head_seq, hh, pk, sig, cp->short_id,
	     (long long)cp->row_id);
}

enum { KEEP_SIGNATURES, RESIGN };

/* A forger who knows the algorithm: every chained row's current record gets the row's hash as it
 * is now, every link hash is recomputed in seq order, and (RESIGN) every checkpoint gets the new
 * head hash and is signed again with sk.  With KEEP_SIGNATURES the checkpoints are left as they
 * are.  Records of earlier versions of mutable rows keep their row hashes. */
static void rechain(sqlite3 *db, int mode, const unsigned char *sk)
{
	int64_t n = qint(db, "SELECT max(seq) FROM chain");
	unsigned char(*hash)[32] = metro_calloc((size_t)n + 1, 32);
	unsigned char prev[32] = {0};
	for (int64_t seq = 1; seq <= n; seq++) {
		char tbl[64], op[16], rh[65];
		qtext(db, tbl, sizeof tbl, "SELECT tbl FROM chain WHERE seq = %lld",
		      (long long)seq);
		qtext(db, op, sizeof op, "SELECT op FROM chain WHERE seq = %lld", (long long)seq);
		qtext(db, rh, sizeof rh, "SELECT row_hash FROM chain WHERE seq = %lld",
		      (long long)seq);
		int64_t row = qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)seq);
		unsigned char h[32];
		assert_int_equal(metro_audit_unhex(rh, 64, h, 32), 0);
		int claimed =
			qint(db, "SELECT count(*) FROM \"%s\" WHERE id = %lld AND chain_seq = %lld",
			     tbl, (long long)row, (long long)seq) == 1;
		if (claimed && !strcmp(tbl, "checkpoints") && mode == RESIGN) {
			struct metro_audit_checkpoint cp;
			int64_t epoch = qint(db, "SELECT epoch FROM checkpoints WHERE id = %lld",
					     (long long)row);
			load_checkpoint(db, epoch, &cp);
			memcpy(cp.head_hash, hash[cp.head_seq], 32);
			assert_int_equal(metro_audit_checkpoint_sign(&cp, sk), 0);
			store_checkpoint(db, &cp);
		}
		if (claimed)
			row_hash(db, tbl, row, h);
		metro_audit_link_hash(
			seq, !strcmp(op, "insert") ? METRO_AUDIT_INSERT : METRO_AUDIT_UPDATE, tbl,
			row, h, prev, hash[seq]);
		char hx[65], px[65], lx[65];
		metro_audit_hex(h, 32, hx);
		metro_audit_hex(prev, 32, px);
		metro_audit_hex(hash[seq], 32, lx);
		exec(db,
		     "UPDATE chain SET row_hash = '%s', prev = '%s', hash = '%s' WHERE seq = %lld",
		     hx, px, lx, (long long)seq);
		memcpy(prev, hash[seq], 32);
	}
	free(hash);
}

/* ---- the verifier -------------------------------------------------------------------------- */

enum { NO_KEY = 0, STATION_KEY = 1, OTHER_KEY = 2, BOTH_KEYS = 3, STRICT = 4 };

static unsigned char other_pk[32], other_sk[64];

/* Verify f's file (or path) with the keys and strictness of flags and, when published is not
 * NULL, that checkpoint document.  Prints every failure (a failing test shows them). */
static int verify(struct fx *f, const char *path, int flags, const json_t *published,
		  struct metro_audit_report *r)
{
	struct metro_audit_opts o;
	memset(&o, 0, sizeof o);
	o.db_path = path ? path : f->db;
	o.strict = (flags & STRICT) != 0;
	if (flags & OTHER_KEY)
		memcpy(o.pubkeys[o.npubkeys++], other_pk, 32);
	if (flags & STATION_KEY)
		assert_int_equal(metro_audit_read_pubkey(f->pub, o.pubkeys[o.npubkeys++]), 0);
	struct metro_audit_checkpoint cp;
	if (published) {
		const char *why = NULL;
		assert_int_equal(metro_audit_checkpoint_parse(published, &cp, &why), 0);
		o.published = &cp;
	}
	int rc = metro_audit_verify(&o, r);
	for (size_t i = 0; i < r->nfailures; i++)
		fprintf(stderr, "  [%zu] %s %s row %lld seq %lld: %s\n", i, r->failures[i].check,
			r->failures[i].table, (long long)r->failures[i].row,
			(long long)r->failures[i].chain_seq, r->failures[i].message);
	for (size_t i = 0; i < r->nwarnings; i++)
		fprintf(stderr, "  warning: %s\n", r->warnings[i]);
	return rc;
}

static void expect_failure(const struct metro_audit_report *r, size_t i, const char *check,
			   const char *table, int64_t row, int64_t seq, const char *message)
{
	assert_true(i < r->nfailures);
	const struct metro_audit_failure *x = &r->failures[i];
	if (strcmp(x->message, message) != 0)
		fprintf(stderr, "failure %zu:\n  got  %s\n  want %s\n", i, x->message, message);
	assert_string_equal(x->check, check);
	assert_string_equal(x->table, table);
	assert_int_equal(x->row, row);
	assert_int_equal(x->chain_seq, seq);
	assert_string_equal(x->message, message);
}

#define STORED_KEY_WARNING                                                                         \
	"signatures were checked against the public key stored in the database: this shows the "   \
	"records are consistent, not who wrote them (anyone with write access can re-sign); give " \
	"--pubkey FILE"

/* ---- the untouched file -------------------------------------------------------------------- */

static void test_untouched(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	build(&f, 0);
	sqlite3 *db = raw(f.db);
	int64_t records = qint(db, "SELECT count(*) FROM chain");
	int64_t head = qint(db, "SELECT max(seq) FROM chain");
	int64_t rows = 0;
	size_t tables = 0;
	for (size_t i = 0; metro_audit_tables[i].name; i++, tables++)
		rows += qint(db, "SELECT count(*) FROM \"%s\"", metro_audit_tables[i].name);
	char head_hash[65];
	qtext(db, head_hash, sizeof head_hash, "SELECT hash FROM chain WHERE seq = %lld",
	      (long long)head);
	int64_t cp2_seq = qint(db, "SELECT chain_seq FROM checkpoints WHERE epoch = 2");
	sqlite3_close(db);

	/* strict, with the station's key and both published checkpoints */
	assert_int_equal(verify(&f, NULL, STATION_KEY | STRICT, f.published[2], &r), METRO_OK);
	assert_int_equal(r.schema_version, METRO_STORE_SCHEMA);
	assert_int_equal(r.records, records);
	assert_int_equal(r.head_seq, head);
	assert_string_equal(r.head_hash, head_hash);
	assert_int_equal(r.tables, tables);
	assert_int_equal(r.rows, rows);
	assert_int_equal(r.checkpoints, 2);
	assert_int_equal(r.last.epoch, 2);
	assert_int_equal(r.last.chain_seq, cp2_seq);
	assert_int_equal(cp2_seq, head); /* checkpoint 2 is the last record: nothing unsigned */
	assert_int_equal(r.unsigned_tail, 0);
	assert_int_equal(r.trusted_key, 1);
	assert_int_equal(r.rollback_checked, 1);
	assert_int_equal(r.nwarnings, 0);
	assert_int_equal(r.nfailures, 0);
	assert_int_equal(r.total_failures, 0);
	json_t *j = metro_audit_report_json(&r, METRO_OK);
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(j, "result")), "verified");
	assert_string_equal(json_string_value(json_object_get(j, "trust")), "pubkey");
	assert_true(json_is_null(json_object_get(j, "first_failure")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "head"), "seq")),
			 head);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(j, "last_checkpoint"), "epoch")),
		2);
	json_decref(j);
	metro_audit_report_free(&r);
	assert_int_equal(verify(&f, NULL, STATION_KEY, f.published[1], &r), METRO_OK);
	assert_int_equal(r.rollback_checked, 1);
	metro_audit_report_free(&r);

	/* without a key: verified, with the warning that says what the stored key proves */
	assert_int_equal(verify(&f, NULL, NO_KEY, NULL, &r), METRO_OK);
	assert_int_equal(r.trusted_key, 0);
	assert_int_equal(r.rollback_checked, 0);
	assert_int_equal(r.nwarnings, 1);
	assert_string_equal(r.warnings[0], STORED_KEY_WARNING);
	metro_audit_report_free(&r);
	/* ... and under --strict that warning is a failure */
	assert_int_equal(verify(&f, NULL, NO_KEY | STRICT, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	expect_failure(&r, 0, "untrusted-key", "", 0, 0, STORED_KEY_WARNING);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- edited content ------------------------------------------------------------------------ */

static void test_changed_payload(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512], now[17], stored[17];
	unsigned char h[32];
	build(&f, 0);

	/* a legal value of an immutable row */
	sqlite3 *db = raw(f.db);
	int64_t id = qint(db, "SELECT id FROM points WHERE test_point = 'q2' AND position = 2");
	int64_t seq = qint(db, "SELECT chain_seq FROM points WHERE id = %lld", (long long)id);
	exec(db, "UPDATE points SET verdict = 'pass', error = '1.5' WHERE id = %lld",
	     (long long)id);
	row_hash(db, "points", id, h);
	hex16(h, now);
	chain_hex16(db, seq, "row_hash", stored);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "points row %lld (chain record %lld): content differs from what was chained (row "
		 "hash %s" ELL ", stored %s" ELL "): the row was edited",
		 (long long)id, (long long)seq, now, stored);
	expect_failure(&r, 0, "row-hash", "points", id, seq, msg);
	json_t *j = metro_audit_report_json(&r, METRO_E_CORRUPT);
	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(j, "result")), "failed");
	assert_int_equal(json_integer_value(json_object_get(j, "failure_count")), 1);
	json_t *first = json_object_get(j, "first_failure");
	assert_string_equal(json_string_value(json_object_get(first, "check")), "row-hash");
	assert_string_equal(json_string_value(json_object_get(first, "table")), "points");
	assert_int_equal(json_integer_value(json_object_get(first, "row")), id);
	assert_int_equal(json_integer_value(json_object_get(first, "chain_seq")), seq);
	assert_string_equal(json_string_value(json_object_get(first, "message")), msg);
	assert_int_equal(json_array_size(json_object_get(j, "failures")), 1);
	json_decref(j);
	metro_audit_report_free(&r);

	/* a mutable row (the run) is checked against the record it carries now */
	db = raw(f.db);
	int64_t run = qint(db, "SELECT min(id) FROM runs");
	int64_t rseq = qint(db, "SELECT chain_seq FROM runs WHERE id = %lld", (long long)run);
	assert_true(qint(db, "SELECT count(*) FROM chain WHERE tbl = 'runs' AND row_id = %lld",
			 (long long)run) > 1); /* inserted, then updated at its end */
	exec(db, "UPDATE runs SET operator = 'someone else' WHERE id = %lld", (long long)run);
	row_hash(db, "runs", run, h);
	hex16(h, now);
	chain_hex16(db, rseq, "row_hash", stored);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	/* in chain order: the run's current record is its end, after the edited point (which
	 * the runs table, scanned first, cannot change) */
	assert_true(rseq > seq);
	assert_int_equal(r.total_failures, 2);
	assert_string_equal(r.failures[0].check, "row-hash");
	assert_int_equal(r.failures[0].row, id);
	snprintf(msg, sizeof msg,
		 "runs row %lld (chain record %lld): content differs from what was chained (row "
		 "hash %s" ELL ", stored %s" ELL "): the row was edited",
		 (long long)run, (long long)rseq, now, stored);
	expect_failure(&r, 1, "row-hash", "runs", run, rseq, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* A chain record edited (its row hash replaced): the link hash no longer matches, and neither
 * does the row. */
static void test_edited_chain_record(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512], stored[17], recomputed[17], row_now[17], bogus[17];
	build(&f, 0);
	sqlite3 *db = raw(f.db);
	int64_t seq = qint(db, "SELECT chain_seq FROM inputs LIMIT 1");
	int64_t id = qint(db, "SELECT id FROM inputs LIMIT 1");
	exec(db, "UPDATE chain SET row_hash = '%064d' WHERE seq = %lld", 7, (long long)seq);
	chain_hex16(db, seq, "hash", stored);
	chain_hex16(db, seq, "row_hash", bogus);
	char tbl[16], prevx[65], rhx[65];
	qtext(db, tbl, sizeof tbl, "SELECT tbl FROM chain WHERE seq = %lld", (long long)seq);
	qtext(db, prevx, sizeof prevx, "SELECT prev FROM chain WHERE seq = %lld", (long long)seq);
	qtext(db, rhx, sizeof rhx, "SELECT row_hash FROM chain WHERE seq = %lld", (long long)seq);
	unsigned char prev[32], rh[32], h[32];
	assert_int_equal(metro_audit_unhex(prevx, 64, prev, 32), 0);
	assert_int_equal(metro_audit_unhex(rhx, 64, rh, 32), 0);
	metro_audit_link_hash(seq, METRO_AUDIT_INSERT, "inputs", id, rh, prev, h);
	hex16(h, recomputed);
	row_hash(db, "inputs", id, h);
	hex16(h, row_now);
	sqlite3_close(db);
	assert_string_equal(tbl, "inputs");
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 2);
	snprintf(msg, sizeof msg,
		 "chain record %lld (inputs row %lld): stored hash %s" ELL " differs from the "
		 "recomputed %s" ELL " (the chain record was edited)",
		 (long long)seq, (long long)id, stored, recomputed);
	expect_failure(&r, 0, "link-hash", "inputs", id, seq, msg);
	snprintf(msg, sizeof msg,
		 "inputs row %lld (chain record %lld): content differs from what was chained (row "
		 "hash %s" ELL ", stored %s" ELL "): the row was edited",
		 (long long)id, (long long)seq, row_now, bogus);
	expect_failure(&r, 1, "row-hash", "inputs", id, seq, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- deleted rows and records -------------------------------------------------------------- */

static void test_deleted(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512], a[17], b[17];
	build(&f, 0);

	/* a verdict row deleted: its chain record leads nowhere */
	sqlite3 *db = raw(f.db);
	int64_t id = qint(db, "SELECT max(id) FROM verdicts");
	int64_t seq = qint(db, "SELECT chain_seq FROM verdicts WHERE id = %lld", (long long)id);
	exec(db, "DELETE FROM verdicts WHERE id = %lld", (long long)id);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "chain record %lld records verdicts row %lld, which is missing or no longer "
		 "carries it (deleted, moved or rolled back)",
		 (long long)seq, (long long)id);
	expect_failure(&r, 0, "deleted-row", "verdicts", id, seq, msg);
	metro_audit_report_free(&r);
	destroy(&f);

	/* a chain record deleted in the middle: a gap, a broken link after it, and the row that
	 * claims the record */
	build(&f, 0);
	db = raw(f.db);
	int64_t pid = qint(db, "SELECT min(id) FROM points");
	int64_t m = qint(db, "SELECT chain_seq FROM points WHERE id = %lld", (long long)pid);
	int64_t next_row = qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)m + 1);
	char next_tbl[32];
	qtext(db, next_tbl, sizeof next_tbl, "SELECT tbl FROM chain WHERE seq = %lld",
	      (long long)m + 1);
	chain_hex16(db, m + 1, "prev", a); /* = the deleted record's hash */
	chain_hex16(db, m - 1, "hash", b);
	exec(db, "DELETE FROM chain WHERE seq = %lld", (long long)m);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 3);
	snprintf(msg, sizeof msg, "chain records %lld..%lld are missing (deleted)", (long long)m,
		 (long long)m);
	expect_failure(&r, 0, "chain-gap", "chain", 0, m, msg);
	snprintf(msg, sizeof msg, "points row %lld claims chain record %lld, which does not exist",
		 (long long)pid, (long long)m);
	expect_failure(&r, 1, "unchained-row", "points", pid, m, msg);
	snprintf(msg, sizeof msg,
		 "chain record %lld (%s row %lld): its previous hash %s" ELL " is not the hash of "
		 "record %lld (%s" ELL "): records removed, inserted or reordered",
		 (long long)m + 1, next_tbl, (long long)next_row, a, (long long)m, b);
	expect_failure(&r, 2, "link-prev", next_tbl, next_row, m + 1, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- reordered ----------------------------------------------------------------------------- */

static void test_reordered(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512], prev_now[17], hash_before[17];
	build(&f, 0);

	/* two consecutive chain records (both points) swap places */
	sqlite3 *db = raw(f.db);
	int64_t a = qint(db, "SELECT min(c.seq) FROM chain c JOIN chain d ON d.seq = c.seq + 1 "
			     "WHERE c.tbl = 'points' AND d.tbl = 'points'");
	int64_t ra = qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)a);
	int64_t rb = qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)a + 1);
	chain_hex16(db, a, "hash", prev_now); /* record a+1's prev, which moves to a */
	chain_hex16(db, a - 1, "hash", hash_before);
	exec(db,
	     "CREATE TEMP TABLE t AS SELECT * FROM chain WHERE seq IN (%lld, %lld);"
	     "UPDATE chain SET (row_id, row_hash, prev, hash) = (SELECT row_id, row_hash, prev, "
	     "hash FROM t WHERE t.seq = CASE chain.seq WHEN %lld THEN %lld ELSE %lld END) WHERE "
	     "seq IN (%lld, %lld)",
	     (long long)a, (long long)a + 1, (long long)a, (long long)a + 1, (long long)a,
	     (long long)a, (long long)a + 1);
	assert_int_equal(qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)a), rb);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	/* at a: the link (prev, hash), the row that claims a, the record nobody claims; the same
	 * at a+1; and record a+2, whose previous record's hash has changed */
	assert_int_equal(r.total_failures, 9);
	snprintf(msg, sizeof msg,
		 "chain record %lld (points row %lld): its previous hash %s" ELL " is not the hash "
		 "of record %lld (%s" ELL "): records removed, inserted or reordered",
		 (long long)a, (long long)rb, prev_now, (long long)a - 1, hash_before);
	expect_failure(&r, 0, "link-prev", "points", rb, a, msg);
	assert_string_equal(r.failures[1].check, "link-hash");
	assert_int_equal(r.failures[1].chain_seq, a);
	snprintf(msg, sizeof msg,
		 "points row %lld claims chain record %lld, which records points row %lld (rows "
		 "moved, swapped or renumbered)",
		 (long long)ra, (long long)a, (long long)rb);
	expect_failure(&r, 2, "chain-mismatch", "points", ra, a, msg);
	snprintf(msg, sizeof msg,
		 "chain record %lld records points row %lld, which is missing or no longer carries "
		 "it (deleted, moved or rolled back)",
		 (long long)a, (long long)rb);
	expect_failure(&r, 3, "deleted-row", "points", rb, a, msg);
	for (size_t i = 4; i < 8; i++)
		assert_int_equal(r.failures[i].chain_seq, a + 1);
	assert_string_equal(r.failures[8].check, "link-prev");
	assert_int_equal(r.failures[8].chain_seq, a + 2);
	metro_audit_report_free(&r);
	destroy(&f);

	/* two rows swap the records they carry (the chain itself intact) */
	build(&f, 0);
	db = raw(f.db);
	int64_t p1 = qint(db, "SELECT min(id) FROM points");
	int64_t p2 = qint(db, "SELECT max(id) FROM points");
	int64_t s1 = qint(db, "SELECT chain_seq FROM points WHERE id = %lld", (long long)p1);
	int64_t s2 = qint(db, "SELECT chain_seq FROM points WHERE id = %lld", (long long)p2);
	exec(db,
	     "UPDATE points SET chain_seq = CASE id WHEN %lld THEN %lld ELSE %lld END WHERE id IN "
	     "(%lld, %lld)",
	     (long long)p1, (long long)s2, (long long)s1, (long long)p1, (long long)p2);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 4);
	snprintf(msg, sizeof msg,
		 "points row %lld claims chain record %lld, which records points row %lld (rows "
		 "moved, swapped or renumbered)",
		 (long long)p2, (long long)s1, (long long)p1);
	expect_failure(&r, 0, "chain-mismatch", "points", p2, s1, msg);
	snprintf(msg, sizeof msg,
		 "chain record %lld records points row %lld, which is missing or no longer carries "
		 "it (deleted, moved or rolled back)",
		 (long long)s1, (long long)p1);
	expect_failure(&r, 1, "deleted-row", "points", p1, s1, msg);
	assert_int_equal(r.failures[2].chain_seq, s2);
	assert_int_equal(r.failures[3].chain_seq, s2);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- signatures and keys ------------------------------------------------------------------- */

static void test_broken_signature(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	struct metro_audit_checkpoint cp;
	char msg[512];
	build(&f, 0);

	/* one bit of the last checkpoint's signature, the row and chain hashes made to fit */
	sqlite3 *db = raw(f.db);
	load_checkpoint(db, 2, &cp);
	cp.signature[17] ^= 0x04;
	store_checkpoint(db, &cp);
	rechain(db, KEEP_SIGNATURES, NULL);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (epoch 2, %s, chain record %lld): signature does not verify "
		 "with the trusted key (re-signed with another key, or edited)",
		 (long long)cp.row_id, cp.short_id, (long long)cp.chain_seq);
	expect_failure(&r, 0, "checkpoint-signature", "checkpoints", cp.row_id, cp.chain_seq, msg);
	metro_audit_report_free(&r);
	/* against the stored key: the same failure, said so */
	assert_int_equal(verify(&f, NULL, NO_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (epoch 2, %s, chain record %lld): signature does not verify "
		 "with the stored key",
		 (long long)cp.row_id, cp.short_id, (long long)cp.chain_seq);
	expect_failure(&r, 0, "checkpoint-signature", "checkpoints", cp.row_id, cp.chain_seq, msg);
	metro_audit_report_free(&r);
	destroy(&f);

	/* the same edit without fixing the hashes: the checkpoint row is chained too */
	build(&f, 0);
	db = raw(f.db);
	load_checkpoint(db, 1, &cp);
	cp.signature[0] ^= 0x80;
	store_checkpoint(db, &cp);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 2);
	assert_string_equal(r.failures[0].check, "row-hash");
	assert_string_equal(r.failures[0].table, "checkpoints");
	assert_int_equal(r.failures[0].chain_seq, cp.chain_seq);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (epoch 1, %s, chain record %lld): signature does not verify "
		 "with the trusted key (re-signed with another key, or edited)",
		 (long long)cp.row_id, cp.short_id, (long long)cp.chain_seq);
	expect_failure(&r, 1, "checkpoint-signature", "checkpoints", cp.row_id, cp.chain_seq, msg);
	metro_audit_report_free(&r);
	destroy(&f);

	/* the short id, then the epoch, edited (hashes made to fit) */
	build(&f, 0);
	db = raw(f.db);
	load_checkpoint(db, 2, &cp);
	cp.short_id[0] = cp.short_id[0] == 'a' ? 'b' : 'a';
	store_checkpoint(db, &cp);
	rechain(db, KEEP_SIGNATURES, NULL);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (epoch 2, %s, chain record %lld): short id does not match "
		 "the signed content (re-signed with another key, or edited)",
		 (long long)cp.row_id, cp.short_id, (long long)cp.chain_seq);
	expect_failure(&r, 0, "checkpoint-signature", "checkpoints", cp.row_id, cp.chain_seq, msg);
	metro_audit_report_free(&r);
	destroy(&f);

	build(&f, 0);
	db = raw(f.db);
	load_checkpoint(db, 2, &cp);
	cp.epoch = 3;
	store_checkpoint(db, &cp);
	rechain(db, KEEP_SIGNATURES, NULL);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 2);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (chain record %lld): epoch 3 where 2 was expected (epochs "
		 "rise by one: checkpoints deleted, inserted or renumbered)",
		 (long long)cp.row_id, (long long)cp.chain_seq);
	expect_failure(&r, 0, "checkpoint-epoch", "checkpoints", cp.row_id, cp.chain_seq, msg);
	assert_string_equal(r.failures[1].check, "checkpoint-signature"); /* the epoch is signed */
	metro_audit_report_free(&r);
	destroy(&f);
}

static void test_wrong_key(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	struct metro_audit_checkpoint cp[3];
	char msg[512];
	build(&f, 0);
	sqlite3 *db = raw(f.db);
	load_checkpoint(db, 1, &cp[1]);
	load_checkpoint(db, 2, &cp[2]);
	sqlite3_close(db);

	/* an untouched file against a key that is not the station's: every checkpoint fails */
	assert_int_equal(verify(&f, NULL, OTHER_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 2);
	for (int e = 1; e <= 2; e++) {
		snprintf(msg, sizeof msg,
			 "checkpoints row %lld (epoch %d, %s, chain record %lld): signature does "
			 "not "
			 "verify with the trusted key (re-signed with another key, or edited)",
			 (long long)cp[e].row_id, e, cp[e].short_id, (long long)cp[e].chain_seq);
		expect_failure(&r, (size_t)e - 1, "checkpoint-signature", "checkpoints",
			       cp[e].row_id, cp[e].chain_seq, msg);
	}
	metro_audit_report_free(&r);
	/* any one of the keys given may have signed */
	assert_int_equal(verify(&f, NULL, BOTH_KEYS, NULL, &r), METRO_OK);
	metro_audit_report_free(&r);

	/* a forger edits a point, recomputes every hash and re-signs with a key of their own */
	db = raw(f.db);
	exec(db, "UPDATE points SET error = '0.01', rounded = '0.01' WHERE id = (SELECT max(id) "
		 "FROM points)");
	rechain(db, RESIGN, other_sk);
	struct metro_audit_checkpoint forged[3];
	load_checkpoint(db, 1, &forged[1]);
	load_checkpoint(db, 2, &forged[2]);
	sqlite3_close(db);
	/* consistent in itself: only the stored key's warning */
	assert_int_equal(verify(&f, NULL, NO_KEY, NULL, &r), METRO_OK);
	assert_int_equal(r.nwarnings, 1);
	assert_string_equal(r.warnings[0], STORED_KEY_WARNING);
	metro_audit_report_free(&r);
	/* the station's key exposes it: both checkpoints, nothing else */
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 2);
	for (int e = 1; e <= 2; e++) {
		snprintf(msg, sizeof msg,
			 "checkpoints row %lld (epoch %d, %s, chain record %lld): signature does "
			 "not "
			 "verify with the trusted key (re-signed with another key, or edited)",
			 (long long)forged[e].row_id, e, forged[e].short_id,
			 (long long)forged[e].chain_seq);
		expect_failure(&r, (size_t)e - 1, "checkpoint-signature", "checkpoints",
			       forged[e].row_id, forged[e].chain_seq, msg);
	}
	metro_audit_report_free(&r);
	/* and so does a checkpoint published before the forgery, even without the key */
	assert_int_equal(verify(&f, NULL, NO_KEY, f.published[1], &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "fork: checkpoint epoch 1 in the database (%s, head %lld) differs from the "
		 "published one (%s, head %lld)",
		 forged[1].short_id, (long long)forged[1].head_seq, cp[1].short_id,
		 (long long)cp[1].head_seq);
	expect_failure(&r, 0, "rollback", "checkpoints", forged[1].row_id, forged[1].chain_seq,
		       msg);
	metro_audit_report_free(&r);
	/* a published checkpoint that does not verify itself is refused as such */
	json_t *bad = json_deep_copy(f.published[1]);
	json_object_set_new(bad, "head_seq", json_integer(cp[1].head_seq + 1));
	assert_int_equal(verify(&f, NULL, STATION_KEY, bad, &r), METRO_E_CORRUPT);
	json_decref(bad);
	snprintf(msg, sizeof msg,
		 "the published checkpoint given (epoch 1, %s) does not verify: signature does not "
		 "verify with the trusted key",
		 cp[1].short_id);
	/* in chain order it comes first: a whole-file problem */
	expect_failure(&r, 0, "published-checkpoint", "", 0, 0, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- truncation and rollback --------------------------------------------------------------- */

static void test_truncated(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	struct metro_audit_checkpoint cp1, cp2;
	char msg[512];
	build(&f, 0);
	sqlite3 *db = raw(f.db);
	load_checkpoint(db, 1, &cp1);
	load_checkpoint(db, 2, &cp2);
	int64_t head = qint(db, "SELECT max(seq) FROM chain");
	sqlite3_close(db);
	assert_int_equal(cp2.chain_seq, head);
	assert_int_equal(cp2.head_seq, head - 1);

	/* an older copy (consistent in itself) verifies, but not against a later published
	 * checkpoint */
	assert_int_equal(verify(&f, f.copy_after_1, STATION_KEY | STRICT, NULL, &r), METRO_OK);
	assert_int_equal(r.head_seq, cp1.chain_seq);
	metro_audit_report_free(&r);
	assert_int_equal(verify(&f, f.copy_after_1, STATION_KEY, f.published[2], &r),
			 METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "rollback: the database lacks published checkpoint epoch 2 (%s, head %lld); its "
		 "latest is epoch 1 and its chain ends at record %lld: it is an older copy or was "
		 "truncated",
		 cp2.short_id, (long long)cp2.head_seq, (long long)cp1.chain_seq);
	expect_failure(&r, 0, "rollback", "checkpoints", 0, cp2.head_seq + 1, msg);
	metro_audit_report_free(&r);

	/* the chain cut after head - 2, the rows left in place: the rows claim records that do
	 * not exist, and checkpoint 2 signs a record that does not exist */
	db = raw(f.db);
	int64_t cut = head - 2;
	char tbl[32];
	qtext(db, tbl, sizeof tbl, "SELECT tbl FROM chain WHERE seq = %lld", (long long)head - 1);
	int64_t row = qint(db, "SELECT row_id FROM chain WHERE seq = %lld", (long long)head - 1);
	/* (an insert: no earlier record of that row is left unclaimed by the cut) */
	assert_int_equal(
		qint(db, "SELECT op = 'insert' FROM chain WHERE seq = %lld", (long long)head - 1),
		1);
	exec(db, "DELETE FROM chain WHERE seq > %lld", (long long)cut);
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.head_seq, cut);
	assert_int_equal(r.total_failures, 3);
	snprintf(msg, sizeof msg, "%s row %lld claims chain record %lld, which does not exist", tbl,
		 (long long)row, (long long)head - 1);
	expect_failure(&r, 0, "unchained-row", tbl, row, head - 1, msg);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld (epoch 2, %s): signs chain record %lld, which does not "
		 "exist: the chain was truncated",
		 (long long)cp2.row_id, cp2.short_id, (long long)cp2.head_seq);
	expect_failure(&r, 1, "checkpoint-head", "checkpoints", cp2.row_id, cp2.chain_seq, msg);
	snprintf(msg, sizeof msg,
		 "checkpoints row %lld claims chain record %lld, which does not exist",
		 (long long)cp2.row_id, (long long)head);
	expect_failure(&r, 2, "unchained-row", "checkpoints", cp2.row_id, head, msg);
	metro_audit_report_free(&r);
	destroy(&f);

	/* the last checkpoint removed with its record: the records it signed are an unsigned
	 * tail (a warning; a failure under --strict), and a published copy of it is missing */
	build(&f, 0);
	db = raw(f.db);
	exec(db, "DELETE FROM checkpoints WHERE epoch = 2; DELETE FROM chain WHERE seq = %lld",
	     (long long)head);
	sqlite3_close(db);
	int64_t tail = head - 1 - cp1.chain_seq;
	assert_true(tail > 0);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_OK);
	assert_int_equal(r.unsigned_tail, tail);
	assert_int_equal(r.nwarnings, 1);
	snprintf(msg, sizeof msg,
		 "%lld chain records after the last checkpoint (records %lld..%lld) are not signed "
		 "yet",
		 (long long)tail, (long long)cp1.chain_seq + 1, (long long)head - 1);
	assert_string_equal(r.warnings[0], msg);
	metro_audit_report_free(&r);
	assert_int_equal(verify(&f, NULL, STATION_KEY | STRICT, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "%lld chain records after the last checkpoint (records %lld..%lld) are not signed",
		 (long long)tail, (long long)cp1.chain_seq + 1, (long long)head - 1);
	expect_failure(&r, 0, "unsigned", "chain", 0, cp1.chain_seq + 1, msg);
	metro_audit_report_free(&r);
	assert_int_equal(verify(&f, NULL, STATION_KEY, f.published[2], &r), METRO_E_CORRUPT);
	assert_string_equal(r.failures[0].check, "rollback");
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- consistency checks -------------------------------------------------------------------- */

static void test_consistency(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512];
	build(&f, 0);

	/* the procedure text changed and the chain recomputed, the checkpoints left alone: the
	 * content no longer has its digest, and both checkpoints sign heads that changed */
	sqlite3 *db = raw(f.db);
	struct metro_audit_checkpoint cp[3];
	load_checkpoint(db, 1, &cp[1]);
	load_checkpoint(db, 2, &cp[2]);
	int64_t pid = qint(db, "SELECT id FROM procedures");
	char stored[65];
	qtext(db, stored, sizeof stored, "SELECT sha256 FROM procedures WHERE id = %lld",
	      (long long)pid);
	const char edited[] = "procedure: {id: test}\nitems: [q3]\n";
	exec(db, "UPDATE procedures SET content = '%s' WHERE id = %lld", edited, (long long)pid);
	int64_t pseq = qint(db, "SELECT chain_seq FROM procedures WHERE id = %lld", (long long)pid);
	rechain(db, KEEP_SIGNATURES, NULL);
	char now1[17], now2[17], signed1[17], signed2[17];
	chain_hex16(db, cp[1].head_seq, "hash", now1);
	chain_hex16(db, cp[2].head_seq, "hash", now2);
	hex16(cp[1].head_hash, signed1);
	hex16(cp[2].head_hash, signed2);
	sqlite3_close(db);
	char digest[65];
	metro_sha256_hex(edited, strlen(edited), digest);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 3);
	snprintf(msg, sizeof msg,
		 "procedures row %lld: stored sha256 %.16s" ELL " is not the digest of its content "
		 "(%.16s" ELL ")",
		 (long long)pid, stored, digest);
	expect_failure(&r, 0, "procedure-hash", "procedures", pid, pseq, msg);
	for (int e = 1; e <= 2; e++) {
		snprintf(msg, sizeof msg,
			 "checkpoints row %lld (epoch %d, %s): signed head hash %s" ELL
			 " but chain record %lld is now %s" ELL ": the chain was rewritten",
			 (long long)cp[e].row_id, e, cp[e].short_id, e == 1 ? signed1 : signed2,
			 (long long)cp[e].head_seq, e == 1 ? now1 : now2);
		expect_failure(&r, (size_t)e, "checkpoint-head", "checkpoints", cp[e].row_id,
			       cp[e].chain_seq, msg);
	}
	metro_audit_report_free(&r);
	destroy(&f);

	/* the certificate sequence set back (it is not chained): a number could be issued twice */
	build(&f, 0);
	db = raw(f.db);
	char number[METRO_STORE_CERT_MAX];
	int64_t cid = qint(db, "SELECT id FROM certificates ORDER BY number DESC LIMIT 1");
	int64_t cseq =
		qint(db, "SELECT chain_seq FROM certificates WHERE id = %lld", (long long)cid);
	qtext(db, number, sizeof number, "SELECT number FROM certificates WHERE id = %lld",
	      (long long)cid);
	int64_t last = qint(db, "SELECT last FROM cert_sequence");
	int64_t year = qint(db, "SELECT year FROM cert_sequence");
	assert_int_equal(qint(db, "SELECT count(*) FROM certificates"), 3);
	assert_int_equal(last, 3);
	exec(db, "UPDATE cert_sequence SET last = 2");
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "certificate %s (certificates row %lld) is beyond the sequence's last number 2 "
		 "for %s/%lld: a number could be issued twice",
		 number, (long long)cid, STATION, (long long)year);
	expect_failure(&r, 0, "certificate-sequence", "certificates", cid, cseq, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- schema and files ---------------------------------------------------------------------- */

static void test_schema_and_files(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	char msg[512];
	build(&f, 0);

	/* a chained table dropped: said once, and its records are not reported row by row */
	sqlite3 *db = raw(f.db);
	exec(db, "DROP TABLE inputs");
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	expect_failure(&r, 0, "schema", "inputs", 0, 0, "table inputs is missing (dropped)");
	metro_audit_report_free(&r);
	destroy(&f);

	/* a row added behind the store's back, claiming a record that does not exist */
	build(&f, 0);
	db = raw(f.db);
	exec(db, "INSERT INTO inputs (run, position, prompt, answer, operator, answered, "
		 "chain_seq) SELECT run, position, prompt, 'fail', operator, answered, 999999 "
		 "FROM inputs");
	int64_t id = qint(db, "SELECT max(id) FROM inputs");
	sqlite3_close(db);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 1);
	snprintf(msg, sizeof msg,
		 "inputs row %lld claims chain record 999999, which does not exist", (long long)id);
	expect_failure(&r, 0, "unchained-row", "inputs", id, 999999, msg);
	metro_audit_report_free(&r);

	/* files that are not record stores: unreadable, not failed */
	char *path = metro_asprintf("%s/none.db", f.dir);
	assert_int_equal(verify(&f, path, NO_KEY, NULL, &r), METRO_E_NOTFOUND);
	snprintf(msg, sizeof msg, "%s: No such file or directory", path);
	expect_failure(&r, 0, "open", "", 0, 0, msg);
	json_t *j = metro_audit_report_json(&r, METRO_E_NOTFOUND);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "unreadable");
	json_decref(j);
	metro_audit_report_free(&r);
	free(path);
	path = metro_asprintf("%s/text.db", f.dir);
	FILE *fp = fopen(path, "w");
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database\n", fp);
	fclose(fp);
	assert_int_equal(verify(&f, path, NO_KEY, NULL, &r), METRO_E_IO);
	snprintf(msg, sizeof msg, "%s: cannot read: file is not a database", path);
	expect_failure(&r, 0, "open", "", 0, 0, msg);
	metro_audit_report_free(&r);
	free(path);
	path = metro_asprintf("%s/empty.db", f.dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec(db, "CREATE TABLE t (x INTEGER)");
	sqlite3_close(db);
	assert_int_equal(verify(&f, path, NO_KEY, NULL, &r), METRO_E_UNSUPPORTED);
	snprintf(msg, sizeof msg, "%s: not a metrod record store (schema version 0)", path);
	expect_failure(&r, 0, "open", "", 0, 0, msg);
	metro_audit_report_free(&r);
	free(path);
	assert_int_equal(verify(&f, f.dir, NO_KEY, NULL, &r), METRO_E_IO);
	snprintf(msg, sizeof msg, "%s: not a regular file", f.dir);
	expect_failure(&r, 0, "open", "", 0, 0, msg);
	metro_audit_report_free(&r);
	destroy(&f);
}

/* ---- the report's bound -------------------------------------------------------------------- */

static void test_report_cap(void **state)
{
	(void)state;
	struct fx f;
	struct metro_audit_report r;
	build(&f, 150);
	/* every point of the big (last) run edited, and every verdict, which are earlier in the
	 * chain but found later (verdicts are scanned after points): the kept failures are the
	 * 100 earliest in chain order, whatever order they were found in, and all are counted */
	sqlite3 *db = raw(f.db);
	int64_t run = qint(db, "SELECT max(id) FROM runs");
	exec(db, "UPDATE points SET error = '0.2' WHERE run = %lld", (long long)run);
	exec(db, "UPDATE verdicts SET rule = 'edited'");
	int64_t n = qint(db, "SELECT count(*) FROM points WHERE run = %lld", (long long)run);
	int64_t nv = qint(db, "SELECT count(*) FROM verdicts");
	int64_t first = qint(db, "SELECT min(chain_seq) FROM verdicts");
	int64_t first_point =
		qint(db, "SELECT min(chain_seq) FROM points WHERE run = %lld", (long long)run);
	int64_t last_verdict = qint(db, "SELECT max(chain_seq) FROM verdicts");
	int64_t last_kept = qint(db,
				 "SELECT chain_seq FROM points WHERE run = %lld ORDER BY chain_seq "
				 "LIMIT 1 OFFSET %lld",
				 (long long)run, (long long)(METRO_AUDIT_MAX_REPORTED - nv - 1));
	sqlite3_close(db);
	assert_int_equal(n, 150);
	assert_int_equal(nv, 3);
	assert_true(last_verdict < first_point);
	assert_int_equal(verify(&f, NULL, STATION_KEY, NULL, &r), METRO_E_CORRUPT);
	assert_int_equal(r.total_failures, 153);
	assert_int_equal(r.nfailures, METRO_AUDIT_MAX_REPORTED);
	assert_int_equal(r.failures[0].chain_seq, first);
	assert_string_equal(r.failures[0].table, "verdicts");
	assert_string_equal(r.failures[2].table, "verdicts");
	assert_int_equal(r.failures[3].chain_seq, first_point);
	assert_int_equal(r.failures[METRO_AUDIT_MAX_REPORTED - 1].chain_seq, last_kept);
	for (size_t i = 0; i < r.nfailures; i++) {
		assert_string_equal(r.failures[i].check, "row-hash");
		if (i)
			assert_true(r.failures[i].chain_seq > r.failures[i - 1].chain_seq);
	}
	json_t *j = metro_audit_report_json(&r, METRO_E_CORRUPT);
	assert_int_equal(json_integer_value(json_object_get(j, "failure_count")), 153);
	assert_int_equal(json_array_size(json_object_get(j, "failures")), METRO_AUDIT_MAX_REPORTED);
	json_decref(j);
	metro_audit_report_free(&r);
	destroy(&f);
}

int main(void)
{
	tu_srcdir();
	metro_log_set_level(METRO_LOG_ERR - 1);
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(other_pk, other_sk);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_untouched),	    cmocka_unit_test(test_changed_payload),
		cmocka_unit_test(test_edited_chain_record), cmocka_unit_test(test_deleted),
		cmocka_unit_test(test_reordered),	    cmocka_unit_test(test_broken_signature),
		cmocka_unit_test(test_wrong_key),	    cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_consistency),	    cmocka_unit_test(test_schema_and_files),
		cmocka_unit_test(test_report_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
