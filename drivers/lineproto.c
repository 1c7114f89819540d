/* lineproto.c — serial line protocol templates, framing and checksums (see lineproto.h).
 *
 * A template is compiled once, when a profile is loaded, into a flat array of items (literal
 * runs, conversions, checksums, the checksum-region marker).  Everything that can be decided
 * from the template alone is decided there, with the template column in the message, so that
 * formatting and parsing at run time can only fail because of the data.
 *
 * Replies are not NUL-terminated and may contain any byte, so parsing works on (pointer,
 * length) and never calls a C library function that scans for a NUL in the reply.  Numbers
 * are recognised by our own scanner first; only the already-validated text of a floating-point
 * number is handed to strtod_l(), in the C locale, because the process locale may use a
 * decimal comma once report generation calls setlocale().
 */
#include "lineproto.h"

#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "util.h"

enum item_kind {
	ITEM_LIT,
	ITEM_CONV,
	ITEM_CSUM,
	ITEM_BEGIN,
};

enum csum_kind {
	CSUM_CRC16,
	CSUM_LRC,
	CSUM_SUM8,
	CSUM_XOR8,
};

static const struct {
	const char *name;
	enum csum_kind kind;
	unsigned digits;
} csum_tab[] = {
	{"crc16", CSUM_CRC16, 4},
	{"lrc", CSUM_LRC, 2},
	{"sum8", CSUM_SUM8, 2},
	{"xor8", CSUM_XOR8, 2},
};

struct item {
	enum item_kind kind;
	size_t col;	 /* 1-based template column, for compile-time messages */
	size_t off, len; /* ITEM_LIT: the bytes t->lit[off .. off + len) */
	char conv;	 /* ITEM_CONV: d u x X f e E s */
	int skip, zero, left;
	unsigned width; /* 0: none */
	int prec;	/* -1: none */
	unsigned csum;	/* ITEM_CSUM: index into csum_tab */
};

struct metro_line_tmpl {
	enum metro_line_dir dir;
	struct item *items;
	size_t nitems;
	char *lit;
	size_t litlen;
	size_t nvalues;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap); // NOLINT(clang-analyzer-valist.Uninitialized)
	va_end(ap);
}

/* Bytes shown in messages: printable ASCII as is, the rest escaped the way templates write
 * them, at most RENDER_MAX source bytes with "..." when cut.  A reply may hold anything, and
 * a message must stay one readable line in the journal. */
#define RENDER_MAX 24
struct rendered {
	char s[RENDER_MAX * 4 + 4];
};

/* Write the rendering of one byte at dst (room for 4 bytes); returns its length. */
static size_t render_one(char *dst, unsigned char b)
{
	static const char hex[] = "0123456789ABCDEF";
	if (b == '\r' || b == '\n' || b == '\t' || b == '\\') {
		dst[0] = '\\';
		dst[1] = b == '\r' ? 'r' : b == '\n' ? 'n' : b == '\t' ? 't' : '\\';
		return 2;
	}
	if (b < 0x20 || b > 0x7e) {
		dst[0] = '\\';
		dst[1] = 'x';
		dst[2] = hex[b >> 4];
		dst[3] = hex[b & 0xf];
		return 4;
	}
	dst[0] = (char)b;
	return 1;
}

static struct rendered render_byte(unsigned char b)
{
	struct rendered r;
	r.s[render_one(r.s, b)] = '\0';
	return r;
}

