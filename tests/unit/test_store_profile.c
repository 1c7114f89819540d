/* Unit tests of the rig profile in the record store (schema 3, docs/records.md): a profile's
 * exact content and SHA-256 stored and read back (run, trace), the digest a caller gives
 * checked against the content, the `profile.changed` audit event when a rig's profile differs
 * from the one its previous run used (and only then), a schema-2 file migrated with its chain
 * intact, and the verifier's checks of the new table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "testutil.h"
#include "util.h"

#define STATION "test-lab"
#define EXE_SHA "aa00000000000000000000000000000000000000000000000000000000000001"

/* Two versions of a profile and their digests as coreutils' sha256sum computes them
 * (`printf '...' | sha256sum`), independent of the project's SHA-256. */
static const char PROFILE_A[] = "kind: flow-bench\nmodel: test bench\n"
				"channels:\n  - {name: scale.mass, scale: 0.001}\n";
static const char SHA_A[] = "cd1a05f5ce9f2ccff4e6a01c96626e24f580169e2ad39eebc1a5044269306d95";
static const char PROFILE_B[] = "kind: flow-bench\nmodel: test bench\n"
				"channels:\n  - {name: scale.mass, scale: 0.0001}\n";
static const char SHA_B[] = "5c9365cf0b61f0a05c81af164839e54dde30640231756fde6f4913149e725a13";

struct fx {
	char *dir, *db;
	struct metro_store *s;
	int64_t proc;
};

static int open_at(struct fx *f, int max_schema, char *err, size_t cap)
{
	struct metro_store_opts o = {.path = f->db, .station = STATION, .max_schema = max_schema};
	return metro_store_open(&o, &f->s, err, cap);
}

