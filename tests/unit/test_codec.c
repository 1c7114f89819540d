/* Unit tests of the Modbus register codec (drivers/codec.c).
 *
 * The expected register images do not come from the codec: they come from hand-computed
 * patterns (checked against Python's struct module when the tests were written) and from a
 * reference model below that lays bytes out with explicit permutation tables taken from the
 * order table in codec.h, independent of the word-swap/byte-swap flags the codec uses.
 * Sweeps use a fixed-seed splitmix64 generator so failures reproduce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"
#include "error.h"

#define SWEEP 100000

static uint64_t rng_state;

static void rng_seed(uint64_t s)
{
	rng_state = s;
}

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static const enum metro_codec_type numeric_types[] = {
	METRO_CODEC_U16, METRO_CODEC_I16, METRO_CODEC_U32, METRO_CODEC_I32,
	METRO_CODEC_U64, METRO_CODEC_I64, METRO_CODEC_F32, METRO_CODEC_F64,
};

static const enum metro_codec_order all_orders[] = {
	METRO_CODEC_ABCD,
	METRO_CODEC_CDAB,
	METRO_CODEC_BADC,
	METRO_CODEC_DCBA,
};

static unsigned nbytes_of(enum metro_codec_type t)
{
	switch (t) {
	case METRO_CODEC_U16:
	case METRO_CODEC_I16:
		return 2;
	case METRO_CODEC_U32:
	case METRO_CODEC_I32:
	case METRO_CODEC_F32:
		return 4;
	default:
		return 8;
	}
}

/* Reference model: wire position k carries value byte perm[k] (0 = most significant).  These
 * tables are the order table of codec.h written out byte by byte. */
static const unsigned perm2[4][2] = {{0, 1}, {0, 1}, {1, 0}, {1, 0}};
static const unsigned perm4[4][4] = {{0, 1, 2, 3}, {2, 3, 0, 1}, {1, 0, 3, 2}, {3, 2, 1, 0}};
static const unsigned perm8[4][8] = {
	{0, 1, 2, 3, 4, 5, 6, 7},
	{6, 7, 4, 5, 2, 3, 0, 1},
	{1, 0, 3, 2, 5, 4, 7, 6},
	{7, 6, 5, 4, 3, 2, 1, 0},
};

static void ref_regs(uint64_t image, unsigned nbytes, enum metro_codec_order o, uint16_t *regs)
{
	unsigned char val[8], wire[8];
	for (unsigned k = 0; k < nbytes; k++)
		val[k] = (unsigned char)(image >> (8 * (nbytes - 1 - k)));
	for (unsigned k = 0; k < nbytes; k++) {
		unsigned p = nbytes == 2 ? perm2[o][k] : nbytes == 4 ? perm4[o][k] : perm8[o][k];
		wire[k] = val[p];
	}
	for (unsigned w = 0; w < nbytes / 2; w++)
		regs[w] = (uint16_t)(wire[2 * w] << 8 | wire[2 * w + 1]);
}

static struct metro_codec codec(enum metro_codec_type t, enum metro_codec_order o)
{
	struct metro_codec c;
	metro_codec_init(&c, t, o);
	return c;
}

static uint64_t bits_of_double(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static double double_of_bits(uint64_t u)
{
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static uint32_t bits_of_float(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float float_of_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- names, validation, argument checks ------------------------------------------------ */

static void test_names(void **state)
{
	(void)state;
	static const char *const tnames[] = {"u16", "i16", "u32", "i32",  "u64",
					     "i64", "f32", "f64", "bits", "string"};
	for (unsigned i = 0; i < METRO_CODEC_NTYPES; i++) {
		enum metro_codec_type t = METRO_CODEC_STRING;
		assert_int_equal(metro_codec_parse_type(tnames[i], &t), 0);
		assert_int_equal(t, i);
		assert_string_equal(metro_codec_type_name(t), tnames[i]);
	}
	static const char *const onames[] = {"ABCD", "CDAB", "BADC", "DCBA"};
	for (unsigned i = 0; i < METRO_CODEC_NORDERS; i++) {
		enum metro_codec_order o = METRO_CODEC_DCBA;
		assert_int_equal(metro_codec_parse_order(onames[i], &o), 0);
		assert_int_equal(o, i);
		assert_string_equal(metro_codec_order_name(o), onames[i]);
	}
	static const char *const bad[] = {"", "U16", "u8", "float", "bit", "u16 ", "abcd", "ABC"};
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		enum metro_codec_type t = METRO_CODEC_U32;
		enum metro_codec_order o = METRO_CODEC_CDAB;
		assert_int_equal(metro_codec_parse_type(bad[i], &t), METRO_E_INVAL);
		assert_int_equal(metro_codec_parse_order(bad[i], &o), METRO_E_INVAL);
		assert_int_equal(t, METRO_CODEC_U32); /* untouched */
		assert_int_equal(o, METRO_CODEC_CDAB);
	}
	enum metro_codec_type t;
	assert_int_equal(metro_codec_parse_type(NULL, &t), METRO_E_INVAL);
	assert_string_equal(metro_codec_type_name((enum metro_codec_type)99), "?");
	assert_string_equal(metro_codec_order_name((enum metro_codec_order)4), "?");

	assert_int_equal(metro_codec_type_words(METRO_CODEC_U16, 0), 1);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_I16, 7), 1);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_BITS, 0), 1);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_U32, 0), 2);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_I32, 0), 2);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_F32, 0), 2);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_U64, 0), 4);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_I64, 0), 4);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_F64, 0), 4);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 1), 1);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 2), 1);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 3), 2);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 240), 120);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 0), 0);
	assert_int_equal(metro_codec_type_words(METRO_CODEC_STRING, 241), 0);
	assert_int_equal(metro_codec_type_words((enum metro_codec_type)10, 0), 0);
}

static void test_check(void **state)
{
	(void)state;
	struct metro_codec c = codec(METRO_CODEC_U16, METRO_CODEC_ABCD);
	assert_int_equal(metro_codec_check(&c), 0);
	assert_true(c.scale == 1.0 && c.offset == 0.0);
	assert_int_equal(metro_codec_check(NULL), METRO_E_INVAL);

	struct metro_codec b = c;
	b.type = (enum metro_codec_type)METRO_CODEC_NTYPES;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b = c;
	b.order = (enum metro_codec_order)METRO_CODEC_NORDERS;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b = c;
	b.scale = 0.0;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b.scale = NAN;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b.scale = INFINITY;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b.scale = -0.5; /* negative scales are legitimate (a sensor mounted backwards) */
	assert_int_equal(metro_codec_check(&b), 0);
	b.offset = NAN;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b.offset = -INFINITY;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b = c;
	b.bit_width = 1; /* bit field on a u16 */
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b = c;
	b.bit_offset = 3;
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);
	b = c;
	b.str_len = 4; /* string length on a u16 */
	assert_int_equal(metro_codec_check(&b), METRO_E_INVAL);

	struct metro_codec f = codec(METRO_CODEC_BITS, METRO_CODEC_ABCD);
	assert_int_equal(metro_codec_check(&f), METRO_E_INVAL); /* width 0 */
	for (unsigned off = 0; off < 20; off++) {
		for (unsigned w = 0; w < 20; w++) {
			f.bit_offset = off;
			f.bit_width = w;
			int ok = w >= 1 && off + w <= 16;
			assert_int_equal(metro_codec_check(&f), ok ? 0 : METRO_E_INVAL);
		}
	}
	struct metro_codec s = codec(METRO_CODEC_STRING, METRO_CODEC_ABCD);
	assert_int_equal(metro_codec_check(&s), METRO_E_INVAL); /* str_len 0 */
	s.str_len = 1;
	assert_int_equal(metro_codec_check(&s), 0);
	s.str_len = METRO_CODEC_STR_MAX;
	assert_int_equal(metro_codec_check(&s), 0);
	s.str_len = METRO_CODEC_STR_MAX + 1;
	assert_int_equal(metro_codec_check(&s), METRO_E_INVAL);
	s.str_len = 4;
	s.bit_width = 2;
	assert_int_equal(metro_codec_check(&s), METRO_E_INVAL);
}

