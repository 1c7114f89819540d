/* codec.c — the Modbus register codec; the rules are documented in codec.h.
 *
 * Every multi-register value goes through one 64-bit unsigned "raw image": gather() assembles
 * it from the registers according to the order, scatter() is its exact inverse.  Types are
 * then interpreted from the image with memcpy (floats) or explicit arithmetic (sign
 * extension), never with pointer casts or shifts of negative numbers, so the code is free of
 * aliasing, alignment and signed-shift undefined behaviour.
 */
#include "codec.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "error.h"

static const char *const type_names[METRO_CODEC_NTYPES] = {
	[METRO_CODEC_U16] = "u16",	 [METRO_CODEC_I16] = "i16", [METRO_CODEC_U32] = "u32",
	[METRO_CODEC_I32] = "i32",	 [METRO_CODEC_U64] = "u64", [METRO_CODEC_I64] = "i64",
	[METRO_CODEC_F32] = "f32",	 [METRO_CODEC_F64] = "f64", [METRO_CODEC_BITS] = "bits",
	[METRO_CODEC_STRING] = "string",
};

static const char *const order_names[METRO_CODEC_NORDERS] = {
	[METRO_CODEC_ABCD] = "ABCD",
	[METRO_CODEC_CDAB] = "CDAB",
	[METRO_CODEC_BADC] = "BADC",
	[METRO_CODEC_DCBA] = "DCBA",
};

/* 2^53, 2^63 and 2^64 as doubles: the limits used for exactness and range checks.  They are
 * written as products so no reader has to count digits. */
#define TWO_53 9007199254740992.0
#define TWO_63 (TWO_53 * 1024.0)
#define TWO_64 (TWO_63 * 2.0)

void metro_codec_init(struct metro_codec *c, enum metro_codec_type type,
		      enum metro_codec_order order)
{
	memset(c, 0, sizeof *c);
	c->type = type;
	c->order = order;
	c->scale = 1.0;
	c->offset = 0.0;
}

int metro_codec_check(const struct metro_codec *c)
{
	if (!c || (unsigned)c->type >= METRO_CODEC_NTYPES ||
	    (unsigned)c->order >= METRO_CODEC_NORDERS)
		return METRO_E_INVAL;
	if (c->type == METRO_CODEC_BITS) {
		if (c->bit_width < 1 || c->bit_width > 16 || c->bit_offset > 15 ||
		    c->bit_offset + c->bit_width > 16)
			return METRO_E_INVAL;
	} else if (c->bit_offset || c->bit_width) {
		return METRO_E_INVAL;
	}
	if (c->type == METRO_CODEC_STRING) {
		if (c->str_len < 1 || c->str_len > METRO_CODEC_STR_MAX)
			return METRO_E_INVAL;
	} else if (c->str_len) {
		return METRO_E_INVAL;
	}
	if (!isfinite(c->scale) || c->scale == 0.0 || !isfinite(c->offset))
		return METRO_E_INVAL;
	return METRO_OK;
}

int metro_codec_parse_type(const char *name, enum metro_codec_type *out)
{
	if (!name)
		return METRO_E_INVAL;
	for (unsigned i = 0; i < METRO_CODEC_NTYPES; i++) {
		if (!strcmp(name, type_names[i])) {
			*out = (enum metro_codec_type)i;
			return METRO_OK;
		}
	}
	return METRO_E_INVAL;
}

int metro_codec_parse_order(const char *name, enum metro_codec_order *out)
{
	if (!name)
		return METRO_E_INVAL;
	for (unsigned i = 0; i < METRO_CODEC_NORDERS; i++) {
		if (!strcmp(name, order_names[i])) {
			*out = (enum metro_codec_order)i;
			return METRO_OK;
		}
	}
	return METRO_E_INVAL;
}

const char *metro_codec_type_name(enum metro_codec_type type)
{
	return (unsigned)type < METRO_CODEC_NTYPES ? type_names[type] : "?";
}

