/* sim_image.c — register tables and channel values of the simulated device (see sim_image.h). */
#include "sim_image.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "error.h"
#include "util.h"

#define NADDR 65536u

/* Per-address flags of the address map. */
enum {
	F_MAPPED = 1,
	F_WRITABLE = 2,
	F_READABLE = 4, /* mapped, or a small hole between mapped addresses */
};

struct sim_image {
	const struct metro_profile *p;
	int modbus;
	uint16_t *regs[2]; /* holding, input */
	uint8_t *bits[2];  /* coil, discrete */
	uint8_t *flags[4]; /* by enum metro_table */
	double *val;	   /* serial line: one value per channel */
	unsigned char *frozen;
	unsigned char *ignored; /* clients' writes are not applied (ignorewrites fault) */
	int ignore_all;
	unsigned long long *ignored_count;
};

static int is_bit_table(enum metro_table t)
{
	return t == METRO_TABLE_COIL || t == METRO_TABLE_DISCRETE;
}

static unsigned span(const struct metro_channel *c)
{
	return is_bit_table(c->table) || !c->nregs ? 1 : c->nregs;
}

/* Mark holes of at most SIM_IMAGE_HOLE_MAX unmapped addresses between mapped ones readable. */
static void mark_holes(uint8_t *fl)
{
	long last = -1;
	for (unsigned a = 0; a < NADDR; a++) {
		if (!(fl[a] & F_MAPPED))
			continue;
		if (last >= 0 && a - (unsigned long)last - 1 <= SIM_IMAGE_HOLE_MAX)
			for (unsigned h = (unsigned)last + 1; h < a; h++)
				fl[h] |= F_READABLE;
		last = a;
	}
}

struct sim_image *sim_image_new(const struct metro_profile *p)
{
	struct sim_image *img = metro_calloc(1, sizeof *img);
	img->p = p;
	img->modbus = p->transport == METRO_TRANSPORT_MODBUS;
	img->frozen = metro_calloc(p->nchannels ? p->nchannels : 1, 1);
	img->ignored = metro_calloc(p->nchannels ? p->nchannels : 1, 1);
	img->val = metro_calloc(p->nchannels ? p->nchannels : 1, sizeof *img->val);
	if (!img->modbus)
		return img;
	for (int t = 0; t < 2; t++) {
		img->regs[t] = metro_calloc(NADDR, sizeof *img->regs[t]);
		img->bits[t] = metro_calloc(NADDR, 1);
	}
	for (int t = 0; t < 4; t++)
		img->flags[t] = metro_calloc(NADDR, 1);
	for (size_t i = 0; i < p->nchannels; i++) {
		const struct metro_channel *c = &p->channels[i];
		uint8_t *fl = img->flags[c->table];
		for (unsigned a = c->address; a < c->address + span(c) && a < NADDR; a++)
			fl[a] |= (uint8_t)(F_MAPPED | F_READABLE | (c->writable ? F_WRITABLE : 0));
	}
	for (int t = 0; t < 4; t++)
		mark_holes(img->flags[t]);
	return img;
}

void sim_image_destroy(struct sim_image **pimg)
{
	struct sim_image *img = *pimg;
	if (!img)
		return;
	*pimg = NULL;
	for (int t = 0; t < 2; t++) {
		free(img->regs[t]);
		free(img->bits[t]);
	}
	for (int t = 0; t < 4; t++)
		free(img->flags[t]);
	free(img->val);
	free(img->frozen);
	free(img->ignored);
	free(img);
}

