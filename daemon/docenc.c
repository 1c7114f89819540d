/* docenc.c — the short path for readings; see docenc.h. */
#include "docenc.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static char *reserve(struct metro_buf *b, size_t n);

void metro_buf_put(struct metro_buf *b, const char *s, size_t n)
{
	memcpy(reserve(b, n), s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* Digits of an unsigned number, most significant first; returns how many. */
static size_t utoa(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

void metro_buf_free(struct metro_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* "00" "01" .. "99" */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
				     "25262728293031323334353637383940414243444546474849"
				     "50515253545556575859606162636465666768697071727374"
				     "75767778798081828384858687888990919293949596979899";

/* The n lowest decimal digits of v (n <= 8) into out[0..n-1], two at a time. */
static inline void put_digits32(char *out, uint32_t v, int n)
{
	while (n >= 2) {
		uint32_t pair = v % 100;
		v /= 100;
		n -= 2;
		memcpy(out + n, digit_pairs + 2 * pair, 2);
	}
	if (n)
		out[0] = (char)('0' + v % 10);
}

/* The n lowest decimal digits of v (n <= 16) into out[0..n-1]. */
static inline void put_digits(char *out, uint64_t v, int n)
{
	if (n > 8) {
		put_digits32(out + n - 8, (uint32_t)(v % 100000000), 8);
		put_digits32(out, (uint32_t)(v / 100000000), n - 8);
	} else {
		put_digits32(out, (uint32_t)v, n);
	}
}

typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {1ULL,
				       10ULL,
				       100ULL,
				       1000ULL,
				       10000ULL,
				       100000ULL,
				       1000000ULL,
				       10000000ULL,
				       100000000ULL,
				       1000000000ULL,
				       10000000000ULL,
				       100000000000ULL,
				       1000000000000ULL,
				       10000000000000ULL,
				       100000000000000ULL,
				       1000000000000000ULL,
				       10000000000000000ULL,
				       100000000000000000ULL,
				       1000000000000000000ULL,
				       10000000000000000000ULL};

static u128 pow10_u128(int k)
{
	return k <= 19 ? (u128)pow10_u64[k] : (u128)pow10_u64[19] * pow10_u64[k - 19];
}

/* The 12 significant digits of |v| for decimal exponent x (|v| ~ D * 10^(x-11)), exactly
 * rounded to nearest, ties to even, as glibc's printf rounds.  |v| = m * 2^q, m < 2^53.
 * The caller keeps x within [-11, 16], where every intermediate fits in 127 bits.  The
 * common case (x <= 11: a multiplication by a power of ten and a shift) does no division. */
static inline uint64_t digits12(uint64_t m, int q, int x)
{
	int k = 11 - x;
	u128 d, rem, den;
	if (k >= 0) {
		u128 num = (u128)m * pow10_u128(k);
		if (q >= 0)
			return (uint64_t)(num << q); /* an integer: exact */
		d = num >> -q;
		rem = num & (((u128)1 << -q) - 1);
		den = (u128)1 << -q;
	} else {
		u128 num = m;
		den = pow10_u128(-k);
		if (q >= 0)
			num <<= q;
		else
			den <<= -q;
		d = num / den;
		rem = num % den;
	}
	if (2 * rem > den || (2 * rem == den && (d & 1)))
		d++;
	return (uint64_t)d;
}

/* 10^-11 .. 10^16 as doubles, for the first guess of the decimal exponent (the digits are
 * checked afterwards, so an inexact negative power cannot make a wrong result). */
static double pow10_double(int x)
{
	static const double t[] = {1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2,
				   1e-1,  1e0,	 1e1,  1e2,  1e3,  1e4,	 1e5,  1e6,  1e7,  1e8,
				   1e9,	  1e10,	 1e11, 1e12, 1e13, 1e14, 1e15, 1e16};
	return t[x + 11];
}

size_t metro_fmt_real(double v, char out[METRO_REAL_MAX])
{
	if (!isfinite(v))
		return 0;
	double a = fabs(v);
	if (a != 0 && (a < 1e-9 || a >= 1e15)) {
		/* rare in readings: the C library's digits, in jansson's form */
		json_t *arr = json_pack("[f]", v);
		char *s = arr ? json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
		json_decref(arr);
		size_t n = 0;
		if (s && strlen(s) >= 2 && strlen(s) - 2 < METRO_REAL_MAX) {
			n = strlen(s) - 2;
			memcpy(out, s + 1, n);
			out[n] = '\0';
		}
		free(s);
		return n;
	}
	char *o = out;
	if (signbit(v))
		*o++ = '-';
	if (a == 0) {
		memcpy(o, "0.0", 4);
		return (size_t)(o - out) + 3;
	}
	/* a normal double (the fast range has no subnormals): a = m * 2^q, 2^52 <= m < 2^53,
	 * and a lies in [2^(e2-1), 2^e2) */
	uint64_t bits;
	memcpy(&bits, &a, sizeof bits);
	uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	int q = (int)(bits >> 52) - 1075;
	int e2 = q + 53;
	/* a lies in [2^(e2-1), 2^e2): its decimal exponent is floor((e2-1) log10 2) or one more
	 * (1233 / 4096 is log10 2 to within 1e-5, exact enough for |e2| < 100) */
	int x = (e2 - 1) * 1233;
	x = x >= 0 ? x / 4096 : -((-x + 4095) / 4096);
	if (x < 16 && a >= pow10_double(x + 1))
		x++;
	uint64_t d = digits12(m, q, x);
	/* log10 may be one off near powers of ten, and rounding may carry to 13 digits: in
	 * either case take the digits again at the right exponent, from the exact value */
	while (d < 100000000000ULL || d >= 1000000000000ULL) {
		x += d < 100000000000ULL ? -1 : 1;
		d = digits12(m, q, x);
	}
	/* strip the trailing zeros: nd significant digits remain in d */
	int nd = 12;
	while (nd > 1 && d % 10 == 0) {
		d /= 10;
		nd--;
	}
	if (x < -4 || x >= 12) {
		/* d.ddde[-]x: jansson drops the '+' and the exponent's leading zeros */
		if (nd > 1) {
			put_digits(o + 2, d % pow10_u64[nd - 1], nd - 1);
			o[1] = '.';
			o[0] = (char)('0' + d / pow10_u64[nd - 1]);
			o += nd + 1;
		} else {
			*o++ = (char)('0' + d);
		}
		*o++ = 'e';
		if (x < 0)
			*o++ = '-';
		o += utoa((uint64_t)(x < 0 ? -x : x), o);
	} else if (x >= 0) {
		int ni = x + 1; /* integer digits */
		if (nd > ni) {
			uint64_t p = pow10_u64[nd - ni];
			put_digits(o, d / p, ni);
			o[ni] = '.';
			put_digits(o + ni + 1, d % p, nd - ni);
			o += nd + 1;
		} else {
			put_digits(o, d * pow10_u64[ni - nd], ni);
			o += ni;
			*o++ = '.';
			*o++ = '0'; /* jansson's ".0": a real stays a real */
		}
	} else {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -x - 1; i++)
			*o++ = '0';
		put_digits(o, d, nd);
		o += nd;
	}
	*o = '\0';
	return (size_t)(o - out);
}

char *metro_json_quote(const char *s)
{
	json_t *j = json_string(s);
	char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	json_decref(j);
	return q ? q : metro_strdup("\"\"");
}

void metro_reading_enc_init(struct metro_reading_enc *e, const char *const *names, size_t n)
{
	memset(e, 0, sizeof *e);
	e->n = n;
	e->keys = metro_calloc(n ? n : 1, sizeof *e->keys);
	e->klen = metro_calloc(n ? n : 1, sizeof *e->klen);
	for (size_t i = 0; i < n; i++) {
		char *q = metro_json_quote(names[i]);
		e->keys[i] = metro_asprintf("%s:", q);
		e->klen[i] = strlen(e->keys[i]);
		e->max += e->klen[i] + METRO_REAL_MAX + 1;
		free(q);
	}
	e->max += 96; /* "tick", "read_ns", two integers, "values" and the braces */
}

/* Room for n more bytes and the NUL; returns where they go. */
static char *reserve(struct metro_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = metro_realloc(b->p, cap);
		b->cap = cap;
	}
	return b->p + b->len;
}

#define COPY_LIT(o, lit) (memcpy((o), (lit), sizeof(lit) - 1), (o) += sizeof(lit) - 1)

/* A signed integer's decimal text at o (at most 20 characters); returns the end. */
static char *put_int(char *o, int64_t v)
{
	uint64_t u = (uint64_t)v;
	if (v < 0) {
		*o++ = '-';
		u = 0 - u;
	}
	if (u >= pow10_u64[16])
		return o + utoa(u, o);
	int n = 1;
	while (n < 16 && u >= pow10_u64[n])
		n++;
	put_digits(o, u, n);
	return o + n;
}

const char *metro_reading_encode(struct metro_reading_enc *e, uint64_t tick, int64_t read_ns,
				 const double *values, size_t *len)
{
	struct metro_buf *b = &e->buf;
	b->len = 0;
	char *o = reserve(b, e->max);
	COPY_LIT(o, "\"tick\":");
	o = put_int(o, (int64_t)tick);
	COPY_LIT(o, ",\"read_ns\":");
	o = put_int(o, read_ns);
	COPY_LIT(o, ",\"values\":{");
	char *first = o;
	for (size_t i = 0; i < e->n; i++) {
		char num[METRO_REAL_MAX];
		size_t nl = metro_fmt_real(values[i], num);
		if (!nl)
			continue;
		if (o != first)
			*o++ = ',';
		memcpy(o, e->keys[i], e->klen[i]);
		o += e->klen[i];
		memcpy(o, num, nl);
		o += nl;
	}
	*o++ = '}';
	*o = '\0';
	b->len = (size_t)(o - b->p);
	*len = b->len;
	return b->p;
}

void metro_reading_enc_free(struct metro_reading_enc *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->keys[i]);
	free(e->keys);
	free(e->klen);
	metro_buf_free(&e->buf);
	memset(e, 0, sizeof *e);
}

void metro_stamp_init(struct metro_stamp *st, const char *station)
{
	memset(st, 0, sizeof *st);
	st->station_q = metro_json_quote(station);
	st->station_qlen = strlen(st->station_q);
	st->sec = -1;
}

const char *metro_stamp_document(struct metro_stamp *st, const char *kind, const char *rig_q,
				 int64_t seq, const char *body, size_t body_len, size_t *len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != st->sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(st->date, sizeof st->date, "%04d-%02d-%02dT%02d:%02d:%02d.",
			 (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
			 tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100);
		st->sec = ts.tv_sec;
	}
	size_t kl = strlen(kind), rl = strlen(rig_q);
	struct metro_buf *b = &st->buf;
	b->len = 0;
	char *o = reserve(b, 128 + kl + st->station_qlen + rl + body_len);
	COPY_LIT(o, "{\"schema\":\"metrod.");
	memcpy(o, kind, kl);
	o += kl;
	COPY_LIT(o, "/1\",\"station\":");
	memcpy(o, st->station_q, st->station_qlen);
	o += st->station_qlen;
	COPY_LIT(o, ",\"time\":\"");
	memcpy(o, st->date, 20);
	o += 20;
	put_digits(o, (uint64_t)(ts.tv_nsec / 1000), 6);
	o += 6;
	COPY_LIT(o, "Z\",\"rig\":");
	memcpy(o, rig_q, rl);
	o += rl;
	COPY_LIT(o, ",\"seq\":");
	o = put_int(o, seq);
	*o++ = ',';
	memcpy(o, body, body_len);
	o += body_len;
	*o++ = '}';
	*o = '\0';
	b->len = (size_t)(o - b->p);
	*len = b->len;
	return b->p;
}

void metro_stamp_free(struct metro_stamp *st)
{
	free(st->station_q);
	metro_buf_free(&st->buf);
	memset(st, 0, sizeof *st);
}