const char *metro_codec_order_name(enum metro_codec_order order)
{
	return (unsigned)order < METRO_CODEC_NORDERS ? order_names[order] : "?";
}

unsigned metro_codec_type_words(enum metro_codec_type type, unsigned str_len)
{
	switch (type) {
	case METRO_CODEC_U16:
	case METRO_CODEC_I16:
	case METRO_CODEC_BITS:
		return 1;
	case METRO_CODEC_U32:
	case METRO_CODEC_I32:
	case METRO_CODEC_F32:
		return 2;
	case METRO_CODEC_U64:
	case METRO_CODEC_I64:
	case METRO_CODEC_F64:
		return 4;
	case METRO_CODEC_STRING:
		if (str_len < 1 || str_len > METRO_CODEC_STR_MAX)
			return 0;
		return (str_len + 1) / 2;
	}
	return 0;
}

static int word_swapped(enum metro_codec_order o)
{
	return o == METRO_CODEC_CDAB || o == METRO_CODEC_DCBA;
}

static int byte_swapped(enum metro_codec_order o)
{
	return o == METRO_CODEC_BADC || o == METRO_CODEC_DCBA;
}

static uint16_t bswap16(uint16_t r)
{
	return (uint16_t)((r >> 8) | ((r & 0xffu) << 8));
}

/* The raw image of an n-register value (n = 1, 2 or 4), most significant register first. */
static uint64_t gather(const uint16_t *regs, unsigned n, enum metro_codec_order o)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++) {
		uint16_t r = regs[word_swapped(o) ? n - 1 - i : i];
		if (byte_swapped(o))
			r = bswap16(r);
		v = (v << 16) | r;
	}
	return v;
}

/* The exact inverse of gather(). */
static void scatter(uint64_t v, uint16_t *regs, unsigned n, enum metro_codec_order o)
{
	for (unsigned i = n; i-- > 0;) {
		uint16_t r = (uint16_t)(v & 0xffffu);
		v >>= 16;
		if (byte_swapped(o))
			r = bswap16(r);
		regs[word_swapped(o) ? n - 1 - i : i] = r;
	}
}

/* Two's-complement interpretation of the low 'bits' bits of v, without relying on the
 * implementation-defined conversion of out-of-range unsigned values to signed types. */
static int64_t sign_extend(uint64_t v, unsigned bits)
{
	uint64_t sign = (uint64_t)1 << (bits - 1);
	if (!(v & sign))
		return (int64_t)v;
	/* v - 2^bits, computed as -(complement) - 1 so no intermediate overflows. */
	uint64_t mask = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
	return -(int64_t)((~v) & mask) - 1;
}

/* Checks shared by every numeric entry point: a valid codec, not a string, and the right
 * number of registers. */
static int check_numeric(const struct metro_codec *c, const void *regs, size_t nregs)
{
	int err = metro_codec_check(c);
	if (err)
		return err;
	if (c->type == METRO_CODEC_STRING || !regs || nregs != metro_codec_type_words(c->type, 0))
		return METRO_E_INVAL;
	return METRO_OK;
}

static uint16_t field_mask(const struct metro_codec *c)
{
	return (uint16_t)((((uint32_t)1 << c->bit_width) - 1) << c->bit_offset);
}

