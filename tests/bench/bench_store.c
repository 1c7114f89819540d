/* bench_store — the record store: durable commits per second (WAL, synchronous=FULL, hash
 * chain) against raw SQLite inserts of the same rows with the same settings; `audit verify` of
 * a store of 100,000 chain records against a plain read of every row; and an inspector's
 * sample, 150 random certificates traced back to their raw records, against plain SELECTs of
 * the same rows.  Each figure is measured in paired rounds (metrod's operation and its
 * baseline): the ratio is the median of the rounds' ratios with their quartiles and range,
 * the rates and times the medians of the rounds' (rounds.h).  Prints one JSON object per
 * figure (tools/scripts/bench.sh). */
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
#include "rounds.h"

#define POSITIONS 24
#define POINTS 10
#define SAMPLE 150
#define ROUNDS 5

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
static sqlite3_stmt *raw_open(const char *path, sqlite3 **db)
{
	sqlite3_stmt *st;
	if (sqlite3_open(path, db) ||
	    sqlite3_exec(
		    *db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
		    "CREATE TABLE points (id INTEGER PRIMARY KEY, run INTEGER, position INTEGER, "
		    "test_point TEXT, attempt INTEGER, readings TEXT, error TEXT, mpe TEXT, "
		    "verdict TEXT, rule TEXT, recorded TEXT) STRICT;",
		    NULL, NULL, NULL) ||
	    sqlite3_prepare_v2(*db,
			       "INSERT INTO points VALUES (NULL, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)", -1,
			       &st, NULL)) {
		fprintf(stderr, "bench_store: baseline: %s\n", sqlite3_errmsg(*db));
		exit(1);
	}
	return st;
}

