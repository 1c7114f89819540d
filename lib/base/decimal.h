/* decimal.h — exact numbers for the metrology arithmetic.
 *
 * Every quantity a verifier types or a procedure file holds is a decimal string ("0.025",
 * "-0.075", "101.325").  Binary floating point cannot hold most of them (0.1 is not a double),
 * so a tie like 0.25 / 0.05 or a boundary like 1.6 × 0.025 == 0.04 comes out wrong in double.
 * A struct metro_dec holds a number exactly as the fraction num/den of two 128-bit integers:
 * every decimal with up to 38 significant digits is exact, and so is every sum, difference,
 * product and quotient of such numbers as long as the reduced fraction fits.  That covers the
 * error formulas of the regulations (volumetric, gravimetric with a given density, pulse method,
 * bell prover), which are rational functions of their decimal inputs: their results are exact
 * and can be rounded and compared without any tolerance.
 *
 * Overflow does not wrap and does not abort: an operation whose result does not fit returns the
 * invalid value (like a NaN, it propagates through later operations), and the caller checks
 * metro_dec_valid() once at the end and reports METRO_E_RANGE.  Division by zero gives the
 * invalid value too.
 *
 * A zero-initialised struct metro_dec ({0, 0}) is the number 0, so optional inputs in a
 * zero-initialised struct read as zero.  The invalid value is {1, 0}.
 *
 * Values are passed and returned by value (32 bytes); there are no globals and no allocation.
 */
#ifndef METRO_DECIMAL_H
#define METRO_DECIMAL_H

#include <stddef.h>

struct metro_dec {
	__int128 num; /* sign lives here */
	__int128 den; /* > 0 and coprime with num; 0 for the zero value {0,0} and invalid {1,0} */
};

/* Most significant digits a parsed decimal may have, and the largest power of ten used. */
#define METRO_DEC_MAX_DIGITS 38
/* Most fractional digits metro_dec_format() writes. */
#define METRO_DEC_MAX_PLACES 40

/* coef × 10^exp10, exactly; the invalid value when it does not fit (|exp10| > 38). */
struct metro_dec metro_dec_e(long long coef, int exp10);

/* The invalid value. */
struct metro_dec metro_dec_invalid(void);

/* Parse a whole string as a decimal: optional sign, digits with at most one '.', at least one
 * digit, optional exponent (e/E, optional sign, at most 4 digits).  No spaces, no "inf"/"nan", no
 * hex, nothing after the number.  Returns METRO_OK and *out, METRO_E_INVAL for bad syntax
 * (*out untouched) or METRO_E_RANGE when the value has more than 38 significant digits or its
 * scale is out of reach (*out untouched). */
int metro_dec_parse(const char *s, struct metro_dec *out);
/* Same for the first len bytes of s (s need not be terminated). */
int metro_dec_parsen(const char *s, size_t len, struct metro_dec *out);

/* Nonzero when a is a number (not the invalid value). */
int metro_dec_valid(struct metro_dec a);

/* Arithmetic.  Each returns the invalid value when an operand is invalid, when the exact
 * result does not fit, or (metro_dec_div) when b is zero. */
struct metro_dec metro_dec_add(struct metro_dec a, struct metro_dec b);
struct metro_dec metro_dec_sub(struct metro_dec a, struct metro_dec b);
struct metro_dec metro_dec_mul(struct metro_dec a, struct metro_dec b);
struct metro_dec metro_dec_div(struct metro_dec a, struct metro_dec b);
struct metro_dec metro_dec_neg(struct metro_dec a);
struct metro_dec metro_dec_abs(struct metro_dec a);

/* -1, 0 or 1.  Precondition: a valid (the invalid value reports 1). */
int metro_dec_sign(struct metro_dec a);
/* -1, 0 or 1 as a < b, a == b, a > b, exactly (the cross products are formed in 256 bits, so
 * this never overflows).  Precondition: both valid. */
int metro_dec_cmp(struct metro_dec a, struct metro_dec b);
/* Nonzero when a is a valid integer. */
int metro_dec_is_int(struct metro_dec a);

/* Round a to a multiple of step (> 0), half to even, on the exact value: the magnitude |a|/step
 * is rounded to the nearest integer, an exact tie goes to the even one, and the sign of a is put
 * back (GB/T 8170).  Returns METRO_OK and *out; METRO_E_INVAL when a or step is invalid or step
 * is not positive; METRO_E_RANGE when the result does not fit. */
int metro_dec_round(struct metro_dec a, struct metro_dec step, struct metro_dec *out);
/* Smallest integer >= a (ceil) and largest integer <= a (floor); invalid in, invalid out. */
struct metro_dec metro_dec_ceil(struct metro_dec a);
struct metro_dec metro_dec_floor(struct metro_dec a);
/* *out = a when a is a valid integer within long long; METRO_E_RANGE otherwise. */
int metro_dec_to_ll(struct metro_dec a, long long *out);

/* Write a rounded half to even to `places` fractional digits (0..METRO_DEC_MAX_PLACES) as
 * "-12.345" into buf: no exponent, no '+', no sign when the rounded value is zero.  Returns
 * METRO_OK; METRO_E_INVAL for an invalid a or places out of range; METRO_E_RANGE when buf (size
 * bytes) is too small.  On error buf holds "" when size > 0. */
int metro_dec_format(struct metro_dec a, int places, char *buf, size_t size);
/* Like metro_dec_format with as many places as give `sig` (1..38) significant digits, then
 * without trailing zeros (and without a trailing '.'): "1.2", "16666.6666666667" (sig 15),
 * "0.025".  An exact value with at most sig significant digits is written exactly. */
int metro_dec_format_sig(struct metro_dec a, int sig, char *buf, size_t size);

/* The nearest double, roughly (two roundings); for display and for real-valued follow-on
 * arithmetic only, never for a judgement.  NaN for the invalid value. */
double metro_dec_to_double(struct metro_dec a);

#endif