/* Every entry point refuses a wrong register count, the wrong kind of type and an invalid
 * codec, and leaves its outputs untouched. */
static void test_wrong_nregs(void **state)
{
	(void)state;
	uint16_t regs[8] = {0x1234, 0x5678, 0x9abc, 0xdef0, 1, 2, 3, 4};
	uint16_t keep[8];
	memcpy(keep, regs, sizeof regs);
	for (unsigned i = 0; i < sizeof numeric_types / sizeof numeric_types[0]; i++) {
		struct metro_codec c = codec(numeric_types[i], METRO_CODEC_ABCD);
		unsigned words = metro_codec_type_words(c.type, 0);
		size_t wrong[] = {0, words - 1, words + 1, 8};
		for (unsigned k = 0; k < 4; k++) {
			double d = 42.0;
			struct metro_codec_raw r = {.kind = METRO_CODEC_RAW_UINT, .u = 7};
			assert_int_equal(metro_codec_decode(&c, regs, wrong[k], &d), METRO_E_INVAL);
			assert_true(d == 42.0);
			assert_int_equal(metro_codec_decode_raw(&c, regs, wrong[k], &r),
					 METRO_E_INVAL);
			assert_true(r.u == 7);
			assert_int_equal(metro_codec_encode(&c, 1.0, regs, wrong[k]),
					 METRO_E_INVAL);
			assert_int_equal(metro_codec_encode_raw(&c, &r, regs, wrong[k]),
					 METRO_E_INVAL);
		}
		char s[8];
		assert_int_equal(metro_codec_decode_str(&c, regs, words, s, sizeof s),
				 METRO_E_INVAL);
		assert_int_equal(metro_codec_encode_str(&c, "A", regs, words), METRO_E_INVAL);
		double d;
		assert_int_equal(metro_codec_decode(&c, NULL, words, &d), METRO_E_INVAL);
		c.scale = 0.0;
		assert_int_equal(metro_codec_decode(&c, regs, words, &d), METRO_E_INVAL);
		assert_int_equal(metro_codec_encode(&c, 1.0, regs, words), METRO_E_INVAL);
	}
	struct metro_codec s = codec(METRO_CODEC_STRING, METRO_CODEC_ABCD);
	s.str_len = 5; /* three registers */
	double d;
	char out[16];
	assert_int_equal(metro_codec_decode(&s, regs, 3, &d), METRO_E_INVAL);
	assert_int_equal(metro_codec_encode(&s, 1.0, regs, 3), METRO_E_INVAL);
	assert_int_equal(metro_codec_decode_str(&s, regs, 2, out, sizeof out), METRO_E_INVAL);
	assert_int_equal(metro_codec_decode_str(&s, regs, 4, out, sizeof out), METRO_E_INVAL);
	assert_int_equal(metro_codec_encode_str(&s, "AB", regs, 2), METRO_E_INVAL);
	assert_int_equal(metro_codec_encode_str(&s, "AB", regs, 4), METRO_E_INVAL);
	struct metro_codec bf = codec(METRO_CODEC_BITS, METRO_CODEC_ABCD);
	bf.bit_width = 4;
	assert_int_equal(metro_codec_encode(&bf, 1.0, regs, 2), METRO_E_INVAL);
	assert_memory_equal(regs, keep, sizeof regs);
}

/* ---- known byte patterns --------------------------------------------------------------- */

struct pattern {
	enum metro_codec_type type;
	double value;
	uint16_t regs[4][4]; /* per order */
};

static void test_known_patterns(void **state)
{
	(void)state;
	static const struct pattern pats[] = {
		/* 123.456f = 0x42F6E979 */
		{METRO_CODEC_F32,
		 (double)123.456f,
		 {{0x42f6, 0xe979}, {0xe979, 0x42f6}, {0xf642, 0x79e9}, {0x79e9, 0xf642}}},
		/* -1.5f = 0xBFC00000 */
		{METRO_CODEC_F32,
		 -1.5,
		 {{0xbfc0, 0x0000}, {0x0000, 0xbfc0}, {0xc0bf, 0x0000}, {0x0000, 0xc0bf}}},
		/* pi = 0x400921FB54442D18 */
		{METRO_CODEC_F64,
		 3.141592653589793,
		 {{0x4009, 0x21fb, 0x5444, 0x2d18},
		  {0x2d18, 0x5444, 0x21fb, 0x4009},
		  {0x0940, 0xfb21, 0x4454, 0x182d},
		  {0x182d, 0x4454, 0xfb21, 0x0940}}},
		/* -1.5 = 0xBFF8000000000000 */
		{METRO_CODEC_F64,
		 -1.5,
		 {{0xbff8, 0, 0, 0}, {0, 0, 0, 0xbff8}, {0xf8bf, 0, 0, 0}, {0, 0, 0, 0xf8bf}}},
		/* 0xAABBCCDD, the table in codec.h */
		{METRO_CODEC_U32,
		 2864434397.0,
		 {{0xaabb, 0xccdd}, {0xccdd, 0xaabb}, {0xbbaa, 0xddcc}, {0xddcc, 0xbbaa}}},
		/* 0x1122334455667700 (the table's value with its low byte cleared, so that a
		 * double holds it exactly) */
		{METRO_CODEC_U64,
		 1234605616436508416.0,
		 {{0x1122, 0x3344, 0x5566, 0x7700},
		  {0x7700, 0x5566, 0x3344, 0x1122},
		  {0x2211, 0x4433, 0x6655, 0x0077},
		  {0x0077, 0x6655, 0x4433, 0x2211}}},
		/* -2 as i32 = 0xFFFFFFFE */
		{METRO_CODEC_I32,
		 -2.0,
		 {{0xffff, 0xfffe}, {0xfffe, 0xffff}, {0xffff, 0xfeff}, {0xfeff, 0xffff}}},
		/* -32768 as i16 = 0x8000; one register: CDAB = ABCD, DCBA = BADC */
		{METRO_CODEC_I16, -32768.0, {{0x8000}, {0x8000}, {0x0080}, {0x0080}}},
		{METRO_CODEC_U16, 4660.0, {{0x1234}, {0x1234}, {0x3412}, {0x3412}}},
		/* -2^63 as i64 */
		{METRO_CODEC_I64,
		 -9223372036854775808.0,
		 {{0x8000, 0, 0, 0}, {0, 0, 0, 0x8000}, {0x0080, 0, 0, 0}, {0, 0, 0, 0x0080}}},
	};
	for (unsigned i = 0; i < sizeof pats / sizeof pats[0]; i++) {
		const struct pattern *p = &pats[i];
		for (unsigned o = 0; o < 4; o++) {
			struct metro_codec c = codec(p->type, all_orders[o]);
			size_t n = metro_codec_type_words(p->type, 0);
			double d = 0;
			assert_int_equal(metro_codec_decode(&c, p->regs[o], n, &d), 0);
			if (d != p->value)
				fail_msg("%s %s: decoded %.17g, want %.17g",
					 metro_codec_type_name(p->type),
					 metro_codec_order_name(c.order), d, p->value);
			uint16_t regs[4] = {0xdead, 0xdead, 0xdead, 0xdead};
			assert_int_equal(metro_codec_encode(&c, p->value, regs, n), 0);
			assert_memory_equal(regs, p->regs[o], n * sizeof regs[0]);
			if (n < 4)
				assert_int_equal(regs[n], 0xdead); /* nothing written beyond n */
		}
	}
	/* The 64-bit row of the table in codec.h, exactly, through the raw functions. */
	static const uint16_t t64[4][4] = {{0x1122, 0x3344, 0x5566, 0x7788},
					   {0x7788, 0x5566, 0x3344, 0x1122},
					   {0x2211, 0x4433, 0x6655, 0x8877},
					   {0x8877, 0x6655, 0x4433, 0x2211}};
	for (unsigned o = 0; o < 4; o++) {
		struct metro_codec c = codec(METRO_CODEC_U64, all_orders[o]);
		struct metro_codec_raw raw;
		assert_int_equal(metro_codec_decode_raw(&c, t64[o], 4, &raw), 0);
		assert_true(raw.kind == METRO_CODEC_RAW_UINT && raw.u == 0x1122334455667788u);
		uint16_t regs[4];
		assert_int_equal(metro_codec_encode_raw(&c, &raw, regs, 4), 0);
		assert_memory_equal(regs, t64[o], sizeof regs);
	}
	/* The reference model agrees with the hand-computed table (tests the test). */
	uint16_t r[4];
	ref_regs(0x400921fb54442d18u, 8, METRO_CODEC_BADC, r);
	assert_int_equal(r[0], 0x0940);
	assert_int_equal(r[3], 0x182d);
	ref_regs(0x42f6e979u, 4, METRO_CODEC_DCBA, r);
	assert_int_equal(r[0], 0x79e9);
	assert_int_equal(r[1], 0xf642);
}