static struct rendered render(const char *src, size_t n)
{
	struct rendered r;
	size_t o = 0;
	size_t k;
	for (k = 0; k < n && k < RENDER_MAX; k++)
		o += render_one(r.s + o, (unsigned char)src[k]);
	if (k < n) {
		memcpy(r.s + o, "...", 3);
		o += 3;
	}
	r.s[o] = '\0';
	return r;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int printable(unsigned char b)
{
	return b >= 0x20 && b <= 0x7e;
}

/* Decode the escape starting at s[0] == '\\'.  Returns the number of source bytes used with
 * the byte in *b, or 0 when the escape is invalid. */
static size_t escape(const char *s, unsigned char *b)
{
	switch (s[1]) {
	case 'r':
		*b = '\r';
		return 2;
	case 'n':
		*b = '\n';
		return 2;
	case 't':
		*b = '\t';
		return 2;
	case '\\':
		*b = '\\';
		return 2;
	case 'x': {
		int h = hexval((unsigned char)s[2]);
		int l = h < 0 ? -1 : hexval((unsigned char)s[3]);
		if (l < 0)
			return 0;
		*b = (unsigned char)(h * 16 + l);
		return 4;
	}
	default:
		return 0;
	}
}

static void escape_error(const char *s, size_t i, char *err, size_t errlen)
{
	if (s[i + 1] == 'x')
		seterr(err, errlen, "column %zu: \\x needs two hex digits", i + 1);
	else if (s[i + 1] == '\0')
		seterr(err, errlen, "column %zu: backslash at the end", i + 1);
	else
		seterr(err, errlen, "column %zu: unknown escape '\\%s'", i + 1,
		       render_byte((unsigned char)s[i + 1]).s);
}

/* ---- checksums ------------------------------------------------------------------------- */

uint16_t metro_line_crc16(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint16_t crc = 0xffff;
	for (size_t i = 0; i < n; i++) {
		crc ^= b[i];
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xa001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

uint8_t metro_line_sum8(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned s = 0;
	for (size_t i = 0; i < n; i++)
		s += b[i];
	return (uint8_t)(s & 0xff);
}

uint8_t metro_line_lrc(const void *p, size_t n)
{
	return (uint8_t)((0x100 - metro_line_sum8(p, n)) & 0xff);
}

uint8_t metro_line_xor8(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned char x = 0;
	for (size_t i = 0; i < n; i++)
		x ^= b[i];
	return x;
}

static unsigned csum_compute(unsigned which, const char *p, size_t n)
{
	switch (csum_tab[which].kind) {
	case CSUM_CRC16:
		return metro_line_crc16(p, n);
	case CSUM_LRC:
		return metro_line_lrc(p, n);
	case CSUM_SUM8:
		return metro_line_sum8(p, n);
	case CSUM_XOR8:
		return metro_line_xor8(p, n);
	}
	return 0;
}

/* ---- the C locale ---------------------------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!c_locale) {
		/* Only an allocation can fail here; follow the abort-on-OOM policy of util.h. */
		fprintf(stderr, "<2>metro: cannot create the C locale\n");
		abort();
	}
}

static locale_t c_locale_get(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale;
}

/* ---- compiling ------------------------------------------------------------------------- */

static struct item *add_item(struct metro_line_tmpl *t, enum item_kind kind, size_t col)
{
	struct item *it = &t->items[t->nitems++];
	memset(it, 0, sizeof *it);
	it->kind = kind;
	it->col = col;
	it->prec = -1;
	return it;
}

/* Append one literal byte, extending the previous literal item when there is one. */
static void add_lit(struct metro_line_tmpl *t, unsigned char b, size_t col)
{
	if (!t->nitems || t->items[t->nitems - 1].kind != ITEM_LIT)
		add_item(t, ITEM_LIT, col)->off = t->litlen;
	t->lit[t->litlen++] = (char)b;
	t->items[t->nitems - 1].len++;
}

static int is_numeric_conv(char c)
{
	return c != 's';
}

static int is_float_conv(char c)
{
	return c == 'f' || c == 'e' || c == 'E';
}

/* Can a number of conversion c, read without width, swallow byte b of the text after it? */
static int number_may_take(char c, unsigned char b)
{
	if (is_digit(b))
		return 1;
	if (c == 'x' || c == 'X')
		return hexval(b) >= 0;
	if (is_float_conv(c))
		return b == '.' || b == 'e' || b == 'E';
	return 0;
}

/* The first item after index i that is not a %<begin> marker, or NULL at the end. */
static const struct item *next_significant(const struct metro_line_tmpl *t, size_t i)
{
	for (size_t k = i + 1; k < t->nitems; k++)
		if (t->items[k].kind != ITEM_BEGIN)
			return &t->items[k];
	return NULL;
}

/* Reply-template rules that need the item that follows a conversion. */
static int check_input_boundaries(const struct metro_line_tmpl *t, char *err, size_t errlen)
{
	for (size_t i = 0; i < t->nitems; i++) {
		const struct item *it = &t->items[i];
		if (it->kind != ITEM_CONV || it->width)
			continue;
		const struct item *nx = next_significant(t, i);
		if (!nx)
			continue;
		if (nx->kind == ITEM_CONV || nx->kind == ITEM_CSUM) {
			seterr(err, errlen,
			       "column %zu: %%%c without width is directly followed by %s at "
			       "column "
			       "%zu; give it a width",
			       it->col, it->conv,
			       nx->kind == ITEM_CONV ? "a conversion" : "a checksum", nx->col);
			return METRO_E_INVAL;
		}
		unsigned char first = (unsigned char)t->lit[nx->off];
		if (is_numeric_conv(it->conv) && number_may_take(it->conv, first)) {
			seterr(err, errlen,
			       "column %zu: %%%c without width is followed by '%s', which the "
			       "number "
			       "could include; give it a width",
			       it->col, it->conv, render_byte(first).s);
			return METRO_E_INVAL;
		}
	}
	return METRO_OK;
}

/* Parse the conversion starting at src[i] == '%' (not %% or %<).  Returns the index after it,
 * or 0 with a message. */
static size_t compile_conv(struct metro_line_tmpl *t, const char *src, size_t i, char *err,
			   size_t errlen)
{
	size_t col = i + 1;
	size_t j = col; /* just after the '%' */
	int skip = 0, zero = 0, left = 0;
	for (;; j++) {
		if (src[j] == '*')
			skip = 1;
		else if (src[j] == '0')
			zero = 1;
		else if (src[j] == '-')
			left = 1;
		else
			break;
	}
	unsigned width = 0;
	while (is_digit((unsigned char)src[j])) {
		width = width * 10 + (unsigned)(src[j++] - '0');
		if (width > METRO_LINE_WIDTH_MAX) {
			seterr(err, errlen, "column %zu: width above %d", col,
			       METRO_LINE_WIDTH_MAX);
			return 0;
		}
	}
	int prec = -1;
	if (src[j] == '.') {
		j++;
		if (!is_digit((unsigned char)src[j])) {
			seterr(err, errlen, "column %zu: '.' must be followed by the precision",
			       col);
			return 0;
		}
		prec = 0;
		while (is_digit((unsigned char)src[j])) {
			prec = prec * 10 + (src[j++] - '0');
			if (prec > METRO_LINE_PREC_MAX) {
				seterr(err, errlen, "column %zu: precision above %d", col,
				       METRO_LINE_PREC_MAX);
				return 0;
			}
		}
	}
	char c = src[j];
	if (c == '\0') {
		seterr(err, errlen, "column %zu: incomplete conversion at the end of the template",
		       col);
		return 0;
	}
	if (!strchr("duxXfeEs", c)) {
		seterr(err, errlen, "column %zu: unknown conversion '%%%s'", col,
		       render_byte((unsigned char)c).s);
		return 0;
	}
	if (t->dir == METRO_LINE_OUT) {
		if (skip) {
			seterr(err, errlen,
			       "column %zu: '*' (skip) is only valid in reply templates", col);
			return 0;
		}
		if (zero && left) {
			seterr(err, errlen, "column %zu: flags '-' and '0' exclude each other",
			       col);
			return 0;
		}
		if ((zero || left) && !width) {
			seterr(err, errlen, "column %zu: flag '%c' needs a width", col,
			       zero ? '0' : '-');
			return 0;
		}
		if (zero && c == 's') {
			seterr(err, errlen, "column %zu: flag '0' is not valid for %%s", col);
			return 0;
		}
		if (prec >= 0 && !is_float_conv(c)) {
			seterr(err, errlen, "column %zu: precision is only valid for %%f, %%e, %%E",
			       col);
			return 0;
		}
	} else {
		if (zero || left) {
			seterr(err, errlen,
			       "column %zu: flags '-' and '0' are only valid in request templates",
			       col);
			return 0;
		}
		if (prec >= 0) {
			seterr(err, errlen,
			       "column %zu: precision is only valid in request templates", col);
			return 0;
		}
	}
	if (!skip && t->nvalues == METRO_LINE_MAX_VALUES) {
		seterr(err, errlen, "column %zu: more than %d conversions", col,
		       METRO_LINE_MAX_VALUES);
		return 0;
	}
	struct item *it = add_item(t, ITEM_CONV, col);
	it->conv = c;
	it->skip = skip;
	it->zero = zero;
	it->left = left;
	it->width = width;
	it->prec = prec;
	if (!skip)
		t->nvalues++;
	return j + 1;
}

/* Parse %<name> at src[i].  Returns the index after it, or 0 with a message. */
static size_t compile_special(struct metro_line_tmpl *t, const char *src, size_t i, int *seen_begin,
			      char *err, size_t errlen)
{
	size_t col = i + 1;
	const char *name = src + i + 2;
	const char *close = strchr(name, '>');
	if (!close) {
		seterr(err, errlen, "column %zu: '%%<' without closing '>'", col);
		return 0;
	}
	size_t n = (size_t)(close - name);
	if (n == 5 && !memcmp(name, "begin", 5)) {
		if (*seen_begin) {
			seterr(err, errlen, "column %zu: second %%<begin>", col);
			return 0;
		}
		*seen_begin = 1;
		add_item(t, ITEM_BEGIN, col);
		return (size_t)(close - src) + 1;
	}
	for (unsigned k = 0; k < METRO_ARRAY_SIZE(csum_tab); k++) {
		if (strlen(csum_tab[k].name) == n && !memcmp(name, csum_tab[k].name, n)) {
			add_item(t, ITEM_CSUM, col)->csum = k;
			return (size_t)(close - src) + 1;
		}
	}
	seterr(err, errlen,
	       "column %zu: unknown checksum '%%<%s>' (known: crc16, lrc, sum8, xor8, begin)", col,
	       render(name, n).s);
	return 0;
}

int metro_line_compile(const char *src, enum metro_line_dir dir, struct metro_line_tmpl **out,
		       char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	if (!src || !out || (dir != METRO_LINE_OUT && dir != METRO_LINE_IN)) {
		seterr(err, errlen, "invalid arguments");
		return METRO_E_INVAL;
	}
	size_t n = strlen(src);
	if (n > METRO_LINE_TMPL_MAX) {
		seterr(err, errlen, "column %d: template longer than %d bytes",
		       METRO_LINE_TMPL_MAX + 1, METRO_LINE_TMPL_MAX);
		return METRO_E_INVAL;
	}
	struct metro_line_tmpl *t = metro_calloc(1, sizeof *t);
	t->dir = dir;
	/* Every item consumes at least one source byte, and every literal byte at least one. */
	t->items = metro_calloc(n + 1, sizeof *t->items);
	t->lit = metro_malloc(n + 1);
	int seen_begin = 0;
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)src[i];
		size_t next;
		if (c == '\\') {
			unsigned char b;
			size_t k = escape(src + i, &b);
			if (!k) {
				escape_error(src, i, err, errlen);
				goto fail;
			}
			add_lit(t, b, i + 1);
			next = i + k;
		} else if (c != '%') {
			add_lit(t, c, i + 1);
			next = i + 1;
		} else if (src[i + 1] == '%') {
			add_lit(t, '%', i + 1);
			next = i + 2;
		} else if (src[i + 1] == '<') {
			next = compile_special(t, src, i, &seen_begin, err, errlen);
		} else {
			next = compile_conv(t, src, i, err, errlen);
		}
		if (!next)
			goto fail;
		i = next;
	}
	if (dir == METRO_LINE_IN && check_input_boundaries(t, err, errlen))
		goto fail;
	*out = t;
	return METRO_OK;
