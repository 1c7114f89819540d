/* decimal.c — exact fractions of 128-bit integers; see decimal.h for the contract.
 *
 * Every value is kept reduced (gcd(num, den) == 1, den > 0), so equal numbers have equal
 * representations and the integers stay as small as the value allows.  The arithmetic works on
 * magnitudes in unsigned 128-bit integers (one bit more than the signed range, so sums of two
 * magnitudes and the negation of any stored numerator are safe) and the overflow builtins; a
 * result is stored only after a check that it fits the signed range.
 */
#include "decimal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "error.h"

typedef unsigned __int128 u128;
typedef __int128 i128;

#define I128_MAX ((i128)(((u128)1 << 127) - 1))

struct metro_dec metro_dec_invalid(void)
{
	struct metro_dec r = {1, 0};
	return r;
}

/* The zero-initialised struct is the number 0. */
static struct metro_dec fix(struct metro_dec a)
{
	if (a.den == 0 && a.num == 0)
		a.den = 1;
	return a;
}

/* Normalise both operands; nonzero when both are numbers. */
static int operands(struct metro_dec *a, struct metro_dec *b)
{
	*a = fix(*a);
	*b = fix(*b);
	return a->den > 0 && b->den > 0;
}

static u128 mag(i128 v)
{
	return v < 0 ? (u128)0 - (u128)v : (u128)v;
}

static u128 gcd(u128 a, u128 b)
{
	while (b) {
		u128 t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* sign·n/d reduced, d > 0; the invalid value when it does not fit the signed range. */
static struct metro_dec make(int neg, u128 n, u128 d)
{
	u128 g = gcd(n, d);
	n /= g;
	d /= g;
	if (n > (u128)I128_MAX || d > (u128)I128_MAX)
		return metro_dec_invalid();
	struct metro_dec r = {(i128)n, (i128)d};
	if (neg)
		r.num = -r.num;
	return r;
}

/* 10^e for 0 <= e <= 38 (10^38 < 2^127); 0 when e is larger.  Callers pass e >= 0. */
static int pow10u(long e, u128 *out)
{
	if (e > METRO_DEC_MAX_DIGITS)
		return 0;
	u128 p = 1;
	while (e-- > 0)
		p *= 10;
	*out = p;
	return 1;
}

struct metro_dec metro_dec_e(long long coef, int exp10)
{
	u128 p, n;
	u128 m = mag((i128)coef);
	if (exp10 >= 0) {
		if (!pow10u(exp10, &p) || __builtin_mul_overflow(m, p, &n))
			return metro_dec_invalid();
		return make(coef < 0, n, 1);
	}
	if (!pow10u(-(long)exp10, &p))
		return metro_dec_invalid();
	return make(coef < 0, m, p);
}

int metro_dec_parsen(const char *s, size_t len, struct metro_dec *out)
{
	size_t i = 0;
	int neg = 0, point = 0, ndig = 0, nsig = 0;
	long frac = 0, pending = 0, exp = 0;
	u128 coef = 0;

	if (i < len && (s[i] == '+' || s[i] == '-')) {
		neg = s[i] == '-';
		i++;
	}
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (point)
				return METRO_E_INVAL;
			point = 1;
			continue;
		}
		if (c < '0' || c > '9')
			break;
		ndig++;
		frac += point;
		if (c == '0') {
			/* Leading zeros do not count; inner and trailing ones wait until a
			 * nonzero digit shows they are inner (trailing ones only scale). */
			pending += nsig > 0;
			continue;
		}
		if (nsig + pending + 1 > METRO_DEC_MAX_DIGITS)
			return METRO_E_RANGE;
		for (; pending > 0; pending--, nsig++)
			coef *= 10;
		coef = coef * 10 + (u128)(c - '0');
		nsig++;
	}
	if (!ndig)
		return METRO_E_INVAL;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0, edig = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-')) {
			eneg = s[i] == '-';
			i++;
		}
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
			if (++edig > 4)
				return METRO_E_RANGE;
			exp = exp * 10 + (s[i] - '0');
		}
		if (!edig)
			return METRO_E_INVAL;
		if (eneg)
			exp = -exp;
	}
	if (i != len)
		return METRO_E_INVAL;

	/* value = coef × 10^scale, coef without trailing zeros */
	long scale = exp - frac + pending;
	struct metro_dec r = {0, 1};
	u128 p, n;
	if (coef == 0) {
		*out = r;
		return METRO_OK;
	}
	if (scale >= 0) {
		if (!pow10u(scale, &p) || __builtin_mul_overflow(coef, p, &n))
			return METRO_E_RANGE;
		r = make(neg, n, 1);
	} else {
		if (!pow10u(-scale, &p))
			return METRO_E_RANGE;
		r = make(neg, coef, p);
	}
	if (!metro_dec_valid(r))
		return METRO_E_RANGE;
	*out = r;
	return METRO_OK;
}

int metro_dec_parse(const char *s, struct metro_dec *out)
{
	return metro_dec_parsen(s, strlen(s), out);
}