/* A store with a standard and a procedure (at schema max_schema; 0: the latest). */
static void setup_fx(struct fx *f, int max_schema)
{
	char err[512];
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	f->db = metro_asprintf("%s/records.db", f->dir);
	if (open_at(f, max_schema, err, sizeof err))
		fail_msg("open: %s", err);
	struct metro_standard_conf std;
	memset(&std, 0, sizeof std);
	std.id = "std-a";
	std.description = "test standard";
	std.certificate = "CERT-A-1";
	std.issuer = "Test Institute";
	std.calibrated = tu_days_from_now(-10);
	std.due = tu_days_from_now(100);
	std.uncertainty_pct = 0.2;
	std.k = 2;
	assert_int_equal(metro_store_sync_standards(f->s, &std, 1), 0);
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

static int64_t add_profile(struct fx *f, const char *path, const char *text)
{
	int64_t id = 0;
	const char *slash = strrchr(path, '/');
	int err = metro_store_profile(f->s, slash ? slash + 1 : path, path, text, strlen(text),
				      NULL, &id);
	if (err)
		fail_msg("profile: %s", metro_store_errmsg(f->s));
	return id;
}

/* Begin and end a one-meter run on rig with profile (0: none); returns the run id. */
static int64_t run_on(struct fx *f, const char *rig, int64_t profile, const char *serial)
{
	static const char *const ids[] = {"std-a"};
	struct metro_store_meter m = {1, serial, "M1", "Maker", "PA-1", "2", NULL};
	struct metro_store_run r = {.rig = rig,
				    .procedure = f->proc,
				    .profile = profile,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "op",
				    .simulated = 1,
				    .standards = ids,
				    .nstandards = 1,
				    .meters = &m,
				    .nmeters = 1};
	int64_t run = 0;
	if (metro_store_run_begin(f->s, &r, &run))
		fail_msg("run_begin: %s", metro_store_errmsg(f->s));
	assert_int_equal(metro_store_run_end(f->s, run, "done", NULL), 0);
	return run;
}

static int64_t raw_int(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

/* The verifier's result with the station's key; failures printed, and the first one's
 * message copied out when asked. */
static int verify(struct fx *f, char *first, size_t cap)
{
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f->db;
	o.strict = 1;
	char *pub = metro_asprintf("%s/records.pub", f->dir);
	assert_int_equal(metro_audit_read_pubkey(pub, o.pubkeys[0]), 0);
	free(pub);
	o.npubkeys = 1;
	int rc = metro_audit_verify(&o, &r);
	for (size_t i = 0; i < r.nfailures; i++)
		fprintf(stderr, "verify: %s\n", r.failures[i].message);
	if (first)
		snprintf(first, cap, "%s", r.nfailures ? r.failures[0].message : "");
	metro_audit_report_free(&r);
	return rc;
}

/* The audit events of one action, oldest first (JSON array of rows). */
static json_t *events(struct fx *f, const char *action)
{
	json_t *out = json_array();
	sqlite3 *h;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(f->db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(
		sqlite3_prepare_v2(h,
				   "SELECT subject, old, new, actor, why FROM audit_events "
				   "WHERE action = ? ORDER BY id",
				   -1, &st, NULL),
		SQLITE_OK);
	sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
		json_t *n = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		assert_non_null(o);
		assert_non_null(n);
		json_array_append_new(out, json_pack("{ss so so ss ss}", "subject",
						     sqlite3_column_text(st, 0), "old", o, "new", n,
						     "actor", sqlite3_column_text(st, 3), "why",
						     sqlite3_column_text(st, 4)));
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
	return out;
}

/* ---- storing and reading ------------------------------------------------------------------- */

static void test_profile_stored_exactly(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	int64_t a = add_profile(&f, "/etc/metrod/profiles/bench.yaml", PROFILE_A);
	assert_true(a > 0);
	/* The same bytes at the same path: the same row; another path or other bytes: a new one. */
	assert_int_equal(add_profile(&f, "/etc/metrod/profiles/bench.yaml", PROFILE_A), a);
	int64_t other = add_profile(&f, "/srv/bench.yaml", PROFILE_A);
	assert_true(other != a);
	int64_t b = add_profile(&f, "/etc/metrod/profiles/bench.yaml", PROFILE_B);
	assert_true(b != a && b != other);
	/* A digest given by the caller must be the content's: the daemon passes the digest of
	 * what the rig loaded, and a file changed since is refused naming both. */
	int64_t id = 0;
	assert_int_equal(metro_store_profile(f.s, "bench.yaml", "/etc/metrod/profiles/bench.yaml",
					     PROFILE_B, strlen(PROFILE_B), SHA_A, &id),
			 METRO_E_CORRUPT);
	assert_non_null(strstr(metro_store_errmsg(f.s), SHA_A));
	assert_non_null(strstr(metro_store_errmsg(f.s), SHA_B));
	assert_int_equal(metro_store_profile(f.s, "bench.yaml", "/etc/metrod/profiles/bench.yaml",
					     PROFILE_B, strlen(PROFILE_B), SHA_B, &id),
			 0);
	assert_int_equal(id, b);
	assert_int_equal(metro_store_profile(f.s, "", "/x", PROFILE_A, 3, NULL, &id),
			 METRO_E_INVAL);
	assert_int_equal(metro_store_profile(f.s, "x", "/x", "a\0b", 3, NULL, &id), METRO_E_INVAL);

	int64_t run = run_on(&f, "rig-1", a, "SER-1");
	char *q = metro_asprintf("SELECT profile FROM runs WHERE id = %lld", (long long)run);
	assert_int_equal(raw_int(f.db, q), a);
	free(q);
	/* Read back through the store: the run names its profile, content byte for byte. */
	json_t *rec;
	assert_int_equal(metro_store_run(f.s, run, &rec), 0);
	json_t *p = json_object_get(rec, "profile");
	assert_true(json_is_object(p));
	assert_string_equal(json_string_value(json_object_get(p, "content")), PROFILE_A);
	assert_string_equal(json_string_value(json_object_get(p, "sha256")), SHA_A);
	assert_string_equal(json_string_value(json_object_get(p, "name")), "bench.yaml");
	assert_string_equal(json_string_value(json_object_get(p, "path")),
			    "/etc/metrod/profiles/bench.yaml");
	assert_true(json_is_true(json_object_get(p, "content_matches_sha256")));
	json_decref(rec);
	json_t *tr;
	assert_int_equal(metro_store_trace(f.s, "SER-1", &tr), 0);
	p = json_object_get(
		json_object_get(json_array_get(json_object_get(tr, "results"), 0), "run"),
		"profile");
	assert_string_equal(json_string_value(json_object_get(p, "sha256")), SHA_A);
	json_decref(tr);
	/* A run recorded without a profile reads back with profile null. */
	int64_t bare = run_on(&f, "rig-2", 0, "SER-2");
	assert_int_equal(metro_store_run(f.s, bare, &rec), 0);
	assert_true(json_is_null(json_object_get(rec, "profile")));
	json_decref(rec);
	/* A profile that is not registered is refused by name. */
	static const char *const ids[] = {"std-a"};
	struct metro_store_meter m = {1, "SER-3", NULL, NULL, NULL, NULL, NULL};
	struct metro_store_run r = {.rig = "rig-1",
				    .procedure = f.proc,
				    .profile = 999,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "op",
				    .standards = ids,
				    .nstandards = 1,
				    .meters = &m,
				    .nmeters = 1};
	assert_int_equal(metro_store_run_begin(f.s, &r, &run), METRO_E_NOTFOUND);
	assert_non_null(strstr(metro_store_errmsg(f.s), "profile 999"));
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, NULL, 0), 0);
	teardown_fx(&f);
}

/* ---- profile.changed ----------------------------------------------------------------------- */

static void test_profile_changed_event(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	int64_t a = add_profile(&f, "/p/bench.yaml", PROFILE_A);
	int64_t b = add_profile(&f, "/p/bench.yaml", PROFILE_B);
	int64_t b2 = add_profile(&f, "/q/bench.yaml", PROFILE_B);
	run_on(&f, "rig-1", a, "S1"); /* the rig's first run: nothing to compare with */
	int64_t r2 = run_on(&f, "rig-1", a, "S2");
	json_t *ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 0);
	json_decref(ev);
	int64_t r3 = run_on(&f, "rig-1", b, "S3"); /* the profile was edited */
	ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 1);
	json_t *e = json_array_get(ev, 0);
	assert_string_equal(json_string_value(json_object_get(e, "subject")), "rig/rig-1");
	assert_string_equal(json_string_value(json_object_get(e, "actor")), "metrod");
	json_t *o = json_object_get(e, "old"), *n = json_object_get(e, "new");
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), SHA_A);
	assert_string_equal(json_string_value(json_object_get(n, "sha256")), SHA_B);
	assert_int_equal(json_integer_value(json_object_get(o, "run")), r2);
	assert_int_equal(json_integer_value(json_object_get(n, "run")), r3);
	assert_string_equal(json_string_value(json_object_get(n, "path")), "/p/bench.yaml");
	char want[64];
	snprintf(want, sizeof want, "(run %lld)", (long long)r2);
	assert_non_null(strstr(json_string_value(json_object_get(e, "why")), want));
	json_decref(ev);
	/* Another rig's first run with B, a run of rig-1 without a profile, then B again on
	 * rig-1 (the latest earlier run that recorded one had B), and the same bytes moved to
	 * another path: none of these changed what the rig ran. */
	run_on(&f, "rig-2", b, "S4");
	run_on(&f, "rig-1", 0, "S5");
	run_on(&f, "rig-1", b, "S6");
	run_on(&f, "rig-1", b2, "S7");
	ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 1);
	json_decref(ev);
	/* Back to A on rig-2: a second event, for rig-2. */
	run_on(&f, "rig-2", a, "S8");
	ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ev, 1), "subject")),
			    "rig/rig-2");
	json_decref(ev);
	/* The event belongs to the run's transaction: rolled back with it. */
	assert_int_equal(metro_store_tx_begin(f.s), 0);
	static const char *const ids[] = {"std-a"};
	struct metro_store_meter m = {1, "S9", NULL, NULL, NULL, NULL, NULL};
	struct metro_store_run r = {.rig = "rig-2",
				    .procedure = f.proc,
				    .profile = b,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "op",
				    .standards = ids,
				    .nstandards = 1,
				    .meters = &m,
				    .nmeters = 1};
	int64_t run;
	assert_int_equal(metro_store_run_begin(f.s, &r, &run), 0);
	metro_store_tx_rollback(f.s);
	ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 2);
	json_decref(ev);
	assert_int_equal(raw_int(f.db, "SELECT count(*) FROM runs"), 8);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, NULL, 0), 0);
	teardown_fx(&f);
}