fail:
	metro_line_destroy(&t);
	return METRO_E_INVAL;
}

void metro_line_destroy(struct metro_line_tmpl **t)
{
	if (!t || !*t)
		return;
	free((*t)->items);
	free((*t)->lit);
	free(*t);
	*t = NULL;
}

size_t metro_line_nvalues(const struct metro_line_tmpl *t)
{
	return t ? t->nvalues : 0;
}

/* ---- formatting ------------------------------------------------------------------------ */

struct outbuf {
	char *buf;
	size_t cap, len;
	char *err;
	size_t errlen;
};

/* Append n bytes, always keeping room for the final NUL. */
static int put(struct outbuf *o, const char *p, size_t n)
{
	if (n >= o->cap - o->len) {
		seterr(o->err, o->errlen, "request longer than the %zu-byte buffer", o->cap - 1);
		return METRO_E_RANGE;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	return METRO_OK;
}

#define TWO_63 9223372036854775808.0
#define TWO_64 18446744073709551616.0

/* The argument of an integer conversion as sign and magnitude, so that INT, UINT and
 * integral DOUBLE arguments share one range check. */
static int arg_integer(const struct metro_line_value *v, int *neg, uint64_t *mag)
{
	switch (v->type) {
	case METRO_LINE_INT:
		*neg = v->i < 0;
		*mag = v->i < 0 ? (uint64_t)(-(v->i + 1)) + 1 : (uint64_t)v->i;
		return METRO_OK;
	case METRO_LINE_UINT:
		*neg = 0;
		*mag = v->u;
		return METRO_OK;
	case METRO_LINE_DOUBLE:
		if (!isfinite(v->f) || floor(v->f) != v->f || fabs(v->f) >= TWO_64)
			return METRO_E_RANGE;
		*neg = v->f < 0;
		*mag = (uint64_t)fabs(v->f);
		return METRO_OK;
	case METRO_LINE_STR:
		break;
	}
	return METRO_E_INVAL;
}

/* The argument of a floating-point conversion; integers only when the double is exact. */
static int arg_double(const struct metro_line_value *v, double *d)
{
	switch (v->type) {
	case METRO_LINE_DOUBLE:
		if (!isfinite(v->f))
			return METRO_E_RANGE;
		*d = v->f;
		return METRO_OK;
	case METRO_LINE_INT: {
		double x = (double)v->i;
		if (x >= TWO_63 || (int64_t)x != v->i)
			return METRO_E_RANGE;
		*d = x;
		return METRO_OK;
	}
	case METRO_LINE_UINT: {
		double x = (double)v->u;
		if (x >= TWO_64 || (uint64_t)x != v->u)
			return METRO_E_RANGE;
		*d = x;
		return METRO_OK;
	}
	case METRO_LINE_STR:
		break;
	}
	return METRO_E_INVAL;
}

/* printf formats must be literals (-Wformat=2), so each flag combination has its own line. */
static int print_integer(const struct item *it, int neg, uint64_t mag, char *tmp, size_t cap)
{
	int w = (int)it->width;
	if (it->conv == 'd') {
		if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
			return -1;
		int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag)
				: (int64_t)mag;
		if (it->zero)
			return snprintf(tmp, cap, "%0*" PRId64, w, v);
		if (it->left)
			return snprintf(tmp, cap, "%-*" PRId64, w, v);
		return snprintf(tmp, cap, "%*" PRId64, w, v);
	}
	/* -0.0 is zero, not a negative number. */
	if (neg && mag)
		return -1;
	switch (it->conv) {
	case 'u':
		if (it->zero)
			return snprintf(tmp, cap, "%0*" PRIu64, w, mag);
		if (it->left)
			return snprintf(tmp, cap, "%-*" PRIu64, w, mag);
		return snprintf(tmp, cap, "%*" PRIu64, w, mag);
	case 'x':
		if (it->zero)
			return snprintf(tmp, cap, "%0*" PRIx64, w, mag);
		if (it->left)
			return snprintf(tmp, cap, "%-*" PRIx64, w, mag);
		return snprintf(tmp, cap, "%*" PRIx64, w, mag);
	default:
		if (it->zero)
			return snprintf(tmp, cap, "%0*" PRIX64, w, mag);
		if (it->left)
			return snprintf(tmp, cap, "%-*" PRIX64, w, mag);
		return snprintf(tmp, cap, "%*" PRIX64, w, mag);
	}
}

