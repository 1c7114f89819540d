/* Unit tests of the reading encoder (daemon/docenc.c).
 *
 * The reference is jansson itself: every number metro_fmt_real() writes must be the exact
 * text json_dumps() writes for json_real(v) with JSON_REAL_PRECISION(12), which is glibc's
 * correctly rounded "%.12g" in jansson's form.  The sweeps cover random bit patterns over the
 * whole fast range and beyond it, float32 register values, decimal fractions, integers,
 * exact ties at the twelfth digit, and neighbours of powers of ten.  A whole reading and a
 * whole stamped document must parse back (jansson) to the same values.  Fixed-seed
 * splitmix64, so a failure reproduces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docenc.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned long compared, mismatches;

/* Compare with jansson; print the first few differences so a failure says which value. */
static void check(double v)
{
	char ours[METRO_REAL_MAX];
	size_t n = metro_fmt_real(v, ours);
	json_t *arr = json_pack("[f]", v);
	char *ref = arr ? json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
	json_decref(arr);
	compared++;
	if (!ref) { /* jansson refuses it: so must we */
		if (n != 0 && mismatches++ < 10)
			print_error("%a: jansson refuses, we wrote %s\n", v, ours);
		return;
	}
	size_t rl = strlen(ref) - 2;
	if (n != rl || memcmp(ours, ref + 1, rl) != 0 || ours[n] != '\0') {
		if (mismatches++ < 10)
			print_error("%a (%.17g): ours '%s' jansson '%.*s'\n", v, v, ours, (int)rl,
				    ref + 1);
	}
	free(ref);
}

static double from_bits(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof d);
	return d;
}

static void test_special_values(void **state)
{
	(void)state;
	char out[METRO_REAL_MAX];
	assert_int_equal(metro_fmt_real(NAN, out), 0);
	assert_int_equal(metro_fmt_real(INFINITY, out), 0);
	assert_int_equal(metro_fmt_real(-INFINITY, out), 0);
	assert_int_equal(metro_fmt_real(0.0, out), 3);
	assert_string_equal(out, "0.0");
	metro_fmt_real(-0.0, out);
	assert_string_equal(out, "-0.0");
	metro_fmt_real(1.5, out);
	assert_string_equal(out, "1.5");
	metro_fmt_real(100.0, out);
	assert_string_equal(out, "100.0");
	metro_fmt_real(1e-5, out);
	assert_string_equal(out, "1e-5");
	metro_fmt_real(123456789012.5, out); /* a tie at the 12th digit: to even */
	assert_string_equal(out, "123456789012.0");
	metro_fmt_real(123456789013.5, out);
	assert_string_equal(out, "123456789014.0");
	metro_fmt_real(1e12, out);
	assert_string_equal(out, "1e12");
	metro_fmt_real(0.1 + 0.2, out);
	assert_string_equal(out, "0.3");
	double all[] = {0.0,
			-0.0,
			1.0,
			-1.0,
			0.1,
			0.5,
			2.5,
			1e-4,
			1e-5,
			9.99999999999e-5,
			9.999999999995e-5,
			0.0001,
			999999999999.5,
			1e12,
			1e15,
			1e-9,
			1e-10,
			1e16,
			1e300,
			4.9e-324,
			DBL_MAX_EXP,
			123.456,
			6.02214076e23};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		check(all[i]);
	assert_int_equal(mismatches, 0);
}

/* Random bit patterns whose magnitude lies in 1e-12 .. 1e18 (the fast range and either
 * side of it), both signs. */
static void test_random_bits(void **state)
{
	(void)state;
	mismatches = 0;
	for (int i = 0; i < 1000000; i++) {
		uint64_t b = rng();
		int e = 1023 - 40 + (int)(rng() % 101); /* 2^-40 .. 2^60 */
		b = (b & 0x800fffffffffffffULL) | ((uint64_t)e << 52);
		check(from_bits(b));
	}
	assert_int_equal(mismatches, 0);
}