/* ---- migration and the verifier ------------------------------------------------------------ */

/* A schema-2 file (runs and all, no profiles) migrates to schema 3: the table and the column
 * appear, old runs keep their chain hashes (a NULL column is not encoded) and read back with
 * profile null, and new runs record their profile. */
static void test_migrate_schema2_file(void **state)
{
	(void)state;
	struct fx f;
	char err[512];
	setup_fx(&f, 2);
	int64_t id;
	assert_int_equal(metro_store_profile(f.s, "b.yaml", "/p/b.yaml", PROFILE_A,
					     strlen(PROFILE_A), NULL, &id),
			 METRO_E_UNSUPPORTED);
	int64_t old = run_on(&f, "rig-1", 0, "OLD-1");
	metro_store_close(&f.s);
	assert_int_equal(raw_int(f.db, "PRAGMA user_version"), 2);
	assert_int_equal(
		raw_int(f.db, "SELECT count(*) FROM sqlite_schema WHERE name = 'profiles'"), 0);
	assert_int_equal(verify(&f, NULL, 0), 0);

	/* migrated to version 3 only: this is the 2 -> 3 step (test_store_certs does 3 -> 4) */
	assert_int_equal(open_at(&f, 3, err, sizeof err), 0);
	assert_int_equal(raw_int(f.db, "PRAGMA user_version"), 3);
	assert_int_equal(
		raw_int(f.db, "SELECT count(*) FROM sqlite_schema WHERE name = 'profiles'"), 1);
	assert_int_equal(raw_int(f.db, "SELECT count(*) FROM runs WHERE profile IS NULL"), 1);
	int64_t a = add_profile(&f, "/p/b.yaml", PROFILE_A);
	int64_t run = run_on(&f, "rig-1", a, "NEW-1");
	/* The old run recorded no profile: no event compares with it. */
	json_t *ev = events(&f, "profile.changed");
	assert_int_equal(json_array_size(ev), 0);
	json_decref(ev);
	json_t *rec;
	assert_int_equal(metro_store_run(f.s, old, &rec), 0);
	assert_true(json_is_null(json_object_get(rec, "profile")));
	json_decref(rec);
	assert_int_equal(metro_store_run(f.s, run, &rec), 0);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(rec, "profile"), "sha256")),
		SHA_A);
	json_decref(rec);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, NULL, 0), 0);
	teardown_fx(&f);
}

