/* bench_store — the record store: durable commits per second (WAL, synchronous=FULL, hash
 * chain) against raw SQLite inserts of the same rows with the same settings; `audit verify` of
 * a store of 100,000 chain records against a plain read of every row; and an inspector's
 * sample, 150 random certificates traced back to their raw records, against plain SELECTs of
 * the same rows.  Prints one JSON object per figure (tools/scripts/bench.sh). */
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "config.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define POSITIONS 24
#define POINTS 10
#define SAMPLE 150

static double now_s(void)
{
	return (double)metro_now_ns() / 1e9;
}

static void must(struct metro_store *s, int err, const char *what)
{
	if (err) {
		fprintf(stderr, "bench_store: %s: %s\n", what, metro_store_errmsg(s));
		exit(1);
	}
}

static json_t *readings(int pos, int k)
{
	return json_pack("{s[{ss sf} {ss sf}] sf sf si}", "samples", "t",
			 "2026-11-28T09:00:00.000Z", "meter_l", 1234.567 + pos, "t",
			 "2026-11-28T09:01:12.500Z", "meter_l", 1334.667 + pos, "temp_c", 20.1,
			 "flow_m3h", 2.49, "k", k);
}

static int64_t begin_run(struct metro_store *s, int64_t proc, int n)
{
	static const char *const stds[] = {"ws"};
	struct metro_store_meter m[POSITIONS];
	char serial[POSITIONS][32];
	for (int i = 0; i < POSITIONS; i++) {
		snprintf(serial[i], sizeof serial[i], "B-%06d-%02d", n, i + 1);
		m[i] = (struct metro_store_meter){i + 1, serial[i], "LXS-15E", "Example",
						  NULL,	 "2",	    NULL};
	}
	struct metro_store_run r = {.rig = "water-1",
				    .procedure = proc,
				    .software_version = "0.1.0",
				    .software_sha256 = "00",
				    .verification_type = "initial",
				    .operator_id = "bench",
				    .simulated = 1,
				    .standards = stds,
				    .nstandards = 1,
				    .meters = m,
				    .nmeters = POSITIONS};
	int64_t run;
	must(s, metro_store_run_begin(s, &r, &run), "run_begin");
	return run;
}

static void point(struct metro_store *s, int64_t run, int pos, int k)
{
	char tp[16];
	snprintf(tp, sizeof tp, "P%d", k);
	json_t *rd = readings(pos, k);
	struct metro_store_point p = {run,  pos,      tp,   1,	 rd,	 NULL,
				      NULL, "0.4213", NULL, "2", "pass", "full-precision"};
	must(s, metro_store_point(s, &p, NULL), "point");
	json_decref(rd);
}

/* The baseline: the same rows inserted with plain SQLite, one durable transaction each. */
static double raw_inserts(const char *path, int n)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (sqlite3_open(path, &db) ||
	    sqlite3_exec(
		    db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
		    "CREATE TABLE points (id INTEGER PRIMARY KEY, run INTEGER, position INTEGER, "
		    "test_point TEXT, attempt INTEGER, readings TEXT, error TEXT, mpe TEXT, "
		    "verdict TEXT, rule TEXT, recorded TEXT) STRICT;",
		    NULL, NULL, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO points VALUES (NULL, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
			       -1, &st, NULL)) {
		fprintf(stderr, "bench_store: baseline: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		json_t *rd = readings(i % POSITIONS + 1, i);
		char *text = json_dumps(rd, JSON_COMPACT | JSON_SORT_KEYS);
		char tp[16];
		snprintf(tp, sizeof tp, "P%d", i);
		sqlite3_bind_int64(st, 1, 1);
		sqlite3_bind_int(st, 2, i % POSITIONS + 1);
		sqlite3_bind_text(st, 3, tp, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, "0.4213", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, "2", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, "pass", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, "full-precision", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, "2026-11-28T09:00:00.000000Z", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			exit(1);
		sqlite3_reset(st);
		free(text);
		json_decref(rd);
	}
	double t = now_s() - t0;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return t;
}

static int64_t count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return n;
}

/* Read every column of every row of the chained tables: what any verifier must at least do. */
static double scan_all(const char *path)
{
	sqlite3 *db;
	double t0 = now_s();
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	for (const struct metro_audit_table *t = metro_audit_tables; t->name; t++) {
		char *sql = metro_asprintf("SELECT * FROM %s", t->name);
		sqlite3_stmt *st;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
			while (sqlite3_step(st) == SQLITE_ROW)
				for (int c = 0; c < sqlite3_column_count(st); c++)
					(void)sqlite3_column_bytes(st, c);
			sqlite3_finalize(st);
		}
		free(sql);
	}
	sqlite3_close(db);
	return now_s() - t0;
}

