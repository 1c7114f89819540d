/* Unit tests of the typed reads for reports and exports (lib/records/store_report.c): a small
 * campaign recorded through the store's write API is read back through the walks, and every
 * field is compared with what was written (chain positions with what the tables hold, read
 * with SQL of the test's own). */
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

#include "audit.h"
#include "error.h"
#include "log.h"
#include "store.h"
#include "store_report.h"
#include "testutil.h"
#include "util.h"

#define STATION "report-lab"
#define EXE_SHA "bb00000000000000000000000000000000000000000000000000000000000002"

struct fx {
	char *dir, *db;
	struct metro_store *s;
	int64_t run1, run2;
	char cert[4][METRO_STORE_CERT_MAX]; /* run 1 pos 1, run 1 pos 2 (notice), its correction,
					       run 2 pos 1 */
};

static void must(struct fx *f, int err, const char *what)
{
	if (err)
		fail_msg("%s: %s (%s)", what, metro_strerror(err), metro_store_errmsg(f->s));
}

static void point(struct fx *f, int64_t run, int pos, const char *tp, int attempt,
		  const char *error, const char *rounded, const char *verdict)
{
	json_t *rd = json_pack("{s[ff]}", "v", 1.0, 2.0);
	struct metro_store_point p = {run,  pos,   tp,	    attempt, rd,      NULL,
				      NULL, error, rounded, "2",     verdict, "rule"};
	must(f, metro_store_point(f->s, &p, NULL), "point");
	json_decref(rd);
}

static int64_t verdict(struct fx *f, int64_t run, int pos, const char *v, int64_t corrects)
{
	struct metro_store_verdict vd = {
		run, pos, v, NULL, "rule", corrects, "tester", corrects ? "wrong constant" : NULL};
	int64_t id = 0;
	must(f, metro_store_verdict(f->s, &vd, &id), "verdict");
	return id;
}

/* Run 1 on a registered flow bench: three meters, two with verdicts (the second corrected
 * from fail to pass after its notice), the third without one.  Run 2 on a rig the registry
 * does not know, not simulated, one meter. */
static void setup_fx(struct fx *f)
{
	char err[512];
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	f->db = metro_asprintf("%s/records.db", f->dir);
	struct metro_store_opts o = {.path = f->db, .station = STATION};
	if (metro_store_open(&o, &f->s, err, sizeof err))
		fail_msg("open: %s", err);
	struct metro_standard_conf std;
	memset(&std, 0, sizeof std);
	std.id = "std-a";
	std.certificate = "CERT-A";
	std.due = (struct metro_date){2099, 1, 1};
	must(f, metro_store_sync_standards(f->s, &std, 1), "standards");
	char *const stds[] = {"std-a"};
	struct metro_store_rig rig = {"bench-1", METRO_RIG_FLOW_BENCH, "modbus-tcp", 3, stds, 1, 1};
	must(f, metro_store_rig(f->s, &rig, "config", "test"), "rig");
	const char text[] = "regulation: {id: TEST}\n";
	int64_t proc;
	must(f, metro_store_procedure(f->s, "t.yaml", text, strlen(text), NULL, &proc), "proc");

	static const char *const ids[] = {"std-a"};
	json_t *np = json_pack("{ssss}", "q3", "2.5", "r", "100");
	struct metro_store_meter m[3] = {
		{1, "W-1", "LXS-15", "Maker Co", "PA-1", "2", np},
		{2, "W-2", NULL, NULL, NULL, NULL, NULL},
		{3, "W-3", "LXS-20", NULL, NULL, "1", NULL},
	};
	struct metro_store_run r = {.rig = "bench-1",
				    .procedure = proc,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "sampling-new",
				    .operator_id = "op",
				    .client = "Water Co",
				    .simulated = 1,
				    .standards = ids,
				    .nstandards = 1,
				    .meters = m,
				    .nmeters = 3};
	must(f, metro_store_run_begin(f->s, &r, &f->run1), "run 1");
	json_decref(np);
	point(f, f->run1, 1, "Q3", 1, "0.4213", "0.4", "pass");
	point(f, f->run1, 2, "Q3", 1, "2.51", "2.6", "fail");
	point(f, f->run1, 2, "Q3", 2, "-1.2", "-1.2", "pass");
	point(f, f->run1, 3, "Q3", 1, NULL, NULL, NULL);
	verdict(f, f->run1, 1, "pass", 0);
	int64_t v2 = verdict(f, f->run1, 2, "fail", 0);
	must(f, metro_store_certificate(f->s, f->run1, 1, f->cert[0]), "cert 1");
	must(f, metro_store_certificate(f->s, f->run1, 2, f->cert[1]), "cert 2");
	must(f, metro_store_run_end(f->s, f->run1, "done", NULL), "end 1");
	verdict(f, f->run1, 2, "pass", v2);
	must(f, metro_store_certificate(f->s, f->run1, 2, f->cert[2]), "cert 2 again");

	struct metro_store_meter g = {1, "G-1", "G4", NULL, NULL, "1.5", NULL};
	r.rig = "bench-unknown";
	r.verification_type = "complaint";
	r.client = NULL;
	r.simulated = 0;
	r.meters = &g;
	r.nmeters = 1;
	must(f, metro_store_run_begin(f->s, &r, &f->run2), "run 2");
	point(f, f->run2, 1, "qmax", 1, "-0.5", "-0.5", "pass");
	verdict(f, f->run2, 1, "pass", 0);
	must(f, metro_store_certificate(f->s, f->run2, 1, f->cert[3]), "cert 3");
}