/* ---- sweeps ---------------------------------------------------------------------------- */

/* decode_raw against the reference model for random images, then encode_raw back. */
static void test_raw_sweep(void **state)
{
	(void)state;
	rng_seed(1);
	for (unsigned ti = 0; ti < sizeof numeric_types / sizeof numeric_types[0]; ti++) {
		enum metro_codec_type t = numeric_types[ti];
		unsigned nb = nbytes_of(t);
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec c = codec(t, all_orders[oi]);
			for (unsigned k = 0; k < SWEEP; k++) {
				uint64_t img = rng();
				/* The edges first: 0, all ones, sign bit alone, sign bit - 1. */
				uint64_t edge[] = {0, UINT64_MAX, (uint64_t)1 << (nb * 8 - 1),
						   ((uint64_t)1 << (nb * 8 - 1)) - 1};
				if (k < 4)
					img = edge[k];
				if (nb < 8)
					img &= ((uint64_t)1 << (nb * 8)) - 1;
				uint16_t regs[4], back[4];
				ref_regs(img, nb, c.order, regs);
				struct metro_codec_raw r;
				assert_int_equal(metro_codec_decode_raw(&c, regs, nb / 2, &r), 0);
				switch (t) {
				case METRO_CODEC_U16:
				case METRO_CODEC_U32:
				case METRO_CODEC_U64:
					assert_int_equal(r.kind, METRO_CODEC_RAW_UINT);
					assert_true(r.u == img);
					break;
				case METRO_CODEC_I16: {
					int16_t want;
					uint16_t u = (uint16_t)img;
					memcpy(&want, &u, sizeof want);
					assert_int_equal(r.kind, METRO_CODEC_RAW_INT);
					assert_true(r.i == want);
					break;
				}
				case METRO_CODEC_I32: {
					int32_t want;
					uint32_t u = (uint32_t)img;
					memcpy(&want, &u, sizeof want);
					assert_int_equal(r.kind, METRO_CODEC_RAW_INT);
					assert_true(r.i == want);
					break;
				}
				case METRO_CODEC_I64: {
					int64_t want;
					memcpy(&want, &img, sizeof want);
					assert_int_equal(r.kind, METRO_CODEC_RAW_INT);
					assert_true(r.i == want);
					break;
				}
				case METRO_CODEC_F32: {
					float want = float_of_bits((uint32_t)img);
					assert_int_equal(r.kind, METRO_CODEC_RAW_FLOAT);
					if (isnan(want)) {
						assert_true(isnan(r.f));
						/* a signalling NaN comes back quiet (documented) */
						continue;
					}
					assert_true(bits_of_float((float)r.f) == (uint32_t)img);
					break;
				}
				case METRO_CODEC_F64:
					assert_int_equal(r.kind, METRO_CODEC_RAW_FLOAT);
					assert_true(bits_of_double(r.f) == img);
					break;
				default:
					fail();
				}
				memset(back, 0xee, sizeof back);
				assert_int_equal(metro_codec_encode_raw(&c, &r, back, nb / 2), 0);
				if (memcmp(back, regs, nb) != 0)
					fail_msg("%s %s image %016llx: encode_raw differs",
						 metro_codec_type_name(t),
						 metro_codec_order_name(c.order),
						 (unsigned long long)img);
			}
		}
	}
}

/* A random engineering value that every type represents exactly: integers in range (64-bit
 * ones limited to |v| <= 2^53), finite floats. */
static double random_value(enum metro_codec_type t, unsigned k)
{
	uint64_t x = rng();
	switch (t) {
	case METRO_CODEC_U16:
		return (double)(x & 0xffff);
	case METRO_CODEC_I16:
		return (double)((int64_t)(x & 0xffff) - 32768);
	case METRO_CODEC_U32:
		return (double)(x & 0xffffffffu);
	case METRO_CODEC_I32:
		return (double)((int64_t)(x & 0xffffffffu) - 2147483648);
	case METRO_CODEC_U64:
		/* every few values a large one that is exactly representable */
		if (k % 4 == 0)
			return ldexp((double)(x >> 16), (int)(x & 15));
		return (double)(x >> 11);
	case METRO_CODEC_I64:
		if (k % 4 == 0)
			return ldexp((double)(int64_t)(x >> 16) - 140737488355328.0, (int)(x & 15));
		return (double)((int64_t)(x >> 11) - 4503599627370496);
	case METRO_CODEC_F32: {
		float f;
		do {
			f = float_of_bits((uint32_t)rng());
		} while (!isfinite(f));
		return f;
	}
	case METRO_CODEC_F64: {
		double d;
		do {
			d = double_of_bits(rng());
		} while (!isfinite(d));
		return d;
	}
	default:
		return 0;
	}
}

static void test_value_sweep(void **state)
{
	(void)state;
	rng_seed(2);
	for (unsigned ti = 0; ti < sizeof numeric_types / sizeof numeric_types[0]; ti++) {
		enum metro_codec_type t = numeric_types[ti];
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec c = codec(t, all_orders[oi]);
			size_t n = metro_codec_type_words(t, 0);
			for (unsigned k = 0; k < SWEEP; k++) {
				double v = random_value(t, k), back = NAN;
				uint16_t regs[4], ref[4];
				assert_int_equal(metro_codec_encode(&c, v, regs, n), 0);
				assert_int_equal(metro_codec_decode(&c, regs, n, &back), 0);
				/* Bit-exact, so the sign of a float zero counts too. */
				if (bits_of_double(back) != bits_of_double(v))
					fail_msg("%s %s: %.17g came back as %.17g",
						 metro_codec_type_name(t),
						 metro_codec_order_name(c.order), v, back);
				/* And the registers are the reference layout of the raw image. */
				struct metro_codec_raw r;
				assert_int_equal(metro_codec_decode_raw(&c, regs, n, &r), 0);
				uint64_t img =
					r.kind == METRO_CODEC_RAW_FLOAT
						? (t == METRO_CODEC_F32 ? bits_of_float((float)r.f)
									: bits_of_double(r.f))
						: r.u;
				if (n < 4)
					img &= ((uint64_t)1 << (n * 16)) - 1;
				ref_regs(img, (unsigned)n * 2, c.order, ref);
				assert_memory_equal(regs, ref, n * sizeof regs[0]);
			}
		}
	}
}