int metro_dec_valid(struct metro_dec a)
{
	return fix(a).den > 0;
}

/* a + b, or a - b when negate_b. */
static struct metro_dec addsub(struct metro_dec a, struct metro_dec b, int negate_b)
{
	if (!operands(&a, &b))
		return metro_dec_invalid();
	int aneg = a.num < 0;
	int bneg = (b.num < 0) != (negate_b != 0);
	u128 ad = (u128)a.den, bd = (u128)b.den;
	u128 g = gcd(ad, bd);
	u128 x, y, d, s;
	if (__builtin_mul_overflow(mag(a.num), bd / g, &x) ||
	    __builtin_mul_overflow(mag(b.num), ad / g, &y) ||
	    __builtin_mul_overflow(ad / g, bd, &d))
		return metro_dec_invalid();
	if (aneg == bneg) {
		if (__builtin_add_overflow(x, y, &s))
			return metro_dec_invalid();
		return make(aneg, s, d);
	}
	if (x >= y)
		return make(aneg, x - y, d);
	return make(bneg, y - x, d);
}

struct metro_dec metro_dec_add(struct metro_dec a, struct metro_dec b)
{
	return addsub(a, b, 0);
}

struct metro_dec metro_dec_sub(struct metro_dec a, struct metro_dec b)
{
	return addsub(a, b, 1);
}

struct metro_dec metro_dec_mul(struct metro_dec a, struct metro_dec b)
{
	if (!operands(&a, &b))
		return metro_dec_invalid();
	u128 an = mag(a.num), bn = mag(b.num), ad = (u128)a.den, bd = (u128)b.den;
	/* Cancel across first, so that a product whose reduced form fits is never lost to an
	 * intermediate overflow. */
	u128 g1 = gcd(an, bd), g2 = gcd(bn, ad);
	u128 n, d;
	if (__builtin_mul_overflow(an / g1, bn / g2, &n) ||
	    __builtin_mul_overflow(ad / g2, bd / g1, &d))
		return metro_dec_invalid();
	return make((a.num < 0) != (b.num < 0), n, d);
}

struct metro_dec metro_dec_div(struct metro_dec a, struct metro_dec b)
{
	if (!operands(&a, &b) || b.num == 0)
		return metro_dec_invalid();
	/* 1/b keeps the sign in the numerator. */
	struct metro_dec inv = {b.num < 0 ? -b.den : b.den, (i128)mag(b.num)};
	return metro_dec_mul(a, inv);
}

/* Negating the invalid value {1,0} gives {-1,0}, still invalid: no test needed. */
struct metro_dec metro_dec_neg(struct metro_dec a)
{
	a = fix(a);
	a.num = -a.num;
	return a;
}

struct metro_dec metro_dec_abs(struct metro_dec a)
{
	a = fix(a);
	if (a.num < 0)
		a.num = -a.num;
	return a;
}

int metro_dec_sign(struct metro_dec a)
{
	return (a.num > 0) - (a.num < 0);
}

/* The 256-bit product a·b as hi·2^128 + lo, from four 64×64-bit partial products. */
static void mul_wide(u128 a, u128 b, u128 *hi, u128 *lo)
{
	const u128 m64 = ((u128)1 << 64) - 1;
	u128 a0 = a & m64, a1 = a >> 64, b0 = b & m64, b1 = b >> 64;
	u128 p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
	u128 mid = (p00 >> 64) + (p01 & m64) + (p10 & m64); /* < 3·2^64: no overflow */
	*lo = (p00 & m64) | (mid << 64);
	*hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
}

int metro_dec_cmp(struct metro_dec a, struct metro_dec b)
{
	a = fix(a);
	b = fix(b);
	int sa = metro_dec_sign(a), sb = metro_dec_sign(b);
	if (sa != sb)
		return (sa > sb) - (sa < sb);
	/* Same sign: compare |a|·den(b) with |b|·den(a) in 256 bits. */
	u128 h1, l1, h2, l2;
	mul_wide(mag(a.num), (u128)b.den, &h1, &l1);
	mul_wide(mag(b.num), (u128)a.den, &h2, &l2);
	int c = (h1 > h2) - (h1 < h2);
	if (!c)
		c = (l1 > l2) - (l1 < l2);
	return sa < 0 ? -c : c;
}

int metro_dec_is_int(struct metro_dec a)
{
	return fix(a).den == 1;
}

int metro_dec_round(struct metro_dec a, struct metro_dec step, struct metro_dec *out)
{
	if (!operands(&a, &step) || step.num <= 0)
		return METRO_E_INVAL;
	/* One exact division and one integer rounding: never rounded in stages. */
	struct metro_dec q = metro_dec_div(a, step);
	if (q.den <= 0) /* invalid: division results are never the zero-initialised {0, 0} */
		return METRO_E_RANGE;
	u128 m = mag(q.num), d = (u128)q.den;
	u128 k = m / d, r = m % d;
	/* r/d against 1/2 without forming 2r (which could overflow): r vs d - r. */
	if (r > d - r || (r == d - r && (k & 1)))
		k++;
	struct metro_dec res = metro_dec_mul(make(q.num < 0, k, 1), step);
	if (!metro_dec_valid(res))
		return METRO_E_RANGE;
	*out = res;
	return METRO_OK;
}