static void teardown_fx(struct fx *f)
{
	metro_store_close(&f->s);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->db);
}

/* The store's file opened read-only, as the reports open it. */
static struct metro_store *open_ro(struct fx *f)
{
	char err[512];
	struct metro_store *s;
	struct metro_store_opts o = {.path = f->db, .readonly = 1};
	if (metro_store_open(&o, &s, err, sizeof err))
		fail_msg("read-only open: %s", err);
	return s;
}

/* An integer the test reads with its own SQL. */
static int64_t raw_int(struct fx *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static char *dup_or_null(const char *s)
{
	return s ? metro_strdup(s) : NULL;
}

#define assert_str_or_null(got, want)                 \
	do {                                          \
		const char *g_ = (got), *w_ = (want); \
		if (!w_)                              \
			assert_null(g_);              \
		else                                  \
			assert_non_null(g_);          \
		if (w_)                               \
			assert_string_equal(g_, w_);  \
	} while (0)

/* ---- the station --------------------------------------------------------------------------- */

static void test_station(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	struct metro_store_station_info st;
	st.name = (char *)"stale";
	assert_int_equal(metro_store_station_info(f.s, &st), METRO_E_NOTFOUND);
	assert_null(st.station);
	assert_null(st.name);
	assert_true(strstr(metro_store_errmsg(f.s), "no station") != NULL);
	struct metro_store_station row = {
		STATION, "Lab 1", "Institute of Metrology", "AUTH-9", NULL, "010-1234", NULL};
	must(&f, metro_store_station(f.s, &row, "config", "test"), "station");
	struct metro_store *ro = open_ro(&f);
	assert_int_equal(metro_store_station_info(ro, &st), 0);
	assert_string_equal(st.station, STATION);
	assert_string_equal(st.name, "Lab 1");
	assert_string_equal(st.institution, "Institute of Metrology");
	assert_string_equal(st.authorisation, "AUTH-9");
	assert_null(st.address);
	assert_string_equal(st.phone, "010-1234"); /* schema 5 */
	assert_null(st.postcode);
	metro_store_station_info_free(&st);
	assert_null(st.station);
	metro_store_close(&ro);
	teardown_fx(&f);
}

/* ---- positions with a verdict -------------------------------------------------------------- */

struct vrow {
	int64_t run, chain_seq;
	int position, simulated;
	char *started, *vtype, *rig_kind, *client, *verdict, *serial, *model, *manufacturer,
		*accuracy_class, *nameplate, *certificate;
};

struct vrows {
	struct vrow r[8];
	size_t n;
	int stop_after; /* return 7 after this many rows (0: never) */
	struct metro_store *s;
};

static int collect_verdict(void *arg, const struct metro_store_verdict_row *row)
{
	struct vrows *c = arg;
	assert_true(c->n < 8);
	struct vrow *v = &c->r[c->n++];
	*v = (struct vrow){row->run,
			   row->chain_seq,
			   row->position,
			   row->simulated,
			   dup_or_null(row->started),
			   dup_or_null(row->verification_type),
			   dup_or_null(row->rig_kind),
			   dup_or_null(row->client),
			   dup_or_null(row->verdict),
			   dup_or_null(row->serial),
			   dup_or_null(row->model),
			   dup_or_null(row->manufacturer),
			   dup_or_null(row->accuracy_class),
			   dup_or_null(row->nameplate),
			   dup_or_null(row->certificate)};
	if (c->s) { /* the store can be used during a walk */
		struct metro_store_station_info st;
		assert_int_equal(metro_store_station_info(c->s, &st), METRO_E_NOTFOUND);
	}
	return c->stop_after && c->n == (size_t)c->stop_after ? 7 : 0;
}

static void vrows_free(struct vrows *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct vrow *v = &c->r[i];
		char *p[] = {v->started,	v->vtype,     v->rig_kind,   v->client,
			     v->verdict,	v->serial,    v->model,	     v->manufacturer,
			     v->accuracy_class, v->nameplate, v->certificate};
		for (size_t k = 0; k < METRO_ARRAY_SIZE(p); k++)
			free(p[k]);
	}
}