/* ---- integer edges, sign extension, 64-bit exactness ----------------------------------- */

/* Decode the raw image img (most significant byte first) laid out in every order through
 * the reference model, and expect the value want. */
static void expect_decode(enum metro_codec_type t, uint64_t img, double want)
{
	for (unsigned oi = 0; oi < 4; oi++) {
		size_t n = metro_codec_type_words(t, 0);
		uint16_t r[4];
		ref_regs(img, (unsigned)n * 2, all_orders[oi], r);
		struct metro_codec c = codec(t, all_orders[oi]);
		double d = NAN;
		assert_int_equal(metro_codec_decode(&c, r, n, &d), 0);
		if (d != want)
			fail_msg("%s %s: got %.17g want %.17g", metro_codec_type_name(t),
				 metro_codec_order_name(c.order), d, want);
	}
}

static void test_sign_extension(void **state)
{
	(void)state;
	expect_decode(METRO_CODEC_I16, 0xffffu, -1);
	expect_decode(METRO_CODEC_I16, 0x8000u, -32768);
	expect_decode(METRO_CODEC_I16, 0x7fffu, 32767);
	expect_decode(METRO_CODEC_I16, 0x8001u, -32767);
	expect_decode(METRO_CODEC_U16, 0xffffu, 65535);
	expect_decode(METRO_CODEC_U16, 0x8000u, 32768);
	expect_decode(METRO_CODEC_I32, 0xffffffffu, -1);
	expect_decode(METRO_CODEC_I32, 0x80000000u, -2147483648.0);
	expect_decode(METRO_CODEC_I32, 0x7fffffffu, 2147483647.0);
	expect_decode(METRO_CODEC_I32, 0x00008000u, 32768); /* no 16-bit sign */
	expect_decode(METRO_CODEC_I32, 0xffff8000u, -32768);
	expect_decode(METRO_CODEC_U32, 0xffffffffu, 4294967295.0);
	expect_decode(METRO_CODEC_U32, 0x80000000u, 2147483648.0);
	expect_decode(METRO_CODEC_I64, 0xffffffffffffffffu, -1);
	expect_decode(METRO_CODEC_I64, 0xffffffff80000000u, -2147483648.0);
	expect_decode(METRO_CODEC_I64, 0x0000000080000000u, 2147483648.0);
	expect_decode(METRO_CODEC_I64, 0x8000000000000000u, -9223372036854775808.0);
	expect_decode(METRO_CODEC_U64, 0x8000000000000000u, 9223372036854775808.0);
	expect_decode(METRO_CODEC_U64, 0x0020000000000000u, 9007199254740992.0);
	expect_decode(METRO_CODEC_U64, 0x0010000000000000u, 4503599627370496.0);
	expect_decode(METRO_CODEC_I64, 0xffe0000000000000u, -9007199254740992.0);
	/* -1 through encode for each signed type gives all ones in every order */
	static const enum metro_codec_type st[] = {METRO_CODEC_I16, METRO_CODEC_I32,
						   METRO_CODEC_I64};
	for (unsigned i = 0; i < 3; i++) {
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec c = codec(st[i], all_orders[oi]);
			size_t n = metro_codec_type_words(st[i], 0);
			uint16_t regs[4] = {0, 0, 0, 0};
			assert_int_equal(metro_codec_encode(&c, -1.0, regs, n), 0);
			for (size_t w = 0; w < n; w++)
				assert_int_equal(regs[w], 0xffff);
		}
	}
}

/* A 64-bit integer that a double cannot hold exactly is an error for decode, exact for
 * decode_raw. */
static void test_u64_exactness(void **state)
{
	(void)state;
	static const uint64_t inexact_u[] = {9007199254740993u, UINT64_MAX, 0xfffffffffffff801u,
					     ((uint64_t)1 << 62) + 1};
	for (unsigned i = 0; i < sizeof inexact_u / sizeof inexact_u[0]; i++) {
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec c = codec(METRO_CODEC_U64, all_orders[oi]);
			uint16_t regs[4];
			ref_regs(inexact_u[i], 8, c.order, regs);
			double d = 7.0;
			assert_int_equal(metro_codec_decode(&c, regs, 4, &d), METRO_E_RANGE);
			assert_true(d == 7.0);
			struct metro_codec_raw r;
			assert_int_equal(metro_codec_decode_raw(&c, regs, 4, &r), 0);
			assert_true(r.kind == METRO_CODEC_RAW_UINT && r.u == inexact_u[i]);
		}
	}
	static const int64_t inexact_i[] = {9007199254740993, -9007199254740993, INT64_MAX,
					    INT64_MIN + 1};
	for (unsigned i = 0; i < sizeof inexact_i / sizeof inexact_i[0]; i++) {
		struct metro_codec c = codec(METRO_CODEC_I64, METRO_CODEC_ABCD);
		struct metro_codec_raw r = {.kind = METRO_CODEC_RAW_INT, .i = inexact_i[i]};
		uint16_t regs[4];
		assert_int_equal(metro_codec_encode_raw(&c, &r, regs, 4), 0);
		double d = 7.0;
		assert_int_equal(metro_codec_decode(&c, regs, 4, &d), METRO_E_RANGE);
		assert_true(d == 7.0);
		struct metro_codec_raw back;
		assert_int_equal(metro_codec_decode_raw(&c, regs, 4, &back), 0);
		assert_true(back.kind == METRO_CODEC_RAW_INT && back.i == inexact_i[i]);
	}
	/* Representable beyond 2^53: fine. */
	struct metro_codec c = codec(METRO_CODEC_U64, METRO_CODEC_CDAB);
	uint16_t regs[4];
	double d;
	assert_int_equal(metro_codec_encode(&c, ldexp(1, 60), regs, 4), 0);
	assert_int_equal(metro_codec_decode(&c, regs, 4, &d), 0);
	assert_true(d == ldexp(1, 60));
	/* The largest double below 2^64 encodes exactly. */
	assert_int_equal(metro_codec_encode(&c, 18446744073709549568.0, regs, 4), 0);
	struct metro_codec_raw r;
	assert_int_equal(metro_codec_decode_raw(&c, regs, 4, &r), 0);
	assert_true(r.u == 18446744073709549568u);
}

/* Every integer type refuses values just outside its range, before and after rounding, and
 * leaves the registers alone. */