static int print_float(const struct item *it, double d, char *tmp, size_t cap)
{
	int w = (int)it->width;
	int p = it->prec >= 0 ? it->prec : 6;
	int n;
	locale_t old = uselocale(c_locale_get());
	switch (it->conv) {
	case 'f':
		n = it->zero   ? snprintf(tmp, cap, "%0*.*f", w, p, d)
		    : it->left ? snprintf(tmp, cap, "%-*.*f", w, p, d)
			       : snprintf(tmp, cap, "%*.*f", w, p, d);
		break;
	case 'e':
		n = it->zero   ? snprintf(tmp, cap, "%0*.*e", w, p, d)
		    : it->left ? snprintf(tmp, cap, "%-*.*e", w, p, d)
			       : snprintf(tmp, cap, "%*.*e", w, p, d);
		break;
	default:
		n = it->zero   ? snprintf(tmp, cap, "%0*.*E", w, p, d)
		    : it->left ? snprintf(tmp, cap, "%-*.*E", w, p, d)
			       : snprintf(tmp, cap, "%*.*E", w, p, d);
		break;
	}
	uselocale(old);
	return n;
}

static int print_string(const struct item *it, const struct metro_line_value *v, char *tmp,
			size_t cap)
{
	size_t n = strnlen(v->s, sizeof v->s);
	if (n == sizeof v->s)
		return -2; /* not terminated: a programming error in the caller */
	for (size_t k = 0; k < n; k++)
		if (!printable((unsigned char)v->s[k]))
			return -1;
	size_t w = it->width > n ? it->width : n;
	if (w + 1 > cap)
		return -1;
	size_t pad = w - n;
	memset(tmp, ' ', w);
	memcpy(tmp + (it->left ? 0 : pad), v->s, n);
	tmp[w] = '\0';
	return (int)w;
}