static void test_each_verdict(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	struct metro_store *ro = open_ro(&f);
	struct vrows c = {.s = ro};
	assert_int_equal(metro_store_each_verdict(ro, collect_verdict, &c), 0);
	assert_int_equal(c.n, 3); /* run 1 positions 1 and 2, run 2 position 1; not run 1 pos 3 */

	struct vrow *a = &c.r[0], *b = &c.r[1], *g = &c.r[2];
	assert_int_equal(a->run, f.run1);
	assert_int_equal(a->position, 1);
	assert_int_equal(a->simulated, 1);
	assert_string_equal(a->vtype, "sampling-new");
	assert_string_equal(a->rig_kind, "flow-bench");
	assert_string_equal(a->client, "Water Co");
	assert_string_equal(a->verdict, "pass");
	assert_string_equal(a->serial, "W-1");
	assert_string_equal(a->model, "LXS-15");
	assert_string_equal(a->manufacturer, "Maker Co");
	assert_string_equal(a->accuracy_class, "2");
	json_t *np = json_loads(a->nameplate, 0, NULL);
	assert_non_null(np);
	assert_string_equal(json_string_value(json_object_get(np, "q3")), "2.5");
	assert_string_equal(json_string_value(json_object_get(np, "r")), "100");
	json_decref(np);
	assert_string_equal(a->certificate, f.cert[0]);
	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT v.chain_seq FROM verdicts v JOIN positions p ON p.verdict_id = v.id "
		 "WHERE p.run = %lld AND p.position = 1",
		 (long long)f.run1);
	assert_int_equal(a->chain_seq, raw_int(&f, sql));
	snprintf(sql, sizeof sql, "SELECT count(*) FROM runs WHERE id = %lld AND started = '%s'",
		 (long long)f.run1, a->started);
	assert_int_equal(raw_int(&f, sql), 1);

	/* The corrected position: its current verdict and the number issued after it. */
	assert_int_equal(b->position, 2);
	assert_string_equal(b->verdict, "pass");
	assert_string_equal(b->certificate, f.cert[2]);
	assert_string_not_equal(f.cert[1], f.cert[2]);
	assert_string_equal(b->serial, "W-2");
	assert_null(b->model);
	assert_null(b->manufacturer);
	assert_null(b->accuracy_class);
	assert_null(b->nameplate);
	snprintf(sql, sizeof sql,
		 "SELECT max(chain_seq) FROM verdicts WHERE run = %lld AND position = 2",
		 (long long)f.run1);
	assert_int_equal(b->chain_seq, raw_int(&f, sql));
	assert_true(b->chain_seq > a->chain_seq);

	/* A rig the registry does not know has no kind. */
	assert_int_equal(g->run, f.run2);
	assert_null(g->rig_kind);
	assert_null(g->client);
	assert_int_equal(g->simulated, 0);
	assert_string_equal(g->vtype, "complaint");
	assert_string_equal(g->serial, "G-1");
	assert_string_equal(g->certificate, f.cert[3]);
	vrows_free(&c);

	/* fn's nonzero return stops the walk and is returned. */
	struct vrows one = {.stop_after = 1};
	assert_int_equal(metro_store_each_verdict(ro, collect_verdict, &one), 7);
	assert_int_equal(one.n, 1);
	vrows_free(&one);
	metro_store_close(&ro);
	teardown_fx(&f);
}