/* Rows first .. first + n - 1; the time taken. */
static double raw_inserts(sqlite3_stmt *st, int first, int n)
{
	double t0 = now_s();
	for (int i = first; i < first + n; i++) {
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
	return now_s() - t0;
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

/* A figure over ROUNDS paired rounds: metrod's and the baseline's values, and the ratio of
 * each round. */
static void figure(const char *name, const double *metrod, const double *base, const double *ratio,
		   int n, const char *target, const char *base_is)
{
	printf("{\"figure\": \"%s\", \"metrod\": %.4g, \"baseline\": %.4g, ", name,
	       bench_median(metrod, n), bench_median(base, n));
	bench_print_ratio(stdout, bench_spread(ratio, n), 3);
	printf(", \"target\": \"%s\", \"baseline_is\": \"%s\"}\n", target, base_is);
	fflush(stdout);
}

/* 1. durable commits, one result each: COMMIT_ROUNDS rounds of n store commits and n raw
 * inserts, in turn (the order alternates: an fsync takes what the VM's disk gives it). */
#define COMMIT_ROUNDS 11
static void commits(struct metro_store *s, int64_t proc, const char *raw)
{
	const int N = 100;
	double ours[COMMIT_ROUNDS], base[COMMIT_ROUNDS], ratio[COMMIT_ROUNDS];
	sqlite3 *db;
	sqlite3_stmt *st = raw_open(raw, &db);
	int64_t run = begin_run(s, proc, 0);
	for (int r = 0; r < COMMIT_ROUNDS; r++) {
		double t_store = 0, t_raw = 0;
		for (int k = 0; k < 2; k++) {
			if ((k + r) % 2) {
				t_raw = raw_inserts(st, r * N, N);
				continue;
			}
			double t0 = now_s();
			for (int i = r * N; i < (r + 1) * N; i++)
				point(s, run, i % POSITIONS + 1, 1000 + i);
			t_store = now_s() - t0;
		}
		ours[r] = N / t_store;
		base[r] = N / t_raw;
		ratio[r] = t_raw / t_store;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	figure("results committed per second (synchronous=FULL, hash chain)", ours, base, ratio,
	       COMMIT_ROUNDS, ">= 0.5", "raw SQLite inserts, same settings");
}

/* 3. the inspectors' sample: SAMPLE random certificates back to their raw records, through
 * the store; SAMPLE plain SELECTs of the same rows.  The time of each, or -1. */
static double traces(const char *path, char nums[][METRO_STORE_CERT_MAX])
{
	char err[512];
	struct metro_store *s;
	struct metro_store_opts ro = {.path = path, .readonly = 1};
	if (metro_store_open(&ro, &s, err, sizeof err))
		return -1;
	size_t found = 0;
	double t0 = now_s();
	for (int i = 0; i < SAMPLE; i++) {
		json_t *tr;
		if (metro_store_trace(s, nums[i], &tr) == 0) {
			json_t *res = json_array_get(json_object_get(tr, "results"), 0);
			found += json_array_size(json_object_get(res, "points")) > 0;
			json_decref(tr);
		}
	}
	double t = now_s() - t0;
	metro_store_close(&s);
	if (found != SAMPLE) {
		fprintf(stderr, "bench_store: sample: %zu of %d certificates traced\n", found,
			SAMPLE);
		return -1;
	}
	return t;
}

static double selects(const char *path, char nums[][METRO_STORE_CERT_MAX])
{
	sqlite3 *db;
	sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	double t0 = now_s();
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
	double t = now_s() - t0;
	sqlite3_close(db);
	return t;
}

/* 2 and 3: rounds of `audit verify` then a plain read of every row, then the sample traced
 * and SELECTed.  The inspector verifies the copy once and then traces: the third figure's
 * times are the round's verification (or read) plus its traces (or SELECTs). */
static int verify_and_trace(const char *path)
{
	int64_t records = count(path, "SELECT count(*) FROM chain");
	int64_t ncert = count(path, "SELECT count(*) FROM certificates");
	char nums[SAMPLE][METRO_STORE_CERT_MAX];
	srand(42);
	/* numbers are <station>-<year>-<sequence>: the year is this year's */
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	for (int i = 0; i < SAMPLE; i++)
		snprintf(nums[i], sizeof nums[i], "bench-lab-%04d-%06lld", tm.tm_year + 1900,
			 (long long)(1 + rand() % ncert));
	struct metro_audit_opts ao;
	memset(&ao, 0, sizeof ao);
	ao.db_path = path;
	double ver[ROUNDS], scan[ROUNDS], vratio[ROUNDS], tr[ROUNDS], sel[ROUNDS], tratio[ROUNDS];
	for (int r = 0; r < ROUNDS; r++) {
		struct metro_audit_report rep;
		memset(&rep, 0, sizeof rep);
		double t0 = now_s();
		int verr = metro_audit_verify(&ao, &rep);
		ver[r] = now_s() - t0;
		metro_audit_report_free(&rep);
		if (verr) {
			fprintf(stderr, "bench_store: the benchmark store does not verify\n");
			return 1;
		}
		scan[r] = scan_all(path);
		double t = traces(path, nums);
		if (t < 0)
			return 1;
		tr[r] = ver[r] + t;
		sel[r] = scan[r] + selects(path, nums);
		vratio[r] = scan[r] / ver[r];
		tratio[r] = sel[r] / tr[r];
	}
	char name[160];
	snprintf(name, sizeof name, "audit verify, %lld chain records (s; target on metrod)",
		 (long long)records);
	figure(name, ver, scan, vratio, ROUNDS, "metrod <= 5 s",
	       "plain read of every row; ratio baseline / metrod");
	figure("150 random certificates traced to raw records, with verification (s; target on "
	       "metrod)",
	       tr, sel, tratio, ROUNDS, "metrod <= 10 s",
	       "plain SELECTs of the same rows plus a plain read of every row; ratio baseline / "
	       "metrod");
	return 0;
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
	struct metro_store_station st = {"bench-lab", "Bench", "Bench institute", "B-1", NULL,
					 NULL,	      NULL};
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

	commits(s, proc, raw);

	/* 2. fill to 100,000 chain records: runs of 24 meters, 10 points, verdicts, certificates */
	int nrun = 1;
	while (count(path, "SELECT count(*) FROM chain") < 100000) {
		int64_t run = begin_run(s, proc, nrun++);
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
	if (verify_and_trace(path))
		return 1;
	char *cmd = metro_asprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_store: could not remove %s\n", dir);
	free(cmd);
	free(path);
	free(raw);
	return 0;
}
