/* Unit tests of lib/metrology/elecreg.c: the energy of a register test, the register's error
 * and the daily timing error, exactly, with their refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "elecreg.h"
#include "error.h"

static struct metro_dec d(const char *s)
{
	struct metro_dec v;
	assert_int_equal(metro_dec_parse(s, &v), 0);
	return v;
}

static void assert_dec(struct metro_dec got, const char *want)
{
	assert_int_equal(metro_dec_cmp(got, d(want)), 0);
}

static void test_register_energy(void **state)
{
	(void)state;
	struct metro_dec e;
	/* 0.01 kWh register, 1 % limit, a step at most 1/10 of the limit: 10 kWh */
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("1"), d("0.1"), d("1"), &e), 0);
	assert_dec(e, "10");
	/* class 2 (2 %): 5 kWh; the floor wins when it is larger */
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("2"), d("0.1"), d("1"), &e), 0);
	assert_dec(e, "5");
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("2"), d("0.1"), d("6"), &e), 0);
	assert_dec(e, "6");
	/* exact with a ratio of 1/3 (0.001 kWh, 1 %: 0.3 kWh) */
	struct metro_dec third = metro_dec_div(d("1"), d("3"));
	assert_int_equal(metro_mx_register_energy(d("0.001"), d("1"), third, d("0"), &e), 0);
	assert_dec(e, "0.3");
	/* refused: no resolution, no limit, ratio 0 or above 1, a negative floor, invalid */
	assert_int_equal(metro_mx_register_energy(d("0"), d("1"), d("0.1"), d("0"), &e),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("0"), d("0.1"), d("0"), &e),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("1"), d("0"), d("0"), &e),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("1"), d("1.1"), d("0"), &e),
			 METRO_E_RANGE);
	assert_int_equal(metro_mx_register_energy(d("0.01"), d("1"), d("0.1"), d("-1"), &e),
			 METRO_E_RANGE);
	assert_int_equal(
		metro_mx_register_energy(metro_dec_invalid(), d("1"), d("0.1"), d("0"), &e),
		METRO_E_INVAL);
}

static void test_register_error(void **state)
{
	(void)state;
	struct metro_dec e;
	/* 12345.67 -> 12355.78 kWh registers 10.11 against 10 kWh: +1.1 % exactly */
	assert_int_equal(metro_mx_register_error(d("12345.67"), d("12355.78"), d("10"), &e), 0);
	assert_dec(e, "1.1");
	assert_int_equal(metro_mx_register_error(d("0"), d("9.9"), d("10"), &e), 0);
	assert_dec(e, "-1");
	/* a third: exact, not 0.333... rounded */
	assert_int_equal(metro_mx_register_error(d("0"), d("4"), d("3"), &e), 0);
	assert_int_equal(metro_dec_cmp(e, metro_dec_div(d("100"), d("3"))), 0);
	/* refused: stop below start, a negative start, no reference, invalid */
	assert_int_equal(metro_mx_register_error(d("5"), d("4.99"), d("1"), &e), METRO_E_RANGE);
	assert_int_equal(metro_mx_register_error(d("-1"), d("4"), d("1"), &e), METRO_E_RANGE);
	assert_int_equal(metro_mx_register_error(d("1"), d("4"), d("0"), &e), METRO_E_RANGE);
	assert_int_equal(metro_mx_register_error(d("1"), metro_dec_invalid(), d("1"), &e),
			 METRO_E_INVAL);
}

static void test_timing_judge(void **state)
{
	(void)state;
	struct metro_dec mean;
	struct metro_mx_judgement j;
	struct metro_dec r[5] = {d("0.4"), d("0.5"), d("0.6"), d("0.5"), d("0.5")};
	/* mean exactly 0.5 s/d: the limit itself passes */
	assert_int_equal(metro_mx_timing_judge(r, 5, d("0.5"), &mean, &j), 0);
	assert_dec(mean, "0.5");
	assert_int_equal(j.verdict, METRO_MX_PASS);
	assert_dec(j.mpe, "0.5");
	assert_int_equal(j.rule, METRO_MX_RULE_FULL);
	/* 0.5001 fails at full precision */
	r[0] = d("0.4005");
	assert_int_equal(metro_mx_timing_judge(r, 5, d("0.5"), &mean, &j), 0);
	assert_dec(mean, "0.5001");
	assert_int_equal(j.verdict, METRO_MX_FAIL);
	/* slow clocks judged on the magnitude */
	struct metro_dec s[2] = {d("-0.7"), d("-0.5")};
	assert_int_equal(metro_mx_timing_judge(s, 2, d("0.5"), &mean, &j), 0);
	assert_dec(mean, "-0.6");
	assert_int_equal(j.verdict, METRO_MX_FAIL);
	/* refused: no readings, too many, no limit, an invalid reading */
	assert_int_equal(metro_mx_timing_judge(s, 0, d("0.5"), &mean, &j), METRO_E_INVAL);
	assert_int_equal(metro_mx_timing_judge(s, METRO_MX_MAX_RUNS + 1, d("0.5"), &mean, &j),
			 METRO_E_INVAL);
	assert_int_equal(metro_mx_timing_judge(s, 2, d("0"), &mean, &j), METRO_E_INVAL);
	s[1] = metro_dec_invalid();
	assert_int_equal(metro_mx_timing_judge(s, 2, d("0.5"), &mean, &j), METRO_E_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_energy),
		cmocka_unit_test(test_register_error),
		cmocka_unit_test(test_timing_judge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