/* Raw range of an integer type (bit fields by their width). */
static void int_range(const struct metro_codec *c, double *lo, double *hi)
{
	switch (c->type) {
	case METRO_CODEC_U16:
		*lo = 0, *hi = 65535.0;
		break;
	case METRO_CODEC_I16:
		*lo = -32768.0, *hi = 32767.0;
		break;
	case METRO_CODEC_U32:
		*lo = 0, *hi = 4294967295.0;
		break;
	case METRO_CODEC_I32:
		*lo = -2147483648.0, *hi = 2147483647.0;
		break;
	case METRO_CODEC_U64:
		/* the largest double below 2^64 */
		*lo = 0, *hi = 18446744073709549568.0;
		break;
	case METRO_CODEC_I64:
		*lo = -9223372036854775808.0, *hi = 9223372036854774784.0;
		break;
	case METRO_CODEC_BITS:
		*lo = 0, *hi = (double)((1u << c->bit_width) - 1);
		break;
	default:
		*lo = -DBL_MAX, *hi = DBL_MAX;
		break;
	}
}

static int is_float_type(enum metro_codec_type t)
{
	return t == METRO_CODEC_F32 || t == METRO_CODEC_F64;
}

static int is_signed_type(enum metro_codec_type t)
{
	return t == METRO_CODEC_I16 || t == METRO_CODEC_I32 || t == METRO_CODEC_I64;
}

static uint16_t *chan_regs(const struct sim_image *img, const struct metro_channel *c)
{
	return img->regs[c->table == METRO_TABLE_HOLDING ? 0 : 1] + c->address;
}

static uint8_t *chan_bit(const struct sim_image *img, const struct metro_channel *c)
{
	return img->bits[c->table == METRO_TABLE_COIL ? 0 : 1] + c->address;
}

/* Encode engineering value v into the channel's registers, saturating at the type's range. */
static void encode_clamped(struct sim_image *img, const struct metro_channel *c, double v)
{
	const struct metro_codec *k = &c->codec;
	uint16_t *regs = chan_regs(img, c);
	if (k->type == METRO_CODEC_STRING || !isfinite(v))
		return;
	double raw = (v - k->offset) / k->scale;
	struct metro_codec_raw r;
	if (is_float_type(k->type)) {
		if (k->type == METRO_CODEC_F32)
			raw = fmin(fmax(raw, -FLT_MAX), FLT_MAX);
		r.kind = METRO_CODEC_RAW_FLOAT;
		r.f = raw;
	} else {
		double lo, hi;
		int_range(k, &lo, &hi);
		raw = nearbyint(fmin(fmax(raw, lo), hi)); /* default rounding: half to even */
		if (is_signed_type(k->type)) {
			r.kind = METRO_CODEC_RAW_INT;
			r.i = (int64_t)raw;
		} else {
			r.kind = METRO_CODEC_RAW_UINT;
			r.u = (uint64_t)raw;
		}
	}
	metro_codec_encode_raw(k, &r, regs, c->nregs);
}

void sim_image_set(struct sim_image *img, const struct metro_channel *ch, double v)
{
	if (!ch || img->frozen[ch->index])
		return;
	if (!img->modbus) {
		img->val[ch->index] = v;
		return;
	}
	if (is_bit_table(ch->table))
		*chan_bit(img, ch) = v != 0.0;
	else
		encode_clamped(img, ch, v);
}

void sim_image_set_count(struct sim_image *img, const struct metro_channel *ch, uint64_t count)
{
	if (!ch || img->frozen[ch->index])
		return;
	if (!img->modbus || is_bit_table(ch->table)) {
		sim_image_set(img, ch, (double)count);
		return;
	}
	const struct metro_codec *k = &ch->codec;
	struct metro_codec_raw r;
	unsigned bits = 0;
	switch (k->type) {
	case METRO_CODEC_U16:
	case METRO_CODEC_I16:
		bits = 16;
		break;
	case METRO_CODEC_U32:
	case METRO_CODEC_I32:
		bits = 32;
		break;
	case METRO_CODEC_U64:
	case METRO_CODEC_I64:
		bits = 64;
		break;
	case METRO_CODEC_BITS:
		bits = k->bit_width;
		break;
	case METRO_CODEC_F32:
	case METRO_CODEC_F64:
		r.kind = METRO_CODEC_RAW_FLOAT;
		r.f = (double)count;
		metro_codec_encode_raw(k, &r, chan_regs(img, ch), ch->nregs);
		return;
	default:
		return;
	}
	uint64_t w = bits == 64 ? count : count & ((UINT64_C(1) << bits) - 1);
	if (is_signed_type(k->type)) {
		/* two's complement reinterpretation of the wrapped count */
		int64_t s = bits == 64 || !(w >> (bits - 1))
				    ? (int64_t)w
				    : (int64_t)w - (int64_t)(UINT64_C(1) << bits);
		r.kind = METRO_CODEC_RAW_INT;
		r.i = s;
	} else {
		r.kind = METRO_CODEC_RAW_UINT;
		r.u = w;
	}
	metro_codec_encode_raw(k, &r, chan_regs(img, ch), ch->nregs);
}