int metro_codec_decode_raw(const struct metro_codec *c, const uint16_t *regs, size_t nregs,
			   struct metro_codec_raw *out)
{
	int err = check_numeric(c, regs, nregs);
	if (err)
		return err;
	if (!out)
		return METRO_E_INVAL;
	uint64_t v = gather(regs, (unsigned)nregs, c->order);
	struct metro_codec_raw r;
	switch (c->type) {
	case METRO_CODEC_U16:
	case METRO_CODEC_U32:
	case METRO_CODEC_U64:
		r.kind = METRO_CODEC_RAW_UINT;
		r.u = v;
		break;
	case METRO_CODEC_BITS:
		r.kind = METRO_CODEC_RAW_UINT;
		r.u = (v & field_mask(c)) >> c->bit_offset;
		break;
	case METRO_CODEC_I16:
		r.kind = METRO_CODEC_RAW_INT;
		r.i = sign_extend(v, 16);
		break;
	case METRO_CODEC_I32:
		r.kind = METRO_CODEC_RAW_INT;
		r.i = sign_extend(v, 32);
		break;
	case METRO_CODEC_I64:
		r.kind = METRO_CODEC_RAW_INT;
		r.i = sign_extend(v, 64);
		break;
	case METRO_CODEC_F32: {
		uint32_t bits = (uint32_t)v;
		float f;
		memcpy(&f, &bits, sizeof f);
		r.kind = METRO_CODEC_RAW_FLOAT;
		r.f = (double)f;
		break;
	}
	case METRO_CODEC_F64:
		r.kind = METRO_CODEC_RAW_FLOAT;
		memcpy(&r.f, &v, sizeof r.f);
		break;
	default:
		return METRO_E_INVAL;
	}
	*out = r;
	return METRO_OK;
}

/* The raw value as a double, or METRO_E_RANGE when that is not exact or not finite. */
static int raw_to_double(const struct metro_codec_raw *r, double *out)
{
	double d;
	switch (r->kind) {
	case METRO_CODEC_RAW_UINT:
		d = (double)r->u;
		/* (double)UINT64_MAX rounds up to 2^64, which has no uint64_t; test before the
		 * conversion back so that conversion is always defined. */
		if (d >= TWO_64 || (uint64_t)d != r->u)
			return METRO_E_RANGE;
		break;
	case METRO_CODEC_RAW_INT:
		d = (double)r->i;
		if (d >= TWO_63 || (int64_t)d != r->i)
			return METRO_E_RANGE;
		break;
	case METRO_CODEC_RAW_FLOAT:
		d = r->f;
		if (!isfinite(d))
			return METRO_E_RANGE;
		break;
	default:
		return METRO_E_INVAL;
	}
	*out = d;
	return METRO_OK;
}

int metro_codec_decode(const struct metro_codec *c, const uint16_t *regs, size_t nregs, double *out)
{
	struct metro_codec_raw r;
	int err = metro_codec_decode_raw(c, regs, nregs, &r);
	if (err)
		return err;
	double raw;
	err = raw_to_double(&r, &raw);
	if (err)
		return err;
	/* One rounding instead of two: with scale 0.1 and raw 123 this gives the double nearest
	 * 12.3, which encode maps back to 123.  Without an offset we skip the addition, because
	 * -0.0 + 0.0 is +0.0 and a float register's negative zero should read as written. */
	double v = c->offset == 0.0 ? raw * c->scale : fma(raw, c->scale, c->offset);
	if (!isfinite(v))
		return METRO_E_RANGE;
	*out = v;
	return METRO_OK;
}

/* Write the raw image of a value, or only the field of a bit field. */
static void store(const struct metro_codec *c, uint64_t v, uint16_t *regs, size_t nregs)
{
	if (c->type == METRO_CODEC_BITS) {
		uint16_t cur = byte_swapped(c->order) ? bswap16(regs[0]) : regs[0];
		uint16_t m = field_mask(c);
		cur = (uint16_t)((cur & (uint16_t)~m) | ((v << c->bit_offset) & m));
		regs[0] = byte_swapped(c->order) ? bswap16(cur) : cur;
		return;
	}
	scatter(v, regs, (unsigned)nregs, c->order);
}

/* Largest raw value of an unsigned type and the range of a signed one. */
static uint64_t umax_of(const struct metro_codec *c)
{
	switch (c->type) {
	case METRO_CODEC_U16:
		return UINT16_MAX;
	case METRO_CODEC_U32:
		return UINT32_MAX;
	case METRO_CODEC_BITS:
		return ((uint64_t)1 << c->bit_width) - 1;
	default:
		return UINT64_MAX;
	}
}

