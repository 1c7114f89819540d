/* Unit tests of the procedure loader: the shipped library loads, test points evaluate exactly
 * over a nameplate, and every file of tests/data/bad-procedures/ is rejected with exactly the
 * messages written at its end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "procedure.h"
#include "testutil.h"
#include "util.h"

/* A refused procedure must leave nothing behind (*out NULL). */
static int load_procedure(const char *path, struct metro_diag *d)
{
	struct metro_procedure *p = (struct metro_procedure *)1;
	int err = metro_procedure_load(path, d, &p);
	if (!err) {
		metro_procedure_destroy(&p);
		return METRO_OK;
	}
	return p ? METRO_E_STATE : err; /* refused, yet something left behind */
}

static void test_bad_procedures(void **state)
{
	(void)state;
	assert_int_equal(tu_check_corpus("tests/data/bad-procedures", 30, load_procedure), 0);
}

static struct metro_procedure *load(const char *path)
{
	struct metro_diag d;
	struct metro_procedure *p = NULL;
	metro_diag_init(&d);
	int err = metro_procedure_load(path, &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(err, 0);
	return p;
}

static void test_library_loads(void **state)
{
	(void)state;
	char **files;
	size_t n = tu_list_dir("procedures", ".yaml", &files);
	assert_true(n >= 5);
	for (size_t i = 0; i < n; i++) {
		struct metro_procedure *p = load(files[i]);
		assert_int_equal(strlen(p->sha256), 64);
		assert_true(p->nitems >= 1);
		metro_procedure_destroy(&p);
		assert_null(p);
	}
	tu_free_list(files, n);
}

/* Evaluate an item's expression for a water meter Q3 = 2.5, R = 100, δ = 0.05 L. */
static const char *water_value(const struct metro_procedure *p, const struct metro_expr *e)
{
	static char buf[64];
	struct metro_dec v[16];
	for (size_t i = 0; i < p->nnames; i++) {
		const char *n = p->names[i];
		const char *text = !strcmp(n, "q3")		    ? "2.5"
				   : !strcmp(n, "r")		    ? "100"
				   : !strcmp(n, "scale_interval_l") ? "0.05"
								    : "1";
		metro_dec_parse(text, &v[i]);
	}
	struct metro_dec out;
	char err[100];
	assert_int_equal(metro_expr_eval(e, v, &out, err, sizeof err), 0);
	metro_dec_format_sig(out, 20, buf, sizeof buf);
	return buf;
}

static void test_water_points(void **state)
{
	(void)state;
	struct metro_procedure *p = load("procedures/jjg162-water-initial.yaml");
	assert_string_equal(p->meter, "water");
	assert_string_equal(p->limits, "verification");
	/* visual, leak, the function check of meters with electronics, Q3, Q2, Q1 */
	assert_int_equal(p->nitems, 6);
	assert_int_equal(p->items[0].kind, METRO_ITEM_JUDGEMENT);
	const struct metro_proc_item *q2 = &p->items[4];
	assert_string_equal(q2->id, "q2");
	assert_int_equal(q2->formula, METRO_FORMULA_VOLUMETRIC);
	assert_int_equal(q2->repeat, METRO_REPEAT_WATER_RETEST);
	/* Q2 = 1.6 Q3 / R = 0.04 exactly: the window starts on the zone boundary. */
	assert_string_equal(water_value(p, q2->window_min), "0.04");
	assert_string_equal(water_value(p, q2->window_max), "0.044");
	assert_string_equal(water_value(p, q2->flow), "0.042");
	assert_string_equal(water_value(p, q2->volume_l), "10");
	assert_string_equal(water_value(p, p->items[3].volume_l), "41.666666666666666667");
	struct metro_dec r = metro_procedure_param(p, "uncertainty_ratio", metro_dec_invalid());
	char buf[32];
	metro_dec_format_sig(r, 10, buf, sizeof buf);
	assert_string_equal(buf, "0.2");
	assert_false(metro_dec_valid(metro_procedure_param(p, "nope", metro_dec_invalid())));
	const struct metro_proc_field *cls = metro_procedure_field(p, "class");
	assert_non_null(cls);
	assert_true(cls->is_text);
	assert_int_equal(cls->nvalues, 1); /* class 2; class 1: jjg162-water-initial-class1 */
	assert_string_equal(cls->values[0], "2");
	/* the function check applies to meters with electronic devices only */
	const struct metro_proc_item *fn = &p->items[2];
	assert_string_equal(fn->id, "function");
	assert_string_equal(fn->only_field, "electronic");
	assert_true(metro_item_applies(fn, "yes"));
	assert_false(metro_item_applies(fn, "no"));
	assert_false(metro_item_applies(fn, NULL));
	assert_true(metro_item_applies(&p->items[0], NULL)); /* no guard: every meter */
	metro_procedure_destroy(&p);

	/* Class 1: 400 scale intervals at the low flows (0.25 % resolution, as 200 give for
	 * class 2 against twice the MPE). */
	p = load("procedures/jjg162-water-initial-class1.yaml");
	cls = metro_procedure_field(p, "class");
	assert_int_equal(cls->nvalues, 1);
	assert_string_equal(cls->values[0], "1");
	assert_string_equal(p->items[4].id, "q2");
	assert_string_equal(water_value(p, p->items[4].volume_l), "20");
	assert_string_equal(water_value(p, p->items[5].volume_l), "20");
	metro_procedure_destroy(&p);

	p = load("procedures/jjg162-water-in-service.yaml");
	assert_string_equal(p->limits, "in-service");
	r = metro_procedure_param(p, "uncertainty_ratio", metro_dec_invalid());
	struct metro_dec third = metro_dec_div(metro_dec_e(1, 0), metro_dec_e(3, 0));
	assert_int_equal(metro_dec_cmp(r, third), 0); /* exactly 1/3, not 0.333 */
	metro_procedure_destroy(&p);
}

/* Evaluate an expression for a G4 gas meter: qmax 6, qmin 0.04, cyclic volume 1.2 L. */
static const char *gas_value(const struct metro_procedure *p, const struct metro_expr *e)
{
	static char buf[64];
	struct metro_dec v[16];
	for (size_t i = 0; i < p->nnames; i++) {
		const char *n = p->names[i];
		const char *text = !strcmp(n, "qmax")		   ? "6"
				   : !strcmp(n, "qmin")		   ? "0.04"
				   : !strcmp(n, "cyclic_volume_l") ? "1.2"
								   : "1";
		metro_dec_parse(text, &v[i]);
	}
	struct metro_dec out;
	char err[100];
	assert_int_equal(metro_expr_eval(e, v, &out, err, sizeof err), 0);
	metro_dec_format_sig(out, 20, buf, sizeof buf);
	return buf;
}

static const struct metro_proc_item *item_by_id(const struct metro_procedure *p, const char *id)
{
	for (size_t i = 0; i < p->nitems; i++)
		if (!strcmp(p->items[i].id, id))
			return &p->items[i];
	fail_msg("no item %s", id);
	return NULL;
}

/* JJG 577: whole-cycle test volumes, the pressure-loss measurement, the enforced conditions. */
static void test_gas_items(void **state)
{
	(void)state;
	const char *files[] = {"procedures/jjg577-gas-initial.yaml",
			       "procedures/jjg577-gas-in-service.yaml"};
	for (size_t f = 0; f < 2; f++) {
		struct metro_procedure *p = load(files[f]);
		/* the minimum volume rounded up to whole cycles of 1.2 L: 100 L -> 84 cycles,
		 * 20 L -> 17 cycles, 10 L -> 9 cycles */
		assert_string_equal(gas_value(p, item_by_id(p, "qmax")->volume_l), "100.8");
		assert_string_equal(gas_value(p, item_by_id(p, "0.2qmax")->volume_l), "20.4");
		assert_string_equal(gas_value(p, item_by_id(p, "qmin")->volume_l), "10.8");
		/* the conditions: the room 18..22 °C only for qmax <= 10; bell - meter within 1 */
		int guarded = 0, diff = 0;
		for (size_t i = 0; i < p->nconditions; i++) {
			const struct metro_proc_condition *c = &p->conditions[i];
			if (c->when) {
				guarded++;
				assert_string_equal(c->channel, "ambient.temp");
				assert_true(c->has_when_max);
				assert_false(c->has_when_min);
				assert_string_equal(metro_expr_source(c->when), "qmax");
				assert_string_equal(gas_value(p, c->when), "6");
			}
			if (c->minus) {
				diff++;
				assert_string_equal(c->channel, "bell.temp");
				assert_string_equal(c->minus, "pos[N].temp");
				assert_int_equal(metro_dec_cmp(c->min, metro_dec_e(-1, 0)), 0);
				assert_int_equal(metro_dec_cmp(c->max, metro_dec_e(1, 0)), 0);
			}
		}
		assert_int_equal(guarded, 1);
		assert_int_equal(diff, 1);
		metro_procedure_destroy(&p);
	}
	struct metro_procedure *p = load(files[0]);
	const struct metro_proc_item *dp = item_by_id(p, "pressure_loss");
	assert_int_equal(dp->kind, METRO_ITEM_MEASUREMENT);
	assert_string_equal(metro_item_kind_name(dp->kind), "measurement");
	assert_string_equal(dp->unit, "Pa");
	assert_string_equal(dp->channel, "pos[N].dp");
	assert_false(dp->operator_readings);
	assert_int_equal(dp->count, 3);
	assert_null(dp->limit_min);
	assert_string_equal(gas_value(p, dp->limit_max), "200");
	assert_string_equal(gas_value(p, dp->flow), "6");
	metro_procedure_destroy(&p);
}

/* A typed measurement: readings: operator with a prompt, limits on both sides. */
static void test_typed_measurement(void **state)
{
	(void)state;
	static const char text[] =
		"procedure: {id: t, title: t, regulation: {id: JJG 577, "
		"edition: \"2012\"}, meter: gas, rig: bell-prover, "
		"verification: initial}\n"
		"nameplate: {qmax: {min: 1, max: 40}, class: {values: [\"1.5\"]}}\n"
		"parameters: {uncertainty_ratio: 1 / 3}\n"
		"items:\n"
		"  - {id: dp, kind: measurement, unit: Pa, readings: operator, "
		"prompt: Read the manometer, count: 2, limits: {min: 0, max: "
		"\"qmax * 20\"}}\n"
		"teardown: safe-state\n";
	struct metro_diag d;
	struct metro_procedure *p = NULL;
	metro_diag_init(&d);
	int err = metro_procedure_load_buffer("typed.yaml", text, strlen(text), &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(err, 0);
	const struct metro_proc_item *it = &p->items[0];
	assert_true(it->operator_readings);
	assert_null(it->channel);
	assert_null(it->flow);
	assert_int_equal(it->count, 2);
	assert_string_equal(gas_value(p, it->limit_min), "0");
	assert_string_equal(gas_value(p, it->limit_max), "120");
	metro_procedure_destroy(&p);
}

static void test_electricity_items(void **state)
{
	(void)state;
	struct metro_procedure *p = load("procedures/jjg596-electricity-initial.yaml");
	int loads = 0, start = 0, creep = 0, constant = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct metro_proc_item *it = &p->items[i];
		loads += it->kind == METRO_ITEM_LOAD_POINT;
		start += it->kind == METRO_ITEM_START_TEST;
		creep += it->kind == METRO_ITEM_CREEP_TEST;
		constant += it->kind == METRO_ITEM_CONSTANT_TEST;
		if (it->kind == METRO_ITEM_CREEP_TEST)
			assert_int_equal(it->allowed_pulses, 1);
		if (it->kind == METRO_ITEM_LOAD_POINT) {
			assert_int_equal(it->formula, METRO_FORMULA_PULSE);
			assert_int_equal(it->repeat, METRO_REPEAT_ELECTRICITY_MEAN);
			assert_non_null(it->pf);
		}
	}
	/* The load points of the reference record: Imax, 0.5Imax, Ib at 1.0 and 0.5L, 0.2Ib 0.5L,
	 * 0.1Ib at 1.0 and 0.5L, 0.05Ib at 1.0; and Ib, 0.1Ib at 0.8C. */
	assert_int_equal(loads, 10);
	assert_int_equal(start, 1);
	assert_int_equal(creep, 1);
	assert_int_equal(constant, 1);
	metro_procedure_destroy(&p);
}

/* The register test, the timing test, the AC voltage test and the 0.8C points of the initial
 * procedure; its scope (direct connection, classes 1 and 2); the in-service procedure. */
static void check_register_and_timing(const struct metro_procedure *p)
{
	struct metro_dec tenth = metro_dec_div(metro_dec_e(1, 0), metro_dec_e(10, 0));
	int constant = 0, timing = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct metro_proc_item *it = &p->items[i];
		if (it->kind == METRO_ITEM_CONSTANT_TEST) {
			constant++;
			assert_true(it->limit_by_class);
			assert_false(it->register_typed);
			assert_non_null(it->resolution_kwh);
			assert_int_equal(metro_dec_cmp(it->resolution_ratio, tenth), 0);
		}
		if (it->kind == METRO_ITEM_TIMING_TEST) {
			timing++;
			assert_string_equal(it->id, "timing");
			assert_string_equal(metro_item_kind_name(it->kind), "timing-test");
			assert_int_equal(it->runs, 5);
			assert_int_equal(metro_dec_cmp(it->limit_s_per_day, metro_dec_e(5, -1)), 0);
			assert_int_equal(metro_dec_cmp(it->gate_seconds, metro_dec_e(60, 0)), 0);
		}
	}
	assert_int_equal(constant, 1);
	assert_int_equal(timing, 1);
	const struct metro_proc_field *clock = metro_procedure_field(p, "clock");
	assert_non_null(clock);
	assert_true(clock->is_text);
	assert_int_equal(clock->nvalues, 2);
	const struct metro_proc_field *conn = metro_procedure_field(p, "connection");
	assert_int_equal(conn->nvalues, 1);
	assert_string_equal(conn->values[0], "direct");
	const struct metro_proc_field *cls = metro_procedure_field(p, "class");
	assert_int_equal(cls->nvalues, 2);
	assert_non_null(metro_procedure_field(p, "register_resolution"));
}

