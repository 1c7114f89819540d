/* Unit tests of metroctl's report tables (tools/metroctl/metroctl_report_{stats,household,
 * summary,envelope}.c): the statistics table's CSV as the regulator's form has it (column
 * names prefixed by their group and unique, no total row, the simulated warning), the
 * household rule (its file and its verdict on nameplates), the per-period summary (counting,
 * order, exact pass rates) and the MPE envelope of the batch report's error curve (zones
 * stepping at Q2, qt and the current breakpoints of lib/metrology). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metroctl_report_envelope.h"
#include "metroctl_report_household.h"
#include "metroctl_report_stats.h"
#include "metroctl_report_summary.h"

/* What fn writes to a FILE, as a string (free it). */
static char *capture(void (*fn)(void *arg, FILE *f), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fn(arg, f);
	fclose(f);
	return buf;
}

/* ---- the statistics table ------------------------------------------------------------------ */

static void stats_csv(void *arg, FILE *f)
{
	rpt_stats_csv(arg, f);
}

/* The fields of one CSV line (no quoted commas, no empty fields in these tests). */
static size_t fields(char *line, char **out, size_t cap)
{
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, ",", &save); t && n < cap; t = strtok_r(NULL, ",", &save))
		out[n++] = t;
	return n;
}

static void test_stats_csv_names(void **state)
{
	(void)state;
	char names[RPT_NCOLS][300];
	for (int c = 0; c < RPT_NCOLS; c++) {
		rpt_stats_csv_name(c, names[c], sizeof names[c]);
		const char *g = rpt_stats_group(c);
		if (g) /* prefixed by its group */
			assert_memory_equal(names[c], g, strlen(g));
		/* and ends with the form's header, verbatim */
		const char *h = rpt_stats_header(c);
		assert_string_equal(names[c] + strlen(names[c]) - strlen(h), h);
		for (int d = 0; d < c; d++)
			assert_string_not_equal(names[c], names[d]);
	}
	assert_string_equal(rpt_stats_header(RPT_INSTITUTION_NOTES), "计量检定机构检查情况");
	assert_null(rpt_stats_group(RPT_IN_USE));
	assert_string_equal(rpt_stats_group(RPT_SAMPLED_NEW), "民用“三表”检查情况");
	assert_string_equal(rpt_stats_group(RPT_INSTITUTION_NOTES), "民用“三表”检查情况");
	assert_string_equal(rpt_stats_group(RPT_SERVICE_COMPLAINTS), "处理投诉举报情况");
	assert_string_equal(rpt_stats_group(RPT_CASES), "处理投诉举报情况");
	assert_string_equal(names[RPT_SAMPLED_IN_USE_FAIL],
			    "民用“三表”检查情况/抽查在用计量器具数量/不合格数量");
	assert_string_equal(names[RPT_COMPLAINT_FAIL],
			    "处理投诉举报情况/计量机构对投诉举报计量器具开展检定数量/不合格数量");
	assert_string_equal(names[RPT_IN_USE], "在用计量器具数量");
}