static int bits_of_signed(enum metro_codec_type t)
{
	return t == METRO_CODEC_I16 ? 16 : t == METRO_CODEC_I32 ? 32 : 64;
}

static int is_signed_int(enum metro_codec_type t)
{
	return t == METRO_CODEC_I16 || t == METRO_CODEC_I32 || t == METRO_CODEC_I64;
}

static int is_float(enum metro_codec_type t)
{
	return t == METRO_CODEC_F32 || t == METRO_CODEC_F64;
}

/* Two's-complement image of a signed value in the low 'bits' bits. */
static uint64_t signed_image(int64_t i, int bits)
{
	uint64_t u = i < 0 ? ~(uint64_t)(-(i + 1)) : (uint64_t)i;
	return bits == 64 ? u : u & (((uint64_t)1 << bits) - 1);
}

static int f32_image(double d, uint64_t *img)
{
	if (isfinite(d) && fabs(d) > FLT_MAX)
		return METRO_E_RANGE;
	float f = (float)d;
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	*img = bits;
	return METRO_OK;
}

int metro_codec_encode_raw(const struct metro_codec *c, const struct metro_codec_raw *raw,
			   uint16_t *regs, size_t nregs)
{
	int err = check_numeric(c, regs, nregs);
	if (err)
		return err;
	if (!raw)
		return METRO_E_INVAL;
	uint64_t img;
	if (is_float(c->type)) {
		if (raw->kind != METRO_CODEC_RAW_FLOAT)
			return METRO_E_INVAL;
		if (c->type == METRO_CODEC_F64) {
			memcpy(&img, &raw->f, sizeof img);
		} else {
			err = f32_image(raw->f, &img);
			if (err)
				return err;
		}
	} else if (raw->kind == METRO_CODEC_RAW_FLOAT) {
		return METRO_E_INVAL;
	} else if (is_signed_int(c->type)) {
		int bits = bits_of_signed(c->type);
		int64_t lo = bits == 64 ? INT64_MIN : -((int64_t)1 << (bits - 1));
		int64_t hi = bits == 64 ? INT64_MAX : ((int64_t)1 << (bits - 1)) - 1;
		int64_t i;
		if (raw->kind == METRO_CODEC_RAW_UINT) {
			if (raw->u > (uint64_t)hi)
				return METRO_E_RANGE;
			i = (int64_t)raw->u;
		} else {
			i = raw->i;
		}
		if (i < lo || i > hi)
			return METRO_E_RANGE;
		img = signed_image(i, bits);
	} else {
		uint64_t u;
		if (raw->kind == METRO_CODEC_RAW_INT) {
			if (raw->i < 0)
				return METRO_E_RANGE;
			u = (uint64_t)raw->i;
		} else {
			u = raw->u;
		}
		if (u > umax_of(c))
			return METRO_E_RANGE;
		img = u;
	}
	store(c, img, regs, nregs);
	return METRO_OK;
}

/* Round half to even, by explicit arithmetic on the magnitude so the result does not depend
 * on the floating-point rounding mode.  For |x| >= 2^52 every double is already an integer.
 * The subtraction a - floor(a) is exact: both are nonnegative and within a factor of two of
 * each other (or floor(a) is 0). */
static double round_half_even(double x)
{
	double a = fabs(x);
	if (a >= TWO_53 / 2.0)
		return x;
	double f = floor(a);
	double frac = a - f;
	if (frac > 0.5 || (frac == 0.5 && fmod(f, 2.0) != 0.0))
		f += 1.0;
	return x < 0 ? -f : f;
}