static void test_encode_overflow(void **state)
{
	(void)state;
	static const struct {
		enum metro_codec_type t;
		double min, max;     /* exact limits */
		double below, above; /* nearest refused values */
	} lim[] = {
		{METRO_CODEC_U16, 0, 65535, -1, 65536},
		{METRO_CODEC_I16, -32768, 32767, -32769, 32768},
		{METRO_CODEC_U32, 0, 4294967295.0, -1, 4294967296.0},
		{METRO_CODEC_I32, -2147483648.0, 2147483647.0, -2147483649.0, 2147483648.0},
		{METRO_CODEC_U64, 0, 18446744073709549568.0, -1, 18446744073709551616.0},
		{METRO_CODEC_I64, -9223372036854775808.0, 9223372036854774784.0,
		 -9223372036854777856.0, 9223372036854775808.0},
	};
	for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec c = codec(lim[i].t, all_orders[oi]);
			size_t n = metro_codec_type_words(c.type, 0);
			uint16_t regs[4] = {0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a};
			const uint16_t keep[4] = {0x5a5a, 0x5a5a, 0x5a5a, 0x5a5a};
			double refused[] = {lim[i].below, lim[i].above, 1e30,  -1e30,  NAN,
					    INFINITY,	  -INFINITY,	1e300, DBL_MAX};
			for (unsigned k = 0; k < sizeof refused / sizeof refused[0]; k++) {
				if (metro_codec_encode(&c, refused[k], regs, n) != METRO_E_RANGE)
					fail_msg("%s accepted %.17g", metro_codec_type_name(c.type),
						 refused[k]);
				assert_memory_equal(regs, keep, sizeof regs);
			}
			double d;
			assert_int_equal(metro_codec_encode(&c, lim[i].min, regs, n), 0);
			assert_int_equal(
				metro_codec_decode_raw(&c, regs, n, &(struct metro_codec_raw){0}),
				0);
			assert_int_equal(metro_codec_decode(&c, regs, n, &d), 0);
			assert_true(d == lim[i].min);
			assert_int_equal(metro_codec_encode(&c, lim[i].max, regs, n), 0);
			assert_int_equal(metro_codec_decode(&c, regs, n, &d), 0);
			assert_true(d == lim[i].max);
		}
	}
	/* Rounding happens before the range check. */
	struct metro_codec u16 = codec(METRO_CODEC_U16, METRO_CODEC_ABCD);
	struct metro_codec i16 = codec(METRO_CODEC_I16, METRO_CODEC_ABCD);
	uint16_t r[1] = {0};
	assert_int_equal(metro_codec_encode(&u16, 65535.5, r, 1), METRO_E_RANGE);
	assert_int_equal(metro_codec_encode(&u16, 65535.49, r, 1), 0);
	assert_int_equal(r[0], 65535);
	assert_int_equal(metro_codec_encode(&u16, -0.5, r, 1), 0); /* ties to even: 0 */
	assert_int_equal(r[0], 0);
	assert_int_equal(metro_codec_encode(&u16, -0.51, r, 1), METRO_E_RANGE);
	assert_int_equal(metro_codec_encode(&i16, 32767.5, r, 1), METRO_E_RANGE);
	assert_int_equal(metro_codec_encode(&i16, -32768.5, r, 1), 0); /* -32768 is even */
	assert_int_equal(r[0], 0x8000);
	assert_int_equal(metro_codec_encode(&i16, -32768.5001, r, 1), METRO_E_RANGE);

	/* encode_raw: exact ranges, no wrapping, INT and UINT both accepted. */
	struct metro_codec_raw raw;
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_UINT, .u = 65536};
	assert_int_equal(metro_codec_encode_raw(&u16, &raw, r, 1), METRO_E_RANGE);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = -1};
	assert_int_equal(metro_codec_encode_raw(&u16, &raw, r, 1), METRO_E_RANGE);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = 65535};
	assert_int_equal(metro_codec_encode_raw(&u16, &raw, r, 1), 0);
	assert_int_equal(r[0], 0xffff);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = 32768};
	assert_int_equal(metro_codec_encode_raw(&i16, &raw, r, 1), METRO_E_RANGE);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = -32769};
	assert_int_equal(metro_codec_encode_raw(&i16, &raw, r, 1), METRO_E_RANGE);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_UINT, .u = 32767};
	assert_int_equal(metro_codec_encode_raw(&i16, &raw, r, 1), 0);
	assert_int_equal(r[0], 0x7fff);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_FLOAT, .f = 1.0};
	assert_int_equal(metro_codec_encode_raw(&i16, &raw, r, 1), METRO_E_INVAL);
	struct metro_codec i64 = codec(METRO_CODEC_I64, METRO_CODEC_ABCD);
	uint16_t r4[4];
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_UINT, .u = (uint64_t)INT64_MAX + 1};
	assert_int_equal(metro_codec_encode_raw(&i64, &raw, r4, 4), METRO_E_RANGE);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = INT64_MIN};
	assert_int_equal(metro_codec_encode_raw(&i64, &raw, r4, 4), 0);
	assert_int_equal(r4[0], 0x8000);
	struct metro_codec i32 = codec(METRO_CODEC_I32, METRO_CODEC_ABCD);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_INT, .i = (int64_t)INT32_MAX + 1};
	assert_int_equal(metro_codec_encode_raw(&i32, &raw, r4, 2), METRO_E_RANGE);
	struct metro_codec u32 = codec(METRO_CODEC_U32, METRO_CODEC_ABCD);
	raw = (struct metro_codec_raw){.kind = METRO_CODEC_RAW_UINT, .u = (uint64_t)UINT32_MAX + 1};
	assert_int_equal(metro_codec_encode_raw(&u32, &raw, r4, 2), METRO_E_RANGE);
}

/* ---- floats: NaN, infinity, f32 range -------------------------------------------------- */

static void test_float_specials(void **state)
{
	(void)state;
	static const uint64_t f32_bad[] = {0x7fc00000, 0x7f800000, 0xff800000, 0x7f800001,
					   0xffffffff};
	static const uint64_t f64_bad[] = {0x7ff8000000000000u, 0x7ff0000000000000u,
					   0xfff0000000000000u, 0x7ff0000000000001u};
	for (unsigned oi = 0; oi < 4; oi++) {
		struct metro_codec c32 = codec(METRO_CODEC_F32, all_orders[oi]);
		struct metro_codec c64 = codec(METRO_CODEC_F64, all_orders[oi]);
		for (unsigned i = 0; i < sizeof f32_bad / sizeof f32_bad[0]; i++) {
			uint16_t regs[2];
			ref_regs(f32_bad[i], 4, c32.order, regs);
			double d = 5.0;
			assert_int_equal(metro_codec_decode(&c32, regs, 2, &d), METRO_E_RANGE);
			assert_true(d == 5.0);
			struct metro_codec_raw r;
			assert_int_equal(metro_codec_decode_raw(&c32, regs, 2, &r), 0);
			assert_true(!isfinite(r.f));
			assert_true(isnan(r.f) == isnan(float_of_bits((uint32_t)f32_bad[i])));
			/* raw is raw: a NaN or infinity can be written back explicitly */
			uint16_t back[2];
			assert_int_equal(metro_codec_encode_raw(&c32, &r, back, 2), 0);
			struct metro_codec_raw r2;
			assert_int_equal(metro_codec_decode_raw(&c32, back, 2, &r2), 0);
			assert_true(isnan(r2.f) == isnan(r.f));
		}
		for (unsigned i = 0; i < sizeof f64_bad / sizeof f64_bad[0]; i++) {
			uint16_t regs[4];
			ref_regs(f64_bad[i], 8, c64.order, regs);
			double d = 5.0;
			assert_int_equal(metro_codec_decode(&c64, regs, 4, &d), METRO_E_RANGE);
			assert_true(d == 5.0);
			struct metro_codec_raw r;
			assert_int_equal(metro_codec_decode_raw(&c64, regs, 4, &r), 0);
			assert_true(bits_of_double(r.f) == f64_bad[i]);
			uint16_t back[4];
			assert_int_equal(metro_codec_encode_raw(&c64, &r, back, 4), 0);
			assert_memory_equal(back, regs, sizeof back);
		}
		/* encode refuses non-finite values for float types too */
		uint16_t regs[4] = {1, 2, 3, 4};
		assert_int_equal(metro_codec_encode(&c32, NAN, regs, 2), METRO_E_RANGE);
		assert_int_equal(metro_codec_encode(&c32, INFINITY, regs, 2), METRO_E_RANGE);
		assert_int_equal(metro_codec_encode(&c64, -INFINITY, regs, 4), METRO_E_RANGE);
		assert_int_equal(metro_codec_encode(&c64, NAN, regs, 4), METRO_E_RANGE);
		/* f32 range: beyond FLT_MAX is refused, not turned into infinity */
		assert_int_equal(metro_codec_encode(&c32, 3.5e38, regs, 2), METRO_E_RANGE);
		assert_int_equal(metro_codec_encode(&c32, -3.5e38, regs, 2), METRO_E_RANGE);
		assert_int_equal(metro_codec_encode(&c32, DBL_MAX, regs, 2), METRO_E_RANGE);
		assert_int_equal(regs[0], 1);
		assert_int_equal(regs[1], 2);
		struct metro_codec_raw big = {.kind = METRO_CODEC_RAW_FLOAT, .f = 1e39};
		assert_int_equal(metro_codec_encode_raw(&c32, &big, regs, 2), METRO_E_RANGE);
		struct metro_codec_raw ik = {.kind = METRO_CODEC_RAW_INT, .i = 1};
		assert_int_equal(metro_codec_encode_raw(&c32, &ik, regs, 2), METRO_E_INVAL);
		double d;
		assert_int_equal(metro_codec_encode(&c32, FLT_MAX, regs, 2), 0);
		assert_int_equal(metro_codec_decode(&c32, regs, 2, &d), 0);
		assert_true(d == (double)FLT_MAX);
		assert_int_equal(metro_codec_encode(&c32, -FLT_MAX, regs, 2), 0);
		/* f32 rounds to nearest: 0.1 becomes the float nearest 0.1 */
		assert_int_equal(metro_codec_encode(&c32, 0.1, regs, 2), 0);
		assert_int_equal(metro_codec_decode(&c32, regs, 2, &d), 0);
		assert_true(d == (double)0.1f);
		/* negative zero keeps its sign */
		assert_int_equal(metro_codec_encode(&c64, -0.0, regs, 4), 0);
		assert_int_equal(metro_codec_decode(&c64, regs, 4, &d), 0);
		assert_true(d == 0 && signbit(d));
		/* smallest subnormal of each */
		assert_int_equal(metro_codec_encode(&c64, 4.9406564584124654e-324, regs, 4), 0);
		assert_int_equal(metro_codec_decode(&c64, regs, 4, &d), 0);
		assert_true(d == 4.9406564584124654e-324);
		assert_int_equal(metro_codec_encode(&c32, 1.4012984643248171e-45, regs, 2), 0);
		assert_int_equal(metro_codec_decode(&c32, regs, 2, &d), 0);
		assert_true(d == 1.4012984643248171e-45);
	}
}