struct metro_dec metro_dec_floor(struct metro_dec a)
{
	a = fix(a);
	if (a.den <= 0)
		return metro_dec_invalid();
	u128 m = mag(a.num), d = (u128)a.den;
	u128 k = m / d;
	if (a.num < 0 && m % d)
		k++;
	return make(a.num < 0, k, 1);
}

struct metro_dec metro_dec_ceil(struct metro_dec a)
{
	return metro_dec_neg(metro_dec_floor(metro_dec_neg(a)));
}

int metro_dec_to_ll(struct metro_dec a, long long *out)
{
	a = fix(a);
	if (a.den != 1 || a.num > LLONG_MAX || a.num < LLONG_MIN)
		return METRO_E_RANGE;
	*out = (long long)a.num;
	return METRO_OK;
}

int metro_dec_format(struct metro_dec a, int places, char *buf, size_t size)
{
	/* 39 integer digits, a carry digit, the fraction, sign, point, NUL */
	char dig[40 + METRO_DEC_MAX_PLACES + 1];
	char tmp[sizeof dig + 3];
	int n = 0, nint = 0;

	if (size)
		buf[0] = '\0';
	a = fix(a);
	if (a.den <= 0 || places < 0 || places > METRO_DEC_MAX_PLACES)
		return METRO_E_INVAL;
	u128 m = mag(a.num), d = (u128)a.den;
	u128 ip = m / d, r = m % d;

	char rev[40];
	do {
		rev[nint++] = (char)('0' + (int)(ip % 10));
		ip /= 10;
	} while (ip);
	for (int i = nint - 1; i >= 0; i--)
		dig[n++] = rev[i];
	for (int p = 0; p < places; p++) {
		/* Next digit floor(10r/d) and remainder 10r mod d by ten additions of r modulo
		 * d: acc and r stay below d <= 2^127, so nothing overflows. */
		u128 acc = 0;
		int digit = 0;
		for (int k = 0; k < 10; k++) {
			if (acc >= d - r) {
				acc -= d - r;
				digit++;
			} else {
				acc += r;
			}
		}
		dig[n++] = (char)('0' + digit);
		r = acc;
	}
	/* Half to even on what is left (r/d of one unit in the last place). */
	if (r > d - r || (r == d - r && ((dig[n - 1] - '0') & 1))) {
		int i = n - 1;
		while (i >= 0 && dig[i] == '9')
			dig[i--] = '0';
		if (i < 0) {
			memmove(dig + 1, dig, (size_t)n);
			dig[0] = '1';
			n++;
			nint++;
		} else {
			dig[i]++;
		}
	}
	int nonzero = 0;
	for (int i = 0; i < n; i++)
		nonzero |= dig[i] != '0';
	size_t len = 0;
	if (a.num < 0 && nonzero)
		tmp[len++] = '-';
	memcpy(tmp + len, dig, (size_t)nint);
	len += (size_t)nint;
	if (places > 0) {
		tmp[len++] = '.';
		memcpy(tmp + len, dig + nint, (size_t)places);
		len += (size_t)places;
	}
	if (len + 1 > size)
		return METRO_E_RANGE;
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return METRO_OK;
}

int metro_dec_format_sig(struct metro_dec a, int sig, char *buf, size_t size)
{
	char full[40 + METRO_DEC_MAX_PLACES + 4];
	if (size)
		buf[0] = '\0';
	if (sig < 1 || sig > METRO_DEC_MAX_DIGITS ||
	    metro_dec_format(a, METRO_DEC_MAX_PLACES, full, sizeof full))
		return METRO_E_INVAL;
	/* Where is the first significant digit?  The 40-place rendering is only used to find
	 * it; the digits written come from one rounding of the exact value below. */
	const char *p = full + (full[0] == '-');
	const char *point = strchr(p, '.');
	const char *first = p + strspn(p, "0.");
	int places;
	if (*first == '\0')
		places = 0; /* zero */
	else if (first < point)
		places = sig - (int)(point - first);
	else
		places = (int)(first - point) + sig - 1;
	if (places < 0)
		places = 0;
	if (places > METRO_DEC_MAX_PLACES)
		places = METRO_DEC_MAX_PLACES;
	int err = metro_dec_format(a, places, buf, size);
	if (err)
		return err;
	char *dot = strchr(buf, '.');
	if (dot) {
		char *end = buf + strlen(buf);
		while (end[-1] == '0')
			*--end = '\0';
		if (end[-1] == '.')
			end[-1] = '\0';
	}
	return METRO_OK;
}

double metro_dec_to_double(struct metro_dec a)
{
	a = fix(a);
	if (a.den <= 0)
		return NAN;
	return (double)a.num / (double)a.den;
}