void sim_image_set_str(struct sim_image *img, const struct metro_channel *ch, const char *s)
{
	if (!ch || !img->modbus || img->frozen[ch->index] || ch->codec.type != METRO_CODEC_STRING)
		return;
	char buf[METRO_CODEC_STR_MAX + 1];
	metro_strlcpy(buf, s,
		      ch->codec.str_len + 1 < sizeof buf ? ch->codec.str_len + 1 : sizeof buf);
	metro_codec_encode_str(&ch->codec, buf, chan_regs(img, ch), ch->nregs);
}

double sim_image_get(const struct sim_image *img, const struct metro_channel *ch)
{
	if (!ch)
		return 0.0;
	if (!img->modbus)
		return img->val[ch->index];
	if (is_bit_table(ch->table))
		return *chan_bit(img, ch) ? 1.0 : 0.0;
	if (ch->codec.type == METRO_CODEC_STRING)
		return 0.0;
	double v = 0.0;
	if (metro_codec_decode(&ch->codec, chan_regs(img, ch), ch->nregs, &v))
		return 0.0;
	return v;
}

void sim_image_freeze(struct sim_image *img, const struct metro_channel *ch)
{
	if (ch)
		img->frozen[ch->index] = 1;
}

void sim_image_ignore_writes(struct sim_image *img, const struct metro_channel *ch,
			     unsigned long long *count)
{
	if (ch)
		img->ignored[ch->index] = 1;
	else
		img->ignore_all = 1;
	img->ignored_count = count;
}

static int writes_ignored(const struct sim_image *img, const struct metro_channel *c)
{
	return img->ignore_all || img->ignored[c->index];
}

static void count_ignored(struct sim_image *img)
{
	if (img->ignored_count)
		(*img->ignored_count)++;
}

/* After a write of [addr, addr + n) in table t whose previous content is old: put back what
 * belongs to channels whose writes are ignored (a bit field only its own bits, so that another
 * field of the same register is still written).  Returns nonzero when anything was put back. */
static int undo_ignored(struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
			const uint16_t *old_regs, const uint8_t *old_bits)
{
	int any = 0;
	for (size_t i = 0; i < img->p->nchannels; i++) {
		const struct metro_channel *c = &img->p->channels[i];
		if (c->table != t || !c->writable || c->address >= addr + n ||
		    c->address + span(c) <= addr || !writes_ignored(img, c))
			continue;
		any = 1;
		if (t == METRO_TABLE_COIL) {
			img->bits[0][c->address] = old_bits[c->address - addr];
			continue;
		}
		uint16_t *r = img->regs[0];
		if (c->codec.type == METRO_CODEC_BITS) {
			unsigned mask = ((1u << c->codec.bit_width) - 1u) << c->codec.bit_offset;
			unsigned a = c->address;
			r[a] = (uint16_t)((r[a] & ~mask) | (old_regs[a - addr] & mask));
			continue;
		}
		for (unsigned a = c->address; a < c->address + span(c); a++)
			if (a >= addr && a < addr + n)
				r[a] = old_regs[a - addr];
	}
	return any;
}

/* 0 when every address of [addr, addr + n) has all of the flags in want. */
static int check_range(const struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
		       uint8_t want)
{
	if (!img->modbus || (unsigned long)addr + n > NADDR)
		return SIM_EXC_ILLEGAL_ADDRESS;
	const uint8_t *fl = img->flags[t];
	for (unsigned a = addr; a < addr + n; a++)
		if ((fl[a] & want) != want)
			return SIM_EXC_ILLEGAL_ADDRESS;
	return 0;
}