/* ---- rounding -------------------------------------------------------------------------- */

static double encode_decode_raw_i64(double v, int *rc)
{
	struct metro_codec c = codec(METRO_CODEC_I64, METRO_CODEC_ABCD);
	uint16_t regs[4];
	*rc = metro_codec_encode(&c, v, regs, 4);
	struct metro_codec_raw r = {.kind = METRO_CODEC_RAW_INT, .i = 0};
	if (!*rc)
		assert_int_equal(metro_codec_decode_raw(&c, regs, 4, &r), 0);
	return (double)r.i;
}

static void test_rounding(void **state)
{
	(void)state;
	static const struct {
		double in, out;
	} cases[] = {
		{0.5, 0},
		{1.5, 2},
		{2.5, 2},
		{3.5, 4},
		{-0.5, 0},
		{-1.5, -2},
		{-2.5, -2},
		{-3.5, -4},
		{2.4999999999999996, 2},
		{2.5000000000000004, 3},
		{0.49999999999999994, 0},
		{-0.49999999999999994, 0},
		{1e-300, 0},
		{-1e-300, 0},
		{0.5000000000000001, 1},
		{4503599627370495.5, 4503599627370496.0},
		{4503599627370494.5, 4503599627370494.0},
		{-4503599627370495.5, -4503599627370496.0},
		{4503599627370497.0, 4503599627370497.0},
		{9007199254740993.0, 9007199254740992.0}, /* the literal itself is rounded */
		{12345.678, 12346},
		{-12345.678, -12346},
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc;
		double got = encode_decode_raw_i64(cases[i].in, &rc);
		assert_int_equal(rc, 0);
		if (got != cases[i].out)
			fail_msg("round(%.17g) = %.17g, want %.17g", cases[i].in, got,
				 cases[i].out);
		/* the promised bound: at most half a unit away */
		assert_true(fabs(got - cases[i].in) <= 0.5);
	}
	/* Independent of the floating-point rounding mode. */
	static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
	for (unsigned m = 0; m < 3; m++) {
		assert_int_equal(fesetround(modes[m]), 0);
		int rc1, rc2, rc3;
		double a = encode_decode_raw_i64(2.5, &rc1);
		double b = encode_decode_raw_i64(-3.5, &rc2);
		double c = encode_decode_raw_i64(0.75, &rc3);
		assert_int_equal(fesetround(FE_TONEAREST), 0);
		assert_true(rc1 == 0 && rc2 == 0 && rc3 == 0);
		assert_true(a == 2 && b == -4 && c == 1);
	}
	/* Scale turns engineering resolution into raw units: with scale 0.5, 1.25 is raw 2.5. */
	struct metro_codec c = codec(METRO_CODEC_U16, METRO_CODEC_ABCD);
	c.scale = 0.5;
	uint16_t r[1];
	assert_int_equal(metro_codec_encode(&c, 1.25, r, 1), 0);
	assert_int_equal(r[0], 2);
	assert_int_equal(metro_codec_encode(&c, 1.75, r, 1), 0);
	assert_int_equal(r[0], 4);
	assert_int_equal(metro_codec_encode(&c, 1.74, r, 1), 0);
	assert_int_equal(r[0], 3);
}

/* ---- scale and offset ------------------------------------------------------------------ */