static void test_electricity_register_timing(void **state)
{
	(void)state;
	struct metro_procedure *p = load("procedures/jjg596-electricity-initial.yaml");
	check_register_and_timing(p);
	int ac = 0, c08 = 0;
	for (size_t i = 0; i < p->nitems; i++) {
		const struct metro_proc_item *it = &p->items[i];
		if (it->kind == METRO_ITEM_JUDGEMENT && !strcmp(it->id, "ac-voltage")) {
			ac++;
			assert_non_null(strstr(it->title, "交流电压试验"));
		}
		c08 += it->kind == METRO_ITEM_LOAD_POINT && !strcmp(it->pf, "0.8C");
	}
	assert_int_equal(ac, 1);
	assert_int_equal(c08, 2);
	metro_procedure_destroy(&p);

	p = load("procedures/jjg596-electricity-in-service.yaml");
	assert_string_equal(p->verification, "in-service");
	assert_string_equal(p->limits, "in-service");
	check_register_and_timing(p);
	for (size_t i = 0; i < p->nitems; i++) /* the AC voltage test is for initial verification */
		assert_string_not_equal(p->items[i].id, "ac-voltage");
	metro_procedure_destroy(&p);
}

/* A creep test that does not say how many pulses it allows allows one (IEC 62053-21). */
static void test_creep_default_allowance(void **state)
{
	(void)state;
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(
		metro_read_file("procedures/jjg596-electricity-initial.yaml", 1 << 20, &text, &len),
		0);
	char *line = strstr(text, "    allowed_pulses: 1");
	assert_non_null(line);
	char *eol = strchr(line, '\n');
	assert_non_null(eol);
	memmove(line, eol + 1, strlen(eol + 1) + 1);
	assert_null(strstr(text, "allowed_pulses"));
	struct metro_diag d;
	struct metro_procedure *p = NULL;
	metro_diag_init(&d);
	int err = metro_procedure_load_buffer("no-allowance.yaml", text, strlen(text), &d, &p);
	metro_diag_print(&d, stderr);
	metro_diag_free(&d);
	assert_int_equal(err, 0);
	int creep = 0;
	for (size_t i = 0; i < p->nitems; i++)
		if (p->items[i].kind == METRO_ITEM_CREEP_TEST) {
			assert_int_equal(p->items[i].allowed_pulses,
					 METRO_CREEP_ALLOWED_PULSES_DEFAULT);
			creep++;
		}
	assert_int_equal(creep, 1);
	assert_int_equal(METRO_CREEP_ALLOWED_PULSES_DEFAULT, 1);
	metro_procedure_destroy(&p);
	free(text);
}

int main(void)
{
	tu_srcdir();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_procedures),
		cmocka_unit_test(test_library_loads),
		cmocka_unit_test(test_water_points),
		cmocka_unit_test(test_electricity_items),
		cmocka_unit_test(test_gas_items),
		cmocka_unit_test(test_typed_measurement),
		cmocka_unit_test(test_creep_default_allowance),
		cmocka_unit_test(test_electricity_register_timing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