static const char *type_word(enum metro_line_vtype t)
{
	switch (t) {
	case METRO_LINE_INT:
		return "an integer";
	case METRO_LINE_UINT:
		return "an unsigned integer";
	case METRO_LINE_DOUBLE:
		return "a number";
	case METRO_LINE_STR:
		return "a string";
	}
	return "an unknown type";
}

/* Format one conversion with argument number k (0-based) into o. */
static int format_conv(const struct item *it, const struct metro_line_value *v, size_t k,
		       struct outbuf *o)
{
	char *err = o->err;
	size_t errlen = o->errlen;
	/* Widest output: %f of 1e308 is 309 digits plus sign, point and 17 decimals. */
	char tmp[512];
	int n;
	int rc;
	if (it->conv == 's') {
		if (v->type != METRO_LINE_STR) {
			seterr(err, errlen, "argument %zu: %%s needs a string, got %s", k + 1,
			       type_word(v->type));
			return METRO_E_INVAL;
		}
		n = print_string(it, v, tmp, sizeof tmp);
		if (n == -2) {
			seterr(err, errlen, "argument %zu: string not terminated", k + 1);
			return METRO_E_INVAL;
		}
		if (n < 0) {
			seterr(err, errlen, "argument %zu: string \"%s\" is not printable ASCII",
			       k + 1, render(v->s, strlen(v->s)).s);
			return METRO_E_RANGE;
		}
	} else if (is_float_conv(it->conv)) {
		double d;
		rc = arg_double(v, &d);
		if (rc == METRO_E_INVAL) {
			seterr(err, errlen, "argument %zu: %%%c needs a number, got %s", k + 1,
			       it->conv, type_word(v->type));
			return rc;
		}
		if (rc) {
			seterr(err, errlen, "argument %zu: value cannot be printed exactly by %%%c",
			       k + 1, it->conv);
			return rc;
		}
		n = print_float(it, d, tmp, sizeof tmp);
	} else {
		int neg;
		uint64_t mag;
		rc = arg_integer(v, &neg, &mag);
		if (rc == METRO_E_INVAL) {
			seterr(err, errlen, "argument %zu: %%%c needs a number, got %s", k + 1,
			       it->conv, type_word(v->type));
			return rc;
		}
		n = rc ? -1 : print_integer(it, neg, mag, tmp, sizeof tmp);
		if (n < 0) {
			seterr(err, errlen, "argument %zu: value out of range for %%%c", k + 1,
			       it->conv);
			return METRO_E_RANGE;
		}
	}
	if (n < 0 || (size_t)n >= sizeof tmp) {
		seterr(err, errlen, "argument %zu: value too long for %%%c", k + 1, it->conv);
		return METRO_E_RANGE;
	}
	return put(o, tmp, (size_t)n);
}