static void test_scale_offset(void **state)
{
	(void)state;
	struct metro_codec c = codec(METRO_CODEC_U16, METRO_CODEC_ABCD);
	c.scale = 0.1;
	uint16_t r[4] = {123};
	double d;
	assert_int_equal(metro_codec_decode(&c, r, 1, &d), 0);
	assert_true(d == 12.3);
	assert_int_equal(metro_codec_encode(&c, 12.3, r, 1), 0);
	assert_int_equal(r[0], 123);

	/* temperature in hundredths with a -40 offset */
	c.scale = 0.01;
	c.offset = -40;
	r[0] = 1000;
	assert_int_equal(metro_codec_decode(&c, r, 1, &d), 0);
	assert_true(d == -30.0);
	assert_int_equal(metro_codec_encode(&c, -30.0, r, 1), 0);
	assert_int_equal(r[0], 1000);
	assert_int_equal(metro_codec_encode(&c, -40.006, r, 1), METRO_E_RANGE); /* raw -0.6 */
	assert_int_equal(metro_codec_encode(&c, -40.004, r, 1), 0);		/* raw -0.4 */
	assert_int_equal(r[0], 0);
	assert_int_equal(metro_codec_encode(&c, 615.35, r, 1), 0); /* raw 65535 */
	assert_int_equal(r[0], 65535);
	assert_int_equal(metro_codec_encode(&c, 615.36, r, 1), METRO_E_RANGE); /* raw 65536 */

	/* a negative scale */
	struct metro_codec n = codec(METRO_CODEC_I16, METRO_CODEC_BADC);
	n.scale = -2;
	n.offset = 1;
	assert_int_equal(metro_codec_encode(&n, -9, r, 1), 0); /* raw 5 */
	assert_int_equal(r[0], 0x0500);
	assert_int_equal(metro_codec_decode(&n, r, 1, &d), 0);
	assert_true(d == -9);

	/* floats */
	struct metro_codec f = codec(METRO_CODEC_F32, METRO_CODEC_CDAB);
	f.scale = 2;
	f.offset = 1;
	assert_int_equal(metro_codec_encode(&f, 4.0, r, 2), 0); /* raw 1.5 = 0x3FC00000 */
	assert_int_equal(r[0], 0x0000);
	assert_int_equal(r[1], 0x3fc0);
	assert_int_equal(metro_codec_decode(&f, r, 2, &d), 0);
	assert_true(d == 4.0);

	/* Overflow through scale: in both directions. */
	struct metro_codec g = codec(METRO_CODEC_F64, METRO_CODEC_ABCD);
	g.scale = 10;
	assert_int_equal(metro_codec_encode(&g, 1e308, r, 4), 0); /* raw 1e307 */
	struct metro_codec_raw big = {.kind = METRO_CODEC_RAW_FLOAT, .f = 1e308};
	assert_int_equal(metro_codec_encode_raw(&g, &big, r, 4), 0);
	d = 3;
	assert_int_equal(metro_codec_decode(&g, r, 4, &d), METRO_E_RANGE);
	assert_true(d == 3);
	g.scale = 1e-10;
	assert_int_equal(metro_codec_encode(&g, 1e300, r, 4), METRO_E_RANGE);

	/* Exhaustive over every 16-bit raw with an awkward scale and offset: decode, then
	 * encode, gives the raw back, so a value read can always be written unchanged. */
	static const enum metro_codec_type t16[] = {METRO_CODEC_U16, METRO_CODEC_I16};
	static const double scales[] = {0.1, 0.001, 1.0 / 3.0, -0.25, 7.5};
	for (unsigned ti = 0; ti < 2; ti++) {
		for (unsigned si = 0; si < sizeof scales / sizeof scales[0]; si++) {
			struct metro_codec e = codec(t16[ti], all_orders[si % 4]);
			e.scale = scales[si];
			e.offset = -273.15;
			for (uint32_t raw = 0; raw <= 0xffff; raw++) {
				uint16_t in[1] = {(uint16_t)raw}, out[1] = {0};
				assert_int_equal(metro_codec_decode(&e, in, 1, &d), 0);
				assert_int_equal(metro_codec_encode(&e, d, out, 1), 0);
				if (out[0] != in[0])
					fail_msg("%s scale %g raw %u -> %.17g -> %u",
						 metro_codec_type_name(e.type), e.scale, raw, d,
						 out[0]);
			}
		}
	}
	/* And for 32-bit integers, a sweep with scale 0.001. */
	rng_seed(3);
	struct metro_codec e = codec(METRO_CODEC_I32, METRO_CODEC_DCBA);
	e.scale = 0.001;
	e.offset = 12.5;
	for (unsigned k = 0; k < SWEEP; k++) {
		uint16_t in[2] = {(uint16_t)rng(), (uint16_t)rng()}, out[2];
		assert_int_equal(metro_codec_decode(&e, in, 2, &d), 0);
		assert_int_equal(metro_codec_encode(&e, d, out, 2), 0);
		assert_memory_equal(in, out, sizeof in);
	}
}

/* ---- bit fields ------------------------------------------------------------------------ */

static void test_bits(void **state)
{
	(void)state;
	rng_seed(4);
	for (unsigned oi = 0; oi < 4; oi++) {
		int bswap =
			all_orders[oi] == METRO_CODEC_BADC || all_orders[oi] == METRO_CODEC_DCBA;
		for (unsigned off = 0; off < 16; off++) {
			for (unsigned w = 1; off + w <= 16; w++) {
				struct metro_codec c = codec(METRO_CODEC_BITS, all_orders[oi]);
				c.bit_offset = off;
				c.bit_width = w;
				uint32_t mask = ((1u << w) - 1) << off;
				uint32_t maxv = (1u << w) - 1;
				/* decode: random registers against the shift-and-mask model */
				for (unsigned k = 0; k < 200; k++) {
					uint16_t reg = (uint16_t)rng();
					uint16_t v16 =
						bswap ? (uint16_t)(reg << 8 | reg >> 8) : reg;
					double d;
					assert_int_equal(metro_codec_decode(&c, &reg, 1, &d), 0);
					assert_true(d == (double)((v16 & mask) >> off));
				}
				/* encode: each value (or a sample for wide fields) into a random
				 * background; other bits survive */
				unsigned step = maxv > 1024 ? maxv / 997 : 1;
				for (uint32_t v = 0; v <= maxv; v += step) {
					uint16_t bg = (uint16_t)rng(), reg = bg;
					assert_int_equal(metro_codec_encode(&c, v, &reg, 1), 0);
					uint16_t v16 =
						bswap ? (uint16_t)(reg << 8 | reg >> 8) : reg;
					uint16_t b16 = bswap ? (uint16_t)(bg << 8 | bg >> 8) : bg;
					assert_int_equal((v16 & mask) >> off, v);
					assert_int_equal(v16 & ~mask & 0xffff,
							 b16 & ~mask & 0xffff);
					double d;
					assert_int_equal(metro_codec_decode(&c, &reg, 1, &d), 0);
					assert_true(d == v);
				}
				/* max + 1 and -1 are refused and the register is untouched */
				uint16_t reg = 0x1234;
				assert_int_equal(metro_codec_encode(&c, maxv + 1.0, &reg, 1),
						 METRO_E_RANGE);
				assert_int_equal(metro_codec_encode(&c, -1, &reg, 1),
						 METRO_E_RANGE);
				assert_int_equal(reg, 0x1234);
				/* all ones: the field is at its maximum */
				reg = 0xffff;
				double d;
				assert_int_equal(metro_codec_decode(&c, &reg, 1, &d), 0);
				assert_true(d == maxv);
				struct metro_codec_raw r;
				assert_int_equal(metro_codec_decode_raw(&c, &reg, 1, &r), 0);
				assert_true(r.kind == METRO_CODEC_RAW_UINT && r.u == maxv);
			}
		}
	}
	/* Width 16 is the whole register, the same as u16. */
	struct metro_codec whole = codec(METRO_CODEC_BITS, METRO_CODEC_ABCD);
	whole.bit_width = 16;
	struct metro_codec u16 = codec(METRO_CODEC_U16, METRO_CODEC_ABCD);
	for (uint32_t raw = 0; raw <= 0xffff; raw += 7) {
		uint16_t reg = (uint16_t)raw;
		double a, b;
		assert_int_equal(metro_codec_decode(&whole, &reg, 1, &a), 0);
		assert_int_equal(metro_codec_decode(&u16, &reg, 1, &b), 0);
		assert_true(a == b);
	}
	/* A concrete one: bits 4..6 of 0x00F0 are 7; writing 2 gives 0x00A0. */
	struct metro_codec f = codec(METRO_CODEC_BITS, METRO_CODEC_ABCD);
	f.bit_offset = 4;
	f.bit_width = 3;
	uint16_t reg = 0x00f0;
	double d;
	assert_int_equal(metro_codec_decode(&f, &reg, 1, &d), 0);
	assert_true(d == 7);
	assert_int_equal(metro_codec_encode(&f, 2, &reg, 1), 0);
	assert_int_equal(reg, 0x00a0);
	/* With byte swap bit 0 of the value is bit 8 of the register as read. */
	f.order = METRO_CODEC_BADC;
	f.bit_offset = 0;
	f.bit_width = 1;
	reg = 0x0100;
	assert_int_equal(metro_codec_decode(&f, &reg, 1, &d), 0);
	assert_true(d == 1);
	reg = 0x0001;
	assert_int_equal(metro_codec_decode(&f, &reg, 1, &d), 0);
	assert_true(d == 0);
}