static void test_stats_csv_rows(void **state)
{
	(void)state;
	struct rpt_stats s;
	rpt_stats_init(&s, "2026-01-01", "2026-12-31");
	assert_int_equal(rpt_stats_count(&s, "gas", "sampling-new", "G-1", 0), 0);
	assert_int_equal(rpt_stats_count(&s, "gas", "sampling-new", "G-2", 1), 0);
	/* verified again: passes now */
	assert_int_equal(rpt_stats_count(&s, "gas", "sampling-new", "G-2", 0), 0);
	assert_int_equal(rpt_stats_count(&s, "gas", "sampling-new", "G-3", 1), 0);
	assert_int_equal(rpt_stats_count(&s, "water", "complaint", "W-1", 1), 0);
	/* not a column of the form */
	assert_int_equal(rpt_stats_count(&s, "water", "initial", "W-2", 1), 0);
	/* no row of the form: said by the caller */
	assert_int_equal(rpt_stats_count(&s, "unknown", "complaint", "X-1", 1), -1);
	assert_int_equal(rpt_stats_count(&s, "water", "complaint", NULL, 1), -1);
	s.v[RPT_GAS][RPT_IN_USE] = 52000;
	char *out = capture(stats_csv, &s);
	char *lines[8] = {"", "", "", "", "", "", "", ""};
	size_t n = 0;
	char *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l && n < 8; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	assert_int_equal(n, 4); /* the header and three kinds: no 合计 row, no warning */
	char *f[RPT_NCOLS + 2] = {""};
	assert_int_equal(fields(lines[0], f, RPT_NCOLS + 2), RPT_NCOLS + 1);
	assert_string_equal(f[0], "计量器具种类");
	assert_string_equal(lines[1], "电能表,,0,0,0,0,,,,,,,,0,0,,");
	assert_string_equal(lines[2], "水表,,0,0,0,0,,,,,,,,1,1,,");
	/* 燃气表,52000,3,1,0,0,...: empty cells for the side columns not given */
	assert_string_equal(lines[3], "燃气表,52000,3,1,0,0,,,,,,,,0,0,,");
	free(out);

	s.simulated = 1;
	out = capture(stats_csv, &s);
	assert_memory_equal(out, rpt_simulated_warning, strlen(rpt_simulated_warning));
	assert_non_null(strstr(out, "\n计量器具种类,"));
	free(out);
	rpt_stats_free(&s);
}

/* The side file's totals: the institutions inspected, each counted once. */
static void test_stats_extra_totals(void **state)
{
	(void)state;
	char path[] = "/tmp/metro-stats-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *y = "water: {institutions_inspected: 2}\ngas: {institutions_inspected: 2}\n"
			"totals: {institutions_inspected: 3}\n";
	assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
	close(fd);
	struct rpt_stats s;
	rpt_stats_init(&s, "2026-01-01", "2026-12-31");
	assert_int_equal(s.institutions_total, -1);
	assert_int_equal(rpt_stats_extra(&s, path), 0);
	assert_int_equal(s.institutions_total, 3);
	assert_int_equal(s.v[RPT_WATER][RPT_INSTITUTIONS], 2);
	rpt_stats_free(&s);
	fd = open(path, O_WRONLY | O_TRUNC);
	const char *bad = "totals: {institutions: 3}\n";
	assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
	close(fd);
	rpt_stats_init(&s, "2026-01-01", "2026-12-31");
	assert_int_equal(rpt_stats_extra(&s, path), -1);
	rpt_stats_free(&s);
	unlink(path);
}

/* ---- the household rule -------------------------------------------------------------------- */

static const char rule_text[] = "water: {dn_max: 25, q3_max: 6.3}\n"
				"electricity: {connection: [direct], phases: [\"1\"]}\n"
				"gas: {qmax_max: 10}\n";

static int match(const struct rpt_household *h, const char *kind, const char *np)
{
	char why[160];
	int m = rpt_household_match(h, kind, np, why, sizeof why);
	if (m < 0)
		assert_true(why[0] != '\0'); /* a refusal says why */
	return m;
}