static void figure(const char *name, double metrod, double base, double ratio, const char *target,
		   const char *base_is)
{
	printf("{\"figure\": \"%s\", \"metrod\": %.4g, \"baseline\": %.4g, \"ratio\": %.3f, "
	       "\"target\": \"%s\", \"baseline_is\": \"%s\"}\n",
	       name, metrod, base, ratio, target, base_is);
	fflush(stdout);
}

int main(void)
{
	metro_log_set_level(METRO_LOG_WARNING);
	char dir[] = "/tmp/metrod-bench-store-XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char *path = metro_asprintf("%s/records.db", dir), *raw = metro_asprintf("%s/raw.db", dir);
	char err[512];
	struct metro_store *s;
	struct metro_store_opts so = {.path = path, .station = "bench-lab"};
	if (metro_store_open(&so, &s, err, sizeof err)) {
		fprintf(stderr, "bench_store: %s\n", err);
		return 1;
	}
	struct metro_store_station st = {"bench-lab", "Bench", "Bench institute", "B-1", NULL};
	must(s, metro_store_station(s, &st, "bench", "set-up"), "station");
	struct metro_standard_conf std = {.id = "ws",
					  .description = "Flow bench",
					  .certificate = "C-1",
					  .issuer = "T",
					  .calibrated = {2026, 1, 1},
					  .due = {2099, 1, 1},
					  .uncertainty_pct = 0.2,
					  .k = 2};
	must(s, metro_store_sync_standards(s, &std, 1), "standards");
	char *rig_std[] = {"ws"};
	struct metro_store_rig rig = {.id = "water-1",
				      .kind = METRO_RIG_FLOW_BENCH,
				      .driver = "modbus-tcp",
				      .positions = POSITIONS,
				      .standards = rig_std,
				      .nstandards = 1,
				      .simulated = 1};
	must(s, metro_store_rig(s, &rig, "bench", "set-up"), "rig");
	int64_t proc;
	const char *ptext = "procedure: {id: bench}\n";
	must(s, metro_store_procedure(s, "bench", ptext, strlen(ptext), NULL, &proc), "procedure");

	/* 1. durable commits, one result each */
	const int N = 1000;
	int64_t run = begin_run(s, proc, 0);
	double t0 = now_s();
	for (int i = 0; i < N; i++)
		point(s, run, i % POSITIONS + 1, 1000 + i);
	double t_store = now_s() - t0;
	double t_raw = raw_inserts(raw, N);
	figure("results committed per second (synchronous=FULL, hash chain)", N / t_store,
	       N / t_raw, t_raw / t_store, ">= 0.5", "raw SQLite inserts, same settings");

	/* 2. fill to 100,000 chain records: runs of 24 meters, 10 points, verdicts, certificates */
	int nrun = 1;
	while (count(path, "SELECT count(*) FROM chain") < 100000) {
		run = begin_run(s, proc, nrun++);
		must(s, metro_store_tx_begin(s), "tx");
		for (int pos = 1; pos <= POSITIONS; pos++)
			for (int k = 0; k < POINTS; k++)
				point(s, run, pos, k);
		for (int pos = 1; pos <= POSITIONS; pos++) {
			struct metro_store_verdict v = {
				run,	  pos, pos % 7 ? "pass" : "fail", NULL, "procedure", 0,
				"metrod", NULL};
			char num[METRO_STORE_CERT_MAX];
			must(s, metro_store_verdict(s, &v, NULL), "verdict");
			must(s, metro_store_certificate(s, run, pos, num), "certificate");
		}
		must(s, metro_store_run_end(s, run, "done", NULL), "run_end");
		must(s, metro_store_tx_commit(s), "commit");
	}
	metro_store_close(&s); /* signs the head */
	int64_t records = count(path, "SELECT count(*) FROM chain");
	struct metro_audit_opts ao;
	memset(&ao, 0, sizeof ao);
	ao.db_path = path;
	struct metro_audit_report rep;
	t0 = now_s();
	int verr = metro_audit_verify(&ao, &rep);
	double t_verify = now_s() - t0;
	metro_audit_report_free(&rep);
	if (verr) {
		fprintf(stderr, "bench_store: the benchmark store does not verify\n");
		return 1;
	}
	double t_scan = scan_all(path);
	char name[160];
	snprintf(name, sizeof name, "audit verify, %lld chain records (s; target on metrod)",
		 (long long)records);
	figure(name, t_verify, t_scan, t_scan / t_verify, "metrod <= 5 s",
	       "plain read of every row; ratio baseline / metrod");

	/* 3. the inspectors' sample: 150 random certificates back to their raw records */
	struct metro_store_opts ro = {.path = path, .readonly = 1};
	if (metro_store_open(&ro, &s, err, sizeof err))
		return 1;
	int64_t ncert = count(path, "SELECT count(*) FROM certificates");
	srand(42);
	t0 = now_s();
	memset(&rep, 0, sizeof rep);
	verr = metro_audit_verify(&ao, &rep); /* the inspector verifies the copy once */
	metro_audit_report_free(&rep);
	size_t found = 0;
	char nums[SAMPLE][METRO_STORE_CERT_MAX];
	for (int i = 0; i < SAMPLE; i++) {
		json_t *tr;
		/* numbers are <station>-<year>-<sequence>: the year is this year's */
		time_t now = time(NULL);
		struct tm tm;
		gmtime_r(&now, &tm);
		snprintf(nums[i], sizeof nums[i], "bench-lab-%04d-%06lld", tm.tm_year + 1900,
			 (long long)(1 + rand() % ncert));
		if (metro_store_trace(s, nums[i], &tr) == 0) {
			json_t *res = json_array_get(json_object_get(tr, "results"), 0);
			found += json_array_size(json_object_get(res, "points")) > 0;
			json_decref(tr);
		}
	}
	double t_trace = now_s() - t0;
	metro_store_close(&s);
	sqlite3 *db;
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	t0 = now_s();
	for (int i = 0; i < SAMPLE; i++) {
		sqlite3_stmt *q;
		sqlite3_prepare_v2(
			db,
			"SELECT p.* FROM certificates c JOIN points p ON p.run = c.run AND "
			"p.position = c.position WHERE c.number = ?",
			-1, &q, NULL);
		sqlite3_bind_text(q, 1, nums[i], -1, SQLITE_STATIC);
		while (sqlite3_step(q) == SQLITE_ROW)
			(void)sqlite3_column_bytes(q, 5);
		sqlite3_finalize(q);
	}
	double t_sel = now_s() - t0 + t_scan;
	sqlite3_close(db);
	if (verr || found != SAMPLE) {
		fprintf(stderr, "bench_store: sample: %zu of %d certificates traced\n", found,
			SAMPLE);
		return 1;
	}
	figure("150 random certificates traced to raw records, with verification (s; target on "
	       "metrod)",
	       t_trace, t_sel, t_sel / t_trace, "metrod <= 10 s",
	       "plain SELECTs of the same rows plus a plain read of every row; ratio baseline / "
	       "metrod");
	char *cmd = metro_asprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_store: could not remove %s\n", dir);
	free(cmd);
	free(path);
	free(raw);
	return 0;
}