int sim_image_read_regs(const struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
			uint16_t *out)
{
	if (is_bit_table(t))
		return SIM_EXC_ILLEGAL_FUNCTION;
	int exc = check_range(img, t, addr, n, F_READABLE);
	if (exc)
		return exc;
	memcpy(out, img->regs[t == METRO_TABLE_HOLDING ? 0 : 1] + addr, n * sizeof *out);
	return 0;
}

int sim_image_read_bits(const struct sim_image *img, enum metro_table t, unsigned addr, unsigned n,
			uint8_t *out)
{
	if (!is_bit_table(t))
		return SIM_EXC_ILLEGAL_FUNCTION;
	int exc = check_range(img, t, addr, n, F_READABLE);
	if (exc)
		return exc;
	memcpy(out, img->bits[t == METRO_TABLE_COIL ? 0 : 1] + addr, n);
	return 0;
}

/* After a tentative write of [addr, addr + n) in table t: does every writable channel that
 * overlaps it still decode? */
static int written_channels_ok(const struct sim_image *img, enum metro_table t, unsigned addr,
			       unsigned n)
{
	for (size_t i = 0; i < img->p->nchannels; i++) {
		const struct metro_channel *c = &img->p->channels[i];
		if (c->table != t || !c->writable || c->address >= addr + n ||
		    c->address + span(c) <= addr || is_bit_table(t))
			continue;
		double v;
		if (metro_codec_decode(&c->codec, chan_regs(img, c), c->nregs, &v))
			return 0;
	}
	return 1;
}

int sim_image_write_regs(struct sim_image *img, unsigned addr, unsigned n, const uint16_t *v)
{
	int exc = check_range(img, METRO_TABLE_HOLDING, addr, n, F_WRITABLE);
	if (exc)
		return exc;
	uint16_t old[128];
	if (n > METRO_ARRAY_SIZE(old))
		return SIM_EXC_ILLEGAL_VALUE;
	uint16_t *r = img->regs[0] + addr;
	memcpy(old, r, n * sizeof *r);
	memcpy(r, v, n * sizeof *r);
	if (!written_channels_ok(img, METRO_TABLE_HOLDING, addr, n)) {
		memcpy(r, old, n * sizeof *r);
		return SIM_EXC_ILLEGAL_VALUE;
	}
	if (undo_ignored(img, METRO_TABLE_HOLDING, addr, n, old, NULL))
		count_ignored(img);
	return 0;
}

int sim_image_write_bits(struct sim_image *img, unsigned addr, unsigned n, const uint8_t *v)
{
	int exc = check_range(img, METRO_TABLE_COIL, addr, n, F_WRITABLE);
	if (exc)
		return exc;
	uint8_t old[2000];
	if (n > sizeof old)
		return SIM_EXC_ILLEGAL_VALUE;
	memcpy(old, img->bits[0] + addr, n);
	for (unsigned i = 0; i < n; i++)
		img->bits[0][addr + i] = v[i] ? 1 : 0;
	if (undo_ignored(img, METRO_TABLE_COIL, addr, n, NULL, old))
		count_ignored(img);
	return 0;
}

double sim_image_value(const struct sim_image *img, const struct metro_channel *ch)
{
	return sim_image_get(img, ch);
}

int sim_image_put(struct sim_image *img, const struct metro_channel *ch, double v)
{
	if (!ch->writable)
		return METRO_E_DENIED;
	if (writes_ignored(img, ch)) {
		count_ignored(img);
		return METRO_OK;
	}
	if (!img->modbus) {
		img->val[ch->index] = v;
		return METRO_OK;
	}
	/* Not used by the Modbus server (it writes registers), but keep it coherent. */
	if (is_bit_table(ch->table))
		*chan_bit(img, ch) = v != 0.0;
	else
		encode_clamped(img, ch, v);
	return METRO_OK;
}