int metro_line_format(const struct metro_line_tmpl *t, const struct metro_line_value *args,
		      size_t nargs, char *buf, size_t cap, size_t *len, char *err, size_t errlen)
{
	if (!t || !buf || !cap || !len || (nargs && !args)) {
		seterr(err, errlen, "invalid arguments");
		return METRO_E_INVAL;
	}
	if (t->dir != METRO_LINE_OUT) {
		seterr(err, errlen, "a reply template cannot format a request");
		return METRO_E_INVAL;
	}
	if (nargs != t->nvalues) {
		seterr(err, errlen, "template takes %zu arguments, got %zu", t->nvalues, nargs);
		return METRO_E_INVAL;
	}
	struct outbuf o = {buf, cap, 0, err, errlen};
	size_t begin = 0, k = 0;
	for (size_t i = 0; i < t->nitems; i++) {
		int rc = METRO_OK;
		const struct item *it = &t->items[i];
		switch (it->kind) {
		case ITEM_LIT:
			rc = put(&o, t->lit + it->off, it->len);
			break;
		case ITEM_BEGIN:
			begin = o.len;
			break;
		case ITEM_CSUM: {
			char hex[8];
			unsigned v = csum_compute(it->csum, buf + begin, o.len - begin);
			snprintf(hex, sizeof hex, "%0*X", (int)csum_tab[it->csum].digits, v);
			rc = put(&o, hex, csum_tab[it->csum].digits);
			break;
		}
		case ITEM_CONV:
			rc = format_conv(it, &args[k], k, &o);
			k++;
			break;
		}
		if (rc)
			return rc;
	}
	buf[o.len] = '\0';
	*len = o.len;
	return METRO_OK;
}

/* ---- parsing --------------------------------------------------------------------------- */

static size_t digit_run(const char *p, size_t n, size_t i, int hex)
{
	while (i < n && (hex ? hexval((unsigned char)p[i]) >= 0 : is_digit((unsigned char)p[i])))
		i++;
	return i;
}

/* Length of the longest prefix of p[0..n) that is a number for conversion c; 0 if none. */
static size_t num_span(const char *p, size_t n, char c)
{
	size_t i = 0;
	if (c == 'x' || c == 'X')
		return digit_run(p, n, 0, 1);
	if (i < n && (p[i] == '+' || (p[i] == '-' && c != 'u')))
		i++;
	size_t d0 = i;
	i = digit_run(p, n, i, 0);
	size_t nd = i - d0;
	if (!is_float_conv(c))
		return nd ? i : 0;
	if (i < n && p[i] == '.') {
		size_t j = digit_run(p, n, i + 1, 0);
		nd += j - (i + 1);
		i = j;
	}
	if (!nd)
		return 0;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (p[j] == '+' || p[j] == '-'))
			j++;
		size_t e = digit_run(p, n, j, 0);
		/* "12e" or "12e+" is the number 12 followed by other text. */
		if (e > j)
			i = e;
	}
	return i;
}

/* Text p[0..n), already matched by num_span(), to a value.  METRO_E_RANGE on overflow. */
static int convert_number(const char *p, size_t n, char c, struct metro_line_value *v)
{
	if (is_float_conv(c)) {
		/* strtod needs a NUL-terminated copy; long mantissas are rare but legal. */
		char stack[80];
		char *tmp = n < sizeof stack ? stack : metro_malloc(n + 1);
		memcpy(tmp, p, n);
		tmp[n] = '\0';
		char *end;
		double d = strtod_l(tmp, &end, c_locale_get());
		int bad = end != tmp + n || isinf(d);
		if (tmp != stack)
			free(tmp);
		/* Underflow to a subnormal or zero is a rounding, not an error; overflow is. */
		if (bad)
			return METRO_E_RANGE;
		v->type = METRO_LINE_DOUBLE;
		v->f = d;
		return METRO_OK;
	}
	size_t i = 0;
	int neg = 0;
	if (p[0] == '+' || p[0] == '-') {
		neg = p[0] == '-';
		i = 1;
	}
	unsigned base = (c == 'x' || c == 'X') ? 16 : 10;
	uint64_t mag = 0;
	for (; i < n; i++) {
		unsigned d = (unsigned)hexval((unsigned char)p[i]);
		if (mag > (UINT64_MAX - d) / base)
			return METRO_E_RANGE;
		mag = mag * base + d;
	}
	if (c == 'd') {
		if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
			return METRO_E_RANGE;
		v->type = METRO_LINE_INT;
		v->i = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag)
			   : (int64_t)mag;
	} else {
		v->type = METRO_LINE_UINT;
		v->u = mag;
	}
	return METRO_OK;
}