int metro_codec_encode(const struct metro_codec *c, double value, uint16_t *regs, size_t nregs)
{
	int err = check_numeric(c, regs, nregs);
	if (err)
		return err;
	if (!isfinite(value))
		return METRO_E_RANGE;
	double raw = (value - c->offset) / c->scale;
	if (!isfinite(raw))
		return METRO_E_RANGE;
	struct metro_codec_raw r;
	if (is_float(c->type)) {
		r.kind = METRO_CODEC_RAW_FLOAT;
		r.f = raw;
		return metro_codec_encode_raw(c, &r, regs, nregs);
	}
	double q = round_half_even(raw);
	/* The guarantee promised in codec.h, checked rather than assumed. */
	if (fabs(q - raw) > 0.5)
		return METRO_E_RANGE;
	/* Range checks in double before any conversion to an integer type (converting an
	 * out-of-range double is undefined behaviour).  The bounds 2^63 and 2^64 are exact
	 * doubles; every q below them converts exactly. */
	if (is_signed_int(c->type)) {
		if (q < -TWO_63 || q >= TWO_63)
			return METRO_E_RANGE;
		r.kind = METRO_CODEC_RAW_INT;
		r.i = (int64_t)q;
	} else {
		if (q < 0.0 || q >= TWO_64)
			return METRO_E_RANGE;
		r.kind = METRO_CODEC_RAW_UINT;
		r.u = (uint64_t)q;
	}
	/* encode_raw applies the exact range of the type (u16, i32, bit width, ...). */
	return metro_codec_encode_raw(c, &r, regs, nregs);
}

/* Common checks of the string functions: a valid string codec and the right register count. */
static int check_string(const struct metro_codec *c, const void *regs, size_t nregs)
{
	int err = metro_codec_check(c);
	if (err)
		return err;
	if (c->type != METRO_CODEC_STRING || !regs ||
	    nregs != metro_codec_type_words(c->type, c->str_len))
		return METRO_E_INVAL;
	return METRO_OK;
}

/* Character k (0-based) of a string channel. */
static unsigned char str_byte(const struct metro_codec *c, const uint16_t *regs, unsigned k)
{
	uint16_t r = regs[k / 2];
	int high = (k % 2 == 0) != (byte_swapped(c->order) != 0);
	return (unsigned char)(high ? r >> 8 : r & 0xffu);
}

int metro_codec_decode_str(const struct metro_codec *c, const uint16_t *regs, size_t nregs,
			   char *out, size_t cap)
{
	int err = check_string(c, regs, nregs);
	if (err)
		return err;
	if (!out || cap < (size_t)c->str_len + 1)
		return METRO_E_INVAL;
	unsigned n = 0;
	while (n < c->str_len) {
		unsigned char b = str_byte(c, regs, n);
		if (b == 0)
			break;
		if (b < 0x20 || b > 0x7e)
			return METRO_E_RANGE;
		n++;
	}
	while (n > 0 && str_byte(c, regs, n - 1) == ' ')
		n--;
	for (unsigned k = 0; k < n; k++)
		out[k] = (char)str_byte(c, regs, k);
	out[n] = '\0';
	return METRO_OK;
}

int metro_codec_encode_str(const struct metro_codec *c, const char *s, uint16_t *regs, size_t nregs)
{
	int err = check_string(c, regs, nregs);
	if (err)
		return err;
	if (!s)
		return METRO_E_INVAL;
	size_t len = strnlen(s, (size_t)c->str_len + 1);
	if (len > c->str_len)
		return METRO_E_RANGE;
	for (size_t k = 0; k < len; k++) {
		unsigned char b = (unsigned char)s[k];
		if (b < 0x20 || b > 0x7e)
			return METRO_E_RANGE;
	}
	for (size_t w = 0; w < nregs; w++) {
		unsigned char hi = 2 * w < len ? (unsigned char)s[2 * w] : 0;
		unsigned char lo = 2 * w + 1 < len ? (unsigned char)s[2 * w + 1] : 0;
		uint16_t r = (uint16_t)((hi << 8) | lo);
		regs[w] = byte_swapped(c->order) ? bswap16(r) : r;
	}
	return METRO_OK;
}