static void test_household_rule(void **state)
{
	(void)state;
	struct rpt_household h;
	assert_int_equal(rpt_household_load_buffer(&h, "rule.yaml", rule_text), 0);
	assert_string_equal(h.path, "rule.yaml");
	/* water: DN when given (it wins over Q3), else Q3, both inclusive and exact */
	assert_int_equal(match(&h, "water", "{\"dn\": 25, \"q3\": 16}"), 1);
	assert_int_equal(match(&h, "water", "{\"dn\": \"32\", \"q3\": 2.5}"), 0);
	assert_int_equal(match(&h, "water", "{\"q3\": \"6.3\"}"), 1);
	assert_int_equal(match(&h, "water", "{\"q3\": 6.3}"), 1);
	assert_int_equal(match(&h, "water", "{\"q3\": \"6.30001\"}"), 0);
	assert_int_equal(match(&h, "water", "{\"q3\": 10}"), 0);
	assert_int_equal(match(&h, "water", "{\"r\": 100}"), -1);
	assert_int_equal(match(&h, "water", "{\"q3\": \"big\"}"), -1);
	/* gas: qmax */
	assert_int_equal(match(&h, "gas", "{\"qmax\": 10, \"qmin\": 0.06}"), 1);
	assert_int_equal(match(&h, "gas", "{\"qmax\": \"16\"}"), 0);
	assert_int_equal(match(&h, "gas", "{\"qmin\": 0.04}"), -1);
	/* electricity: direct single-phase (phases as text or number) */
	assert_int_equal(
		match(&h, "electricity", "{\"connection\": \"direct\", \"phases\": \"1\"}"), 1);
	assert_int_equal(match(&h, "electricity", "{\"connection\": \"direct\", \"phases\": 1}"),
			 1);
	assert_int_equal(match(&h, "electricity", "{\"connection\": \"ct\", \"phases\": \"1\"}"),
			 0);
	assert_int_equal(
		match(&h, "electricity", "{\"connection\": \"direct\", \"phases\": \"3\"}"), 0);
	assert_int_equal(match(&h, "electricity", "{\"phases\": \"1\"}"), -1);
	/* what cannot be placed */
	assert_int_equal(match(&h, "unknown", "{\"q3\": 2.5}"), -1);
	assert_int_equal(match(&h, "water", NULL), -1);
	assert_int_equal(match(&h, "water", "not json"), -1);
	rpt_household_free(&h);
}