struct reply {
	const char *p;
	size_t len;
	size_t pos;
	char *err;
	size_t errlen;
};

static int parse_lit(struct reply *r, const char *lit, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t at = r->pos + k;
		if (at >= r->len) {
			seterr(r->err, r->errlen, "at byte %zu: reply ends early, expected \"%s\"",
			       at, render(lit + k, n - k).s);
			return METRO_E_PROTO;
		}
		if (r->p[at] != lit[k]) {
			size_t got = r->len - at < n - k ? r->len - at : n - k;
			seterr(r->err, r->errlen, "at byte %zu: expected \"%s\" got \"%s\"", at,
			       render(lit + k, n - k).s, render(r->p + at, got).s);
			return METRO_E_PROTO;
		}
	}
	r->pos += n;
	return METRO_OK;
}

static int parse_csum(struct reply *r, const struct item *it, size_t begin)
{
	unsigned digits = csum_tab[it->csum].digits;
	const char *name = csum_tab[it->csum].name;
	if (r->len - r->pos < digits) {
		seterr(r->err, r->errlen,
		       "at byte %zu: reply ends early, expected %u hex digits of %s", r->pos,
		       digits, name);
		return METRO_E_PROTO;
	}
	unsigned got = 0;
	for (unsigned k = 0; k < digits; k++) {
		int h = hexval((unsigned char)r->p[r->pos + k]);
		if (h < 0) {
			seterr(r->err, r->errlen,
			       "at byte %zu: expected %u hex digits of %s got \"%s\"", r->pos,
			       digits, name, render(r->p + r->pos, digits).s);
			return METRO_E_PROTO;
		}
		got = got * 16 + (unsigned)h;
	}
	unsigned want = csum_compute(it->csum, r->p + begin, r->pos - begin);
	if (got != want) {
		seterr(r->err, r->errlen,
		       "at byte %zu: checksum mismatch: expected %0*X got %0*X (%s)", r->pos,
		       (int)digits, want, (int)digits, got, name);
		return METRO_E_PROTO;
	}
	r->pos += digits;
	return METRO_OK;
}

static int parse_number(struct reply *r, const struct item *it, struct metro_line_value *v)
{
	size_t fend = r->len;
	if (it->width) {
		if (r->len - r->pos < it->width) {
			seterr(r->err, r->errlen,
			       "at byte %zu: reply ends early, expected a %u-byte field for %%%c",
			       r->pos, it->width, it->conv);
			return METRO_E_PROTO;
		}
		fend = r->pos + it->width;
	}
	size_t s = r->pos;
	while (s < fend && r->p[s] == ' ')
		s++;
	size_t n = num_span(r->p + s, fend - s, it->conv);
	if (!n) {
		if (!it->width && s == r->len)
			seterr(r->err, r->errlen,
			       "at byte %zu: reply ends early, expected a number for %%%c", s,
			       it->conv);
		else if (it->width)
			seterr(r->err, r->errlen,
			       "at byte %zu: expected a number for %%%c in \"%s\"", r->pos,
			       it->conv, render(r->p + r->pos, it->width).s);
		else
			seterr(r->err, r->errlen,
			       "at byte %zu: expected a number for %%%c got \"%s\"", s, it->conv,
			       render(r->p + s, fend - s).s);
		return METRO_E_PROTO;
	}
	if (it->width && s + n != fend) {
		seterr(r->err, r->errlen,
		       "at byte %zu: unexpected \"%s\" in the %u-byte field of %%%c", s + n,
		       render(r->p + s + n, fend - s - n).s, it->width, it->conv);
		return METRO_E_PROTO;
	}
	if (convert_number(r->p + s, n, it->conv, v)) {
		seterr(r->err, r->errlen, "at byte %zu: number \"%s\" out of range for %%%c", s,
		       render(r->p + s, n).s, it->conv);
		return METRO_E_PROTO;
	}
	r->pos = s + n;
	return METRO_OK;
}

/* %s: exactly width bytes, or up to the first byte of the following literal (stop >= 0), or
 * to the end of the reply. */