/* The verifier holds a profile's stored content to its stored digest, and misses neither a
 * dropped profiles table nor one dropped with the version set back. */
static void test_verifier_profiles(void **state)
{
	(void)state;
	struct fx f;
	char first[512];
	setup_fx(&f, 0);
	run_on(&f, "rig-1", add_profile(&f, "/p/b.yaml", PROFILE_A), "S1");
	metro_store_close(&f.s);
	char *copy = metro_asprintf("%s/copy.db", f.dir), *orig = f.db;
	char *cmd = metro_asprintf("cp '%s' '%s'", orig, copy);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	static const char *const edits[] = {
		"DROP TRIGGER profiles_no_update; UPDATE profiles SET content = content || '#'",
		"PRAGMA foreign_keys = OFF; DROP TABLE profiles",
		"PRAGMA foreign_keys = OFF; DROP TABLE profiles; PRAGMA user_version = 2",
	};
	static const char *const want[] = {"profiles row 1", "table profiles is missing",
					   "records profiles row 1"};
	for (size_t i = 0; i < 3; i++) {
		cmd = metro_asprintf("cp '%s' '%s'", copy, orig);
		assert_int_equal(system(cmd), 0);
		free(cmd);
		sqlite3 *h;
		assert_int_equal(sqlite3_open(orig, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, edits[i], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
		assert_int_equal(verify(&f, first, sizeof first), METRO_E_CORRUPT);
		if (!strstr(first, want[i]))
			fail_msg("edit %zu: first failure '%s', wanted '%s'", i, first, want[i]);
	}
	free(copy);
	teardown_fx(&f);
}

int main(void)
{
	metro_log_set_level(METRO_LOG_WARNING);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_profile_stored_exactly),
		cmocka_unit_test(test_profile_changed_event),
		cmocka_unit_test(test_migrate_schema2_file),
		cmocka_unit_test(test_verifier_profiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