/* What a rig reads: float32 registers, scaled integers, decimal fractions, and values a hair
 * either side of a rounding boundary of the twelfth digit and of powers of ten. */
static void test_register_like_values(void **state)
{
	(void)state;
	mismatches = 0;
	for (int i = 0; i < 300000; i++) {
		float f;
		uint32_t fb = (uint32_t)rng();
		fb = (fb & 0x807fffffU) | ((uint32_t)(127 - 30 + rng() % 70) << 23);
		memcpy(&f, &fb, sizeof f);
		check((double)f);
		int64_t raw = (int64_t)(rng() % 2000000001ULL) - 1000000000;
		check((double)raw / pow(10, (double)(rng() % 10)));
		check((double)raw);
	}
	for (int p = -9; p <= 15; p++) {
		double t = pow(10, p);
		double v = t;
		for (int k = 0; k < 50; k++) {
			check(v);
			check(-v);
			v = nextafter(v, 0);
		}
		v = t;
		for (int k = 0; k < 50; k++) {
			check(v);
			v = nextafter(v, INFINITY);
		}
	}
	/* ties and near-ties: 12 digits and a half, for exponents where they are exact */
	for (int i = 0; i < 200000; i++) {
		uint64_t d = 100000000000ULL + rng() % 900000000000ULL;
		int sh = (int)(rng() % 4);
		double v = ((double)d + 0.5) / (double)(1 << sh);
		check(v);
		check(nextafter(v, 0));
		check(nextafter(v, INFINITY));
	}
	assert_int_equal(mismatches, 0);
	print_message("compared %lu values with jansson\n", compared);
}

static void test_reading_round_trip(void **state)
{
	(void)state;
	const char *names[] = {"flow.actual", "ref.volume", "pos[1].volume", "odd\"name\\\x01"};
	double vals[] = {1.25, -0.000123, 12345.6789012, NAN};
	struct metro_reading_enc e;
	metro_reading_enc_init(&e, names, 4);
	size_t len;
	const char *body = metro_reading_encode(&e, 42, -7, vals, &len);
	assert_int_equal(len, strlen(body));
	struct metro_stamp st;
	metro_stamp_init(&st, "lab-1");
	char *rig_q = metro_json_quote("water-1");
	size_t dl;
	const char *doc = metro_stamp_document(&st, "reading", rig_q, 99, body, len, &dl);
	json_error_t je;
	json_t *j = json_loadb(doc, dl, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("%s: %s", doc, je.text);
	assert_string_equal(json_string_value(json_object_get(j, "schema")), "metrod.reading/1");
	assert_string_equal(json_string_value(json_object_get(j, "station")), "lab-1");
	assert_string_equal(json_string_value(json_object_get(j, "rig")), "water-1");
	assert_int_equal(json_integer_value(json_object_get(j, "seq")), 99);
	assert_int_equal(json_integer_value(json_object_get(j, "tick")), 42);
	assert_int_equal(json_integer_value(json_object_get(j, "read_ns")), -7);
	const char *t = json_string_value(json_object_get(j, "time"));
	assert_non_null(t);
	assert_int_equal(strlen(t), 27);
	assert_int_equal(t[26], 'Z');
	json_t *v = json_object_get(j, "values");
	assert_int_equal(json_object_size(v), 3); /* NaN is left out, like json_real(NAN) */
	for (int i = 0; i < 3; i++)
		assert_true(json_real_value(json_object_get(v, names[i])) == vals[i]);
	json_decref(j);
	/* a second tick reuses the buffers */
	body = metro_reading_encode(&e, 43, 5, vals, &len);
	doc = metro_stamp_document(&st, "reading", rig_q, 100, body, len, &dl);
	j = json_loadb(doc, dl, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "tick")), 43);
	json_decref(j);
	free(rig_q);
	metro_stamp_free(&st);
	metro_reading_enc_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_special_values),
		cmocka_unit_test(test_random_bits),
		cmocka_unit_test(test_register_like_values),
		cmocka_unit_test(test_reading_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