static int parse_string(struct reply *r, const struct item *it, int stop,
			struct metro_line_value *v)
{
	size_t end;
	if (it->width) {
		if (r->len - r->pos < it->width) {
			seterr(r->err, r->errlen,
			       "at byte %zu: reply ends early, expected a %u-byte field for %%s",
			       r->pos, it->width);
			return METRO_E_PROTO;
		}
		end = r->pos + it->width;
	} else {
		end = r->pos;
		while (end < r->len && (stop < 0 || (unsigned char)r->p[end] != stop))
			end++;
	}
	for (size_t k = r->pos; k < end; k++) {
		if (!printable((unsigned char)r->p[k])) {
			seterr(r->err, r->errlen, "at byte %zu: non-printable byte %s in a string",
			       k, render_byte((unsigned char)r->p[k]).s);
			return METRO_E_PROTO;
		}
	}
	size_t n = end - r->pos;
	if (it->width)
		while (n > 0 && r->p[r->pos + n - 1] == ' ')
			n--;
	if (n >= sizeof v->s) {
		seterr(r->err, r->errlen, "at byte %zu: string longer than %d bytes", r->pos,
		       METRO_LINE_STR_MAX - 1);
		return METRO_E_PROTO;
	}
	v->type = METRO_LINE_STR;
	memcpy(v->s, r->p + r->pos, n);
	v->s[n] = '\0';
	r->pos = end;
	return METRO_OK;
}

int metro_line_parse(const struct metro_line_tmpl *t, const char *reply, size_t len,
		     struct metro_line_value *values, size_t *nvalues, char *err, size_t errlen)
{
	if (!t || (!reply && len) || !nvalues || (*nvalues && !values)) {
		seterr(err, errlen, "invalid arguments");
		return METRO_E_INVAL;
	}
	if (t->dir != METRO_LINE_IN) {
		*nvalues = 0;
		seterr(err, errlen, "a request template cannot parse a reply");
		return METRO_E_INVAL;
	}
	if (*nvalues < t->nvalues) {
		seterr(err, errlen, "template produces %zu values, room for %zu", t->nvalues,
		       *nvalues);
		*nvalues = 0;
		return METRO_E_INVAL;
	}
	struct reply r = {reply, len, 0, err, errlen};
	size_t begin = 0, k = 0;
	int rc = METRO_OK;
	for (size_t i = 0; i < t->nitems && !rc; i++) {
		const struct item *it = &t->items[i];
		struct metro_line_value scratch;
		struct metro_line_value *v;
		switch (it->kind) {
		case ITEM_LIT:
			rc = parse_lit(&r, t->lit + it->off, it->len);
			break;
		case ITEM_BEGIN:
			begin = r.pos;
			break;
		case ITEM_CSUM:
			rc = parse_csum(&r, it, begin);
			break;
		case ITEM_CONV:
			v = it->skip ? &scratch : &values[k];
			if (it->conv == 's') {
				/* Compilation guaranteed that a width-less %s is followed by
				 * a literal or nothing. */
				const struct item *nx = next_significant(t, i);
				int stop = -1;
				if (!it->width && nx && nx->kind == ITEM_LIT)
					stop = (unsigned char)t->lit[nx->off];
				rc = parse_string(&r, it, stop, v);
			} else {
				rc = parse_number(&r, it, v);
			}
			if (!it->skip)
				k++;
			break;
		}
	}
	if (!rc && r.pos < len) {
		seterr(err, errlen, "at byte %zu: unexpected trailing data \"%s\" (%zu bytes)",
		       r.pos, render(reply + r.pos, len - r.pos).s, len - r.pos);
		rc = METRO_E_PROTO;
	}
	*nvalues = rc ? 0 : k;
	return rc;
}

/* ---- framing and helpers --------------------------------------------------------------- */

int metro_line_frame(const char *buf, size_t len, const char *term, size_t termlen, size_t maxlen,
		     size_t *framelen)
{
	if (!term || !termlen || (!buf && len) || !framelen)
		return METRO_E_INVAL;
	size_t lim = maxlen > SIZE_MAX - termlen ? SIZE_MAX : maxlen + termlen;
	size_t n = len < lim ? len : lim;
	const char *hit = n ? memmem(buf, n, term, termlen) : NULL;
	if (hit) {
		*framelen = (size_t)(hit - buf);
		return 1;
	}
	return len >= lim ? METRO_E_PROTO : 0;
}

int metro_line_unescape(const char *s, char *out, size_t cap, size_t *len, char *err, size_t errlen)
{
	if (!s || !out || !cap || !len) {
		seterr(err, errlen, "invalid arguments");
		return METRO_E_INVAL;
	}
	size_t o = 0;
	for (size_t i = 0; s[i];) {
		unsigned char b = (unsigned char)s[i];
		size_t k = 1;
		if (b == '\\') {
			k = escape(s + i, &b);
			if (!k) {
				escape_error(s, i, err, errlen);
				return METRO_E_INVAL;
			}
		}
		if (o + 1 >= cap) {
			seterr(err, errlen, "longer than %zu bytes", cap - 1);
			return METRO_E_RANGE;
		}
		out[o++] = (char)b;
		i += k;
	}
	out[o] = '\0';
	*len = o;
	return METRO_OK;
}

int metro_line_set_str(struct metro_line_value *v, const char *s)
{
	size_t n = strlen(s);
	if (n >= sizeof v->s)
		return METRO_E_RANGE;
	v->type = METRO_LINE_STR;
	memcpy(v->s, s, n + 1);
	return METRO_OK;
}