/* A bad rule file is refused with FILE:LINE:COL and nothing kept. */
static void test_household_bad_rule(void **state)
{
	(void)state;
	static const struct {
		const char *text, *msg;
	} bad[] = {
		{"water: {dn_max: 25}\nelectricity: {connection: [direct], phases: [\"1\"]}\n"
		 "gas: {qmax_max: 10}\n",
		 "bad.yaml:1:8"}, /* q3_max missing */
		{"water: {dn_max: 25, q3_max: -1}\nelectricity: {connection: [direct], phases: "
		 "[\"1\"]}\ngas: {qmax_max: 10}\n",
		 "bad.yaml:1:29"},
		{"water: {dn_max: 25, q3_max: 6.3}\nelectricity: {connection: direct, phases: "
		 "[\"1\"]}\ngas: {qmax_max: 10}\n",
		 "bad.yaml:2:27"},
		{"water: {dn_max: 25, q3_max: 6.3}\nelectricity: {connection: [direct], phases: "
		 "[\"1\"]}\n",
		 "bad.yaml:1:1"}, /* gas missing */
		{"water: {dn_max: 25, q3_max: 6.3}\nelectricity: {connection: [direct], phases: "
		 "[\"1\"]}\ngas: {qmax_max: 10, g: 6}\n",
		 "bad.yaml:3:"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[] = "/tmp/metro-hh-err-XXXXXX";
		int fd = mkstemp(path), saved = dup(2);
		assert_true(fd >= 0 && saved >= 0);
		fflush(stderr);
		dup2(fd, 2);
		struct rpt_household h;
		int rc = rpt_household_load_buffer(&h, "bad.yaml", bad[i].text);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		char msg[2000] = "";
		ssize_t n = pread(fd, msg, sizeof msg - 1, 0);
		close(fd);
		unlink(path);
		msg[n > 0 ? n : 0] = '\0';
		assert_int_equal(rc, -1);
		assert_null(h.path);
		if (!strstr(msg, bad[i].msg))
			fail_msg("case %zu: no %s in: %s", i, bad[i].msg, msg);
	}
}

/* ---- the summary --------------------------------------------------------------------------- */

static void test_summary_rate(void **state)
{
	(void)state;
	char r[16];
	rpt_summary_rate(0, 0, r, sizeof r);
	assert_string_equal(r, "");
	rpt_summary_rate(3, 3, r, sizeof r);
	assert_string_equal(r, "100.0");
	rpt_summary_rate(2, 3, r, sizeof r);
	assert_string_equal(r, "66.7");
	rpt_summary_rate(1, 16, r, sizeof r); /* 6.25: the tie goes to the even 6.2 */
	assert_string_equal(r, "6.2");
	rpt_summary_rate(3, 16, r, sizeof r); /* 18.75 -> 18.8 */
	assert_string_equal(r, "18.8");
	rpt_summary_rate(0, 7, r, sizeof r);
	assert_string_equal(r, "0.0");
	rpt_summary_rate(1, 3, r, sizeof r);
	assert_string_equal(r, "33.3");
}

static void summary_csv(void *arg, FILE *f)
{
	rpt_summary_csv(arg, f);
}

static void summary_text(void *arg, FILE *f)
{
	rpt_summary_text(arg, f);
}

static void test_summary_counts(void **state)
{
	(void)state;
	struct rpt_summary s;
	rpt_summary_init(&s, "2026-11-01", "2026-11-30");
	rpt_summary_count(&s, "water", "initial", "pass");
	rpt_summary_count(&s, "gas", "complaint", "fail");
	rpt_summary_count(&s, "water", "initial", "fail");
	rpt_summary_count(&s, "water", "initial", "conditional");
	rpt_summary_count(&s, "electricity", "initial", "pass");
	rpt_summary_count(&s, "water", "in-service", "pass");
	rpt_summary_count(&s, "water", "initial", "aborted");
	rpt_summary_count(&s, "water", "initial", "error");
	assert_int_equal(s.not_verified, 2);
	char *out = capture(summary_csv, &s);
	const char *want =
		"meter_kind,计量器具种类,verification_type,检定类别,检定数量 verified,合格数量 "
		"passed,不合格数量 failed,合格率 pass rate %\n"
		"electricity,电能表,initial,首次检定,1,1,0,100.0\n"
		"electricity,电能表,all,小计 all types,1,1,0,100.0\n"
		"water,水表,initial,首次检定,3,2,1,66.7\n"
		"water,水表,in-service,使用中检查,1,1,0,100.0\n"
		"water,水表,all,小计 all types,4,3,1,75.0\n"
		"gas,燃气表,complaint,投诉举报检定,1,0,1,0.0\n"
		"gas,燃气表,all,小计 all types,1,0,1,0.0\n"
		"all,合计,all,全部 all,6,4,2,66.7\n";
	assert_string_equal(out, want);
	free(out);
	s.simulated = 1;
	out = capture(summary_text, &s);
	assert_memory_equal(out, rpt_simulated_warning, strlen(rpt_simulated_warning));
	assert_non_null(strstr(out, "中止或出错的 2 次未计入"));
	free(out);
	out = capture(summary_csv, &s);
	assert_memory_equal(out, rpt_simulated_warning, strlen(rpt_simulated_warning));
	free(out);
	rpt_summary_free(&s);
	/* an empty period: the total line alone */
	rpt_summary_init(&s, "2026-11-01", "2026-11-30");
	out = capture(summary_csv, &s);
	assert_non_null(strstr(out, "\nall,合计,all,全部 all,0,0,0,\n"));
	free(out);
	rpt_summary_free(&s);
}

/* ---- the MPE envelope ---------------------------------------------------------------------- */

static void test_envelope_water(void **state)
{
	(void)state;
	json_t *np = json_loads("{\"q3\": \"2.5\", \"r\": \"100\", \"class\": \"2\"}", 0, NULL);
	/* points at Q1 0.025, Q2 0.04 and Q3 2.5: the step is at Q2 itself, the upper zone from
	 * Q2 inclusive -- not halfway between Q1 and Q2 (0.0316) */
	const double x[] = {0.025, 0.04, 2.5}, mpe[] = {5, 2, 2};
	struct rpt_envelope e;
	assert_int_equal(rpt_envelope("water", np, NULL, x, mpe, 3, &e), 0);
	assert_int_equal(e.n, 2);
	assert_true(fabs(e.boundary - 0.04) < 1e-12);
	assert_true(fabs(e.from[0] - 0.025) < 1e-12);
	assert_true(fabs(e.to[1] - 3.125) < 1e-12); /* Q4 */
	assert_true(e.base[0] == 5 && e.base[1] == 2);
	assert_true(e.mpe[0] == 5 && e.mpe[1] == 2);
	/* in service (recorded MPE doubled), points in the upper zone only: the lower zone is
	 * scaled by the recorded ratio */
	const double x2[] = {0.04, 2.5}, mpe2[] = {4, 4};
	assert_int_equal(rpt_envelope("water", np, NULL, x2, mpe2, 2, &e), 0);
	assert_true(e.mpe[0] == 10 && e.mpe[1] == 4);
	json_decref(np);
	/* a nameplate without R: no envelope */
	np = json_loads("{\"q3\": 2.5, \"class\": \"2\"}", 0, NULL);
	assert_int_equal(rpt_envelope("water", np, NULL, x, mpe, 3, &e), -1);
	assert_int_equal(e.n, 0);
	json_decref(np);
}

static void test_envelope_gas(void **state)
{
	(void)state;
	json_t *np = json_loads("{\"qmax\": 6, \"qmin\": 0.04, \"class\": \"1.5\"}", 0, NULL);
	const double x[] = {6}, mpe[] = {1.5}; /* one point */
	struct rpt_envelope e;
	assert_int_equal(rpt_envelope("gas", np, NULL, x, mpe, 1, &e), 0);
	assert_true(fabs(e.boundary - 0.6) < 1e-12); /* qt = 0.1 qmax */
	assert_true(fabs(e.from[0] - 0.04) < 1e-12 && fabs(e.to[1] - 6) < 1e-12);
	assert_true(e.mpe[0] == 3 && e.mpe[1] == 1.5);
	json_decref(np);
}

static void test_envelope_electricity(void **state)
{
	(void)state;
	json_t *np = json_loads("{\"ib\": 5, \"imax\": 60, \"class\": \"1\", \"connection\": "
				"\"direct\", \"phases\": \"1\"}",
				0, NULL);
	const double x[] = {0.05, 0.1, 1, 12}, mpe[] = {1.5, 1, 1, 1};
	struct rpt_envelope e;
	/* PF 1.0: 1.5 % from 0.05 Ib, 1.0 % from 0.1 Ib */
	assert_int_equal(rpt_envelope("electricity", np, "1.0", x, mpe, 4, &e), 0);
	assert_true(fabs(e.from[0] - 0.05) < 1e-12 && fabs(e.boundary - 0.1) < 1e-12);
	assert_true(fabs(e.to[1] - 12) < 1e-12); /* Imax / Ib */
	assert_true(e.mpe[0] == 1.5 && e.mpe[1] == 1);
	/* PF 0.5L: from 0.1 Ib, stepping at 0.2 Ib */
	const double x2[] = {0.1, 0.2, 1}, mpe2[] = {1.5, 1, 1};
	assert_int_equal(rpt_envelope("electricity", np, "0.5L", x2, mpe2, 3, &e), 0);
	assert_true(fabs(e.from[0] - 0.1) < 1e-12 && fabs(e.boundary - 0.2) < 1e-12);
	assert_true(e.mpe[0] == 1.5 && e.mpe[1] == 1);
	/* no power factor, an unknown kind: no envelope */
	assert_int_equal(rpt_envelope("electricity", np, NULL, x2, mpe2, 3, &e), -1);
	assert_int_equal(rpt_envelope("steam", np, "1.0", x2, mpe2, 3, &e), -1);
	json_decref(np);
	/* Imax not recorded: the upper zone is open */
	np = json_loads("{\"ib\": 5, \"class\": \"2\", \"connection\": \"direct\"}", 0, NULL);
	assert_int_equal(rpt_envelope("electricity", np, "1.0", x, mpe, 4, &e), 0);
	assert_true(isinf(e.to[1]) && e.base[0] == 2.5 && e.base[1] == 2);
	json_decref(np);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_csv_names),
		cmocka_unit_test(test_stats_csv_rows),
		cmocka_unit_test(test_stats_extra_totals),
		cmocka_unit_test(test_household_rule),
		cmocka_unit_test(test_household_bad_rule),
		cmocka_unit_test(test_summary_rate),
		cmocka_unit_test(test_summary_counts),
		cmocka_unit_test(test_envelope_water),
		cmocka_unit_test(test_envelope_gas),
		cmocka_unit_test(test_envelope_electricity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