/* ---- recorded points ----------------------------------------------------------------------- */

struct prows {
	char line[8][512];
	int64_t seq[8];
	size_t n;
};

static const char *s_(const char *s)
{
	return s ? s : "NULL";
}

/* Every field of a row on one line, NULL spelt out. */
static int collect_point(void *arg, const struct metro_store_point_row *p)
{
	struct prows *c = arg;
	assert_true(c->n < 8);
	c->seq[c->n] = p->chain_seq;
	snprintf(c->line[c->n++], sizeof c->line[0],
		 "%lld|%s|%s|%s|%d|%d|%s|%s|%s|%s|%s|%d|%s|%s|%s|%s|%s|%s", (long long)p->run,
		 s_(p->rig), s_(p->rig_kind), s_(p->verification_type), p->simulated, p->position,
		 s_(p->serial), s_(p->model), s_(p->manufacturer), s_(p->accuracy_class),
		 s_(p->test_point), p->attempt, s_(p->error), s_(p->rounded), s_(p->mpe),
		 s_(p->verdict), s_(p->meter_verdict), s_(p->certificate));
	assert_non_null(p->started);
	assert_non_null(p->recorded);
	return 0;
}

static void test_each_point(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	struct metro_store *ro = open_ro(&f);
	struct prows c = {0};
	assert_int_equal(metro_store_each_point(ro, collect_point, &c), 0);
	assert_int_equal(c.n, 5);
	char want[5][512];
	long long r1 = f.run1, r2 = f.run2;
	snprintf(want[0], sizeof want[0],
		 "%lld|bench-1|flow-bench|sampling-new|1|1|W-1|LXS-15|Maker Co|2|Q3|1|0.4213|0.4|2|"
		 "pass|pass|%s",
		 r1, f.cert[0]);
	snprintf(want[1], sizeof want[1],
		 "%lld|bench-1|flow-bench|sampling-new|1|2|W-2|NULL|NULL|NULL|Q3|1|2.51|2.6|2|fail|"
		 "pass|%s",
		 r1, f.cert[2]);
	snprintf(want[2], sizeof want[2],
		 "%lld|bench-1|flow-bench|sampling-new|1|2|W-2|NULL|NULL|NULL|Q3|2|-1.2|-1.2|2|"
		 "pass|pass|%s",
		 r1, f.cert[2]);
	snprintf(want[3], sizeof want[3],
		 "%lld|bench-1|flow-bench|sampling-new|1|3|W-3|LXS-20|NULL|1|Q3|1|NULL|NULL|2|NULL|"
		 "NULL|NULL",
		 r1);
	snprintf(want[4], sizeof want[4],
		 "%lld|bench-unknown|NULL|complaint|0|1|G-1|G4|NULL|1.5|qmax|1|-0.5|-0.5|2|pass|"
		 "pass|%s",
		 r2, f.cert[3]);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(c.line[i], want[i]);
	/* Each row carries its own point's chain record. */
	for (size_t i = 0; i < 5; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "SELECT chain_seq FROM points WHERE id = %zu", i + 1);
		assert_int_equal(c.seq[i], raw_int(&f, sql));
	}
	metro_store_close(&ro);
	teardown_fx(&f);
}