/* ---- strings --------------------------------------------------------------------------- */

static struct metro_codec strcodec(unsigned len, enum metro_codec_order o)
{
	struct metro_codec c = codec(METRO_CODEC_STRING, o);
	c.str_len = len;
	return c;
}

static void test_strings(void **state)
{
	(void)state;
	uint16_t regs[METRO_CODEC_STR_MAX / 2];
	char out[METRO_CODEC_STR_MAX + 1];

	struct metro_codec c = strcodec(4, METRO_CODEC_ABCD);
	assert_int_equal(metro_codec_encode_str(&c, "ABCD", regs, 2), 0);
	assert_int_equal(regs[0], 0x4142);
	assert_int_equal(regs[1], 0x4344);
	c.order = METRO_CODEC_CDAB; /* word swap has no effect on strings */
	assert_int_equal(metro_codec_encode_str(&c, "ABCD", regs, 2), 0);
	assert_int_equal(regs[0], 0x4142);
	assert_int_equal(regs[1], 0x4344);
	c.order = METRO_CODEC_BADC;
	assert_int_equal(metro_codec_encode_str(&c, "ABCD", regs, 2), 0);
	assert_int_equal(regs[0], 0x4241);
	assert_int_equal(regs[1], 0x4443);
	assert_int_equal(metro_codec_decode_str(&c, regs, 2, out, sizeof out), 0);
	assert_string_equal(out, "ABCD");
	c.order = METRO_CODEC_DCBA;
	assert_int_equal(metro_codec_decode_str(&c, regs, 2, out, sizeof out), 0);
	assert_string_equal(out, "ABCD");

	/* odd length: the spare half of the last register is NUL */
	struct metro_codec o = strcodec(3, METRO_CODEC_ABCD);
	assert_int_equal(metro_codec_encode_str(&o, "ABC", regs, 2), 0);
	assert_int_equal(regs[0], 0x4142);
	assert_int_equal(regs[1], 0x4300);
	assert_int_equal(metro_codec_decode_str(&o, regs, 2, out, 4), 0);
	assert_string_equal(out, "ABC");
	regs[1] = 0x4344; /* the spare byte is outside the string and ignored */
	assert_int_equal(metro_codec_decode_str(&o, regs, 2, out, 4), 0);
	assert_string_equal(out, "ABC");
	o.order = METRO_CODEC_BADC;
	assert_int_equal(metro_codec_encode_str(&o, "ABC", regs, 2), 0);
	assert_int_equal(regs[1], 0x0043);
	assert_int_equal(metro_codec_decode_str(&o, regs, 2, out, 4), 0);
	assert_string_equal(out, "ABC");
	assert_int_equal(metro_codec_decode_str(&o, regs, 2, out, 3), METRO_E_INVAL); /* cap */

	/* padding */
	struct metro_codec p = strcodec(6, METRO_CODEC_ABCD);
	uint16_t sp[3] = {0x4142, 0x2020, 0x2020};
	assert_int_equal(metro_codec_decode_str(&p, sp, 3, out, sizeof out), 0);
	assert_string_equal(out, "AB");
	uint16_t nul[3] = {0x4142, 0x2000, 0x0000};
	assert_int_equal(metro_codec_decode_str(&p, nul, 3, out, sizeof out), 0);
	assert_string_equal(out, "AB");
	uint16_t junk[3] = {0x4100, 0x0143, 0xffff}; /* after the NUL: ignored */
	assert_int_equal(metro_codec_decode_str(&p, junk, 3, out, sizeof out), 0);
	assert_string_equal(out, "A");
	uint16_t inner[3] = {0x2041, 0x2042, 0x2020}; /* inner and leading spaces stay */
	assert_int_equal(metro_codec_decode_str(&p, inner, 3, out, sizeof out), 0);
	assert_string_equal(out, " A B");
	uint16_t empty[3] = {0, 0, 0};
	strcpy(out, "x");
	assert_int_equal(metro_codec_decode_str(&p, empty, 3, out, sizeof out), 0);
	assert_string_equal(out, "");
	assert_int_equal(metro_codec_encode_str(&p, "AB", sp, 3), 0);
	assert_int_equal(sp[0], 0x4142);
	assert_int_equal(sp[1], 0x0000);
	assert_int_equal(sp[2], 0x0000);

	/* bytes that are not printable ASCII */
	uint16_t ctl[3] = {0x4101, 0x4141, 0x4141};
	strcpy(out, "keep");
	assert_int_equal(metro_codec_decode_str(&p, ctl, 3, out, sizeof out), METRO_E_RANGE);
	assert_string_equal(out, "keep");
	uint16_t hi[3] = {0x41c3, 0xa941, 0x4141};
	assert_int_equal(metro_codec_decode_str(&p, hi, 3, out, sizeof out), METRO_E_RANGE);
	uint16_t del[3] = {0x417f, 0x4141, 0x4141};
	assert_int_equal(metro_codec_decode_str(&p, del, 3, out, sizeof out), METRO_E_RANGE);
	uint16_t keep[3] = {1, 2, 3};
	memcpy(sp, keep, sizeof sp);
	assert_int_equal(metro_codec_encode_str(&p, "ABCDEFG", sp, 3), METRO_E_RANGE);
	assert_int_equal(metro_codec_encode_str(&p, "AB\tC", sp, 3), METRO_E_RANGE);
	assert_int_equal(metro_codec_encode_str(&p, "caf\xc3\xa9", sp, 3), METRO_E_RANGE);
	assert_memory_equal(sp, keep, sizeof sp);
	assert_int_equal(metro_codec_encode_str(&p, "ABCDEF", sp, 3), 0); /* exactly full */
	assert_int_equal(metro_codec_decode_str(&p, sp, 3, out, 7), 0);
	assert_string_equal(out, "ABCDEF");

	/* random round trips, every length and order; trailing spaces are trimmed by design */
	rng_seed(5);
	static const unsigned lens[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 49, 120, 239, 240};
	for (unsigned li = 0; li < sizeof lens / sizeof lens[0]; li++) {
		unsigned len = lens[li];
		for (unsigned oi = 0; oi < 4; oi++) {
			struct metro_codec s = strcodec(len, all_orders[oi]);
			size_t n = metro_codec_type_words(METRO_CODEC_STRING, len);
			for (unsigned k = 0; k < 200; k++) {
				char in[METRO_CODEC_STR_MAX + 1];
				unsigned l = (unsigned)(rng() % (len + 1));
				for (unsigned j = 0; j < l; j++)
					in[j] = (char)(0x20 + rng() % 95);
				in[l] = '\0';
				while (l > 0 && in[l - 1] == ' ')
					in[--l] = '\0';
				assert_int_equal(metro_codec_encode_str(&s, in, regs, n), 0);
				assert_int_equal(metro_codec_decode_str(&s, regs, n, out, len + 1),
						 0);
				assert_string_equal(out, in);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_wrong_nregs),
		cmocka_unit_test(test_known_patterns),
		cmocka_unit_test(test_raw_sweep),
		cmocka_unit_test(test_value_sweep),
		cmocka_unit_test(test_sign_extension),
		cmocka_unit_test(test_u64_exactness),
		cmocka_unit_test(test_encode_overflow),
		cmocka_unit_test(test_float_specials),
		cmocka_unit_test(test_rounding),
		cmocka_unit_test(test_scale_offset),
		cmocka_unit_test(test_bits),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
