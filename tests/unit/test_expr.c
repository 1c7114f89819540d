/* Unit tests of the procedure expression language: exact results, precedence, functions,
 * typographic operators, and every kind of error with its column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "expr.h"

static const char *const names[] = {"q3", "r", "ib", "imax", "scale_interval_l"};

/* Evaluate src with q3 = 2.5, r = 100, ib = 5, imax = 60, scale_interval_l = 0.0005 and
 * return the result formatted with up to 20 significant digits. */
static const char *eval(const char *src)
{
	static char buf[64];
	struct metro_dec v[5];
	assert_int_equal(metro_dec_parse("2.5", &v[0]), 0);
	assert_int_equal(metro_dec_parse("100", &v[1]), 0);
	assert_int_equal(metro_dec_parse("5", &v[2]), 0);
	assert_int_equal(metro_dec_parse("60", &v[3]), 0);
	assert_int_equal(metro_dec_parse("0.0005", &v[4]), 0);
	struct metro_expr *e;
	unsigned col = 0;
	char err[200];
	int rc = metro_expr_compile(src, names, 5, &e, &col, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s: column %u: %s\n", src, col, err);
	assert_int_equal(rc, 0);
	struct metro_dec out;
	rc = metro_expr_eval(e, v, &out, err, sizeof err);
	if (rc) {
		metro_expr_destroy(&e);
		snprintf(buf, sizeof buf, "error: %s", err);
		return buf;
	}
	assert_int_equal(metro_dec_format_sig(out, 20, buf, sizeof buf), 0);
	metro_expr_destroy(&e);
	return buf;
}

static void test_values(void **state)
{
	(void)state;
	assert_string_equal(eval("q3 / r"), "0.025");
	/* Q2 = 1.6 Q1 is exactly 0.04: the zone boundary is hit exactly. */
	assert_string_equal(eval("1.6 * q3 / r"), "0.04");
	assert_string_equal(eval("1.6 * (q3 / r)"), "0.04");
	assert_string_equal(eval("q3 / r * 1.05"), "0.02625");
	assert_string_equal(eval("0.1 * ib"), "0.5");
	assert_string_equal(eval("0.5*imax"), "30");
	assert_string_equal(eval("1 + 2 * 3"), "7");
	assert_string_equal(eval("(1 + 2) * 3"), "9");
	assert_string_equal(eval("10 - 4 - 3"), "3");	/* left associative */
	assert_string_equal(eval("100 / 10 / 5"), "2"); /* left associative */
	assert_string_equal(eval("-q3 + 1"), "-1.5");
	assert_string_equal(eval("- -2"), "2");
	assert_string_equal(eval("+3"), "3");
	assert_string_equal(eval("2 × 3 ÷ 4 − 1"), "0.5"); /* typographic operators */
	assert_string_equal(eval("max(200 * scale_interval_l, q3 * 1000 / 60)"),
			    "41.666666666666666667");
	assert_string_equal(eval("min(3, 1, 2)"), "1");
	assert_string_equal(eval("abs(-2.5)"), "2.5");
	assert_string_equal(eval("ceil(2.01)"), "3");
	assert_string_equal(eval("ceil(-2.5)"), "-2");
	assert_string_equal(eval("floor(-2.5)"), "-3");
	assert_string_equal(eval("1e3 * 2.5E-2"), "25");
	assert_string_equal(eval(".5 + 1."), "1.5");
	assert_string_equal(eval("1 / 0"), "error: column 3: division by zero");
	assert_string_equal(eval("q3 / (r - 100)"), "error: column 4: division by zero");
}

static void expect_error(const char *src, unsigned col, const char *msg)
{
	struct metro_expr *e = (struct metro_expr *)1;
	unsigned c = 0;
	char err[200] = "";
	assert_int_equal(metro_expr_compile(src, names, 5, &e, &c, err, sizeof err), METRO_E_INVAL);
	assert_null(e);
	if (c != col || strcmp(err, msg) != 0)
		fprintf(stderr, "'%s': got column %u '%s', want %u '%s'\n", src, c, err, col, msg);
	assert_int_equal(c, col);
	assert_string_equal(err, msg);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("", 1, "expression ends where a value was expected");
	expect_error("q3 +", 5, "expression ends where a value was expected");
	expect_error("q4 / r", 1, "unknown name 'q4' (known: q3, r, ib, imax, scale_interval_l)");
	expect_error("2 * Ib", 5, "unknown name 'Ib' (known: q3, r, ib, imax, scale_interval_l)");
	expect_error("sqrt(2)", 1,
		     "unknown function 'sqrt' (functions: min, max, abs, ceil, floor)");
	expect_error("(q3 / r", 8, "expected ')' to close the '(' at column 1");
	expect_error("q3 / r)", 7, "')' without a matching '('");
	expect_error("q3 r", 4, "unexpected 'r' after a complete expression");
	expect_error("2q3", 2, "a number cannot be followed by a name: write '*' between them");
	expect_error("q3 ** 2", 5, "unexpected '*' where a value was expected");
	expect_error("min(1)", 1, "min takes 2 to 16 arguments, not 1");
	expect_error("abs(1, 2)", 1, "abs takes 1 argument(s), not 2");
	expect_error("max(1 2)", 7, "expected ',' or ')' in the arguments of max");
	expect_error("1 + # 2", 5, "unexpected '#' where a value was expected");
	expect_error("水 * 2", 1, "unexpected '\xe6' where a value was expected");
	expect_error("× 2", 1, "unexpected '\xc3' where a value was expected");
	char deep[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "(");
	expect_error(deep, 33, "expression nested deeper than 32 levels");
	char digits[64];
	memset(digits, '9', 45);
	digits[45] = '\0';
	expect_error(digits, 1,
		     "number '999999999999999999999999999999999999999999999' has too "
		     "many digits");
	char longsrc[600];
	memset(longsrc, '1', 599);
	longsrc[599] = '\0';
	expect_error(longsrc, 513, "expression longer than 512 characters");
}

static void test_names_used(void **state)
{
	(void)state;
	struct metro_expr *e;
	unsigned c;
	char err[100];
	assert_int_equal(metro_expr_compile("q3 / r * ib", names, 5, &e, &c, err, sizeof err), 0);
	assert_int_equal(metro_expr_names_used(e), 0x7);
	assert_string_equal(metro_expr_source(e), "q3 / r * ib");
	metro_expr_destroy(&e);
	assert_null(e);
	metro_expr_destroy(&e); /* takes NULL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_names_used),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