/* A walk that cannot read fails with a message, not with a short table. */
static void test_walk_errors(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	metro_store_close(&f.s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE certificates RENAME TO certificates_gone",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	struct metro_store *ro = open_ro(&f);
	struct vrows c = {0};
	assert_int_equal(metro_store_each_verdict(ro, collect_verdict, &c), METRO_E_IO);
	assert_int_equal(c.n, 0);
	assert_true(strstr(metro_store_errmsg(ro), "certificates") != NULL);
	struct prows p = {0};
	assert_int_equal(metro_store_each_point(ro, collect_point, &p), METRO_E_IO);
	assert_int_equal(p.n, 0);
	metro_store_close(&ro);
	teardown_fx(&f);
}

/* Overwrite the first page of a table's b-tree with garbage: the schema still reads, the
 * table's rows do not. */
static void smash_table(struct fx *f, const char *table)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT rootpage FROM sqlite_schema WHERE name = '%s'", table);
	int64_t root = raw_int(f, sql), size = raw_int(f, "PRAGMA page_size");
	assert_true(root > 1 && size >= 512);
	FILE *fp = fopen(f->db, "r+b");
	assert_non_null(fp);
	char junk[512];
	memset(junk, 0xa5, sizeof junk);
	assert_int_equal(fseek(fp, (long)((root - 1) * size), SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
	assert_int_equal(fclose(fp), 0);
}

/* A table that breaks in the middle of a walk: the walk fails, it does not end early. */
static void test_walk_read_errors(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	metro_store_close(&f.s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f.db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	smash_table(&f, "points");
	smash_table(&f, "positions");
	struct metro_store *ro = open_ro(&f);
	struct prows p = {0};
	assert_int_equal(metro_store_each_point(ro, collect_point, &p), METRO_E_IO);
	assert_true(strstr(metro_store_errmsg(ro), "points") != NULL);
	struct vrows c = {0};
	assert_int_equal(metro_store_each_verdict(ro, collect_verdict, &c), METRO_E_IO);
	assert_true(strstr(metro_store_errmsg(ro), "positions") != NULL);
	vrows_free(&c);
	metro_store_close(&ro);
	teardown_fx(&f);
}

/* ---- checkpoints --------------------------------------------------------------------------- */

static void test_checkpoint_get(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f);
	struct metro_audit_checkpoint cp;
	assert_int_equal(metro_store_checkpoint_get(f.s, 0, &cp), METRO_E_NOTFOUND);
	json_t *d1, *d2;
	must(&f, metro_store_checkpoint(f.s, &d1), "checkpoint 1");
	must(&f, metro_store_audit(f.s, "tester", "note", NULL, NULL, NULL, "more", NULL), "audit");
	must(&f, metro_store_checkpoint(f.s, &d2), "checkpoint 2");
	metro_store_close(&f.s);
	struct metro_store *ro = open_ro(&f);
	struct {
		int64_t epoch;
		json_t *doc;
	} cases[] = {{0, d2}, {1, d1}, {2, d2}};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cases); i++) {
		assert_int_equal(metro_store_checkpoint_get(ro, cases[i].epoch, &cp), 0);
		json_t *doc = cases[i].doc;
		assert_int_equal(cp.epoch, json_integer_value(json_object_get(doc, "epoch")));
		assert_int_equal(cp.head_seq, json_integer_value(json_object_get(doc, "head_seq")));
		assert_string_equal(cp.short_id, json_string_value(json_object_get(doc, "id")));
		assert_string_equal(cp.station, STATION);
		const char *why = NULL;
		assert_int_equal(metro_audit_checkpoint_check(&cp, NULL, &why), 0);
	}
	assert_int_equal(metro_store_checkpoint_get(ro, 3, &cp), METRO_E_NOTFOUND);
	assert_true(strstr(metro_store_errmsg(ro), "no checkpoint with that epoch") != NULL);
	json_decref(d1);
	json_decref(d2);
	metro_store_close(&ro);
	teardown_fx(&f);
}

int main(void)
{
	tu_srcdir();
	metro_log_set_level(METRO_LOG_ERR - 1);
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_station),		 cmocka_unit_test(test_each_verdict),
		cmocka_unit_test(test_each_point),	 cmocka_unit_test(test_walk_errors),
		cmocka_unit_test(test_walk_read_errors), cmocka_unit_test(test_checkpoint_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
