/* lineproto.h — serial line protocol templates, framing and checksums.
 *
 * Pure functions, no I/O: the serial-line driver formats a request with an output template,
 * writes it followed by the output terminator, collects bytes until metro_line_frame() finds
 * the input terminator, and parses the reply with an input template.  The template language
 * is in the spirit of EPICS StreamDevice but smaller; docs/drivers.md has the full reference.
 *
 * Template syntax (both directions)
 *   text        literal bytes: written as is on output, matched exactly on input
 *   \r \n \t \\ \xHH   escapes (HH two hex digits); any other backslash escape is an error
 *   %%          a literal '%'
 *   %<begin>    start of the checksum region (default: the first byte of the message)
 *   %<crc16>    Modbus CRC-16 (reflected poly 0xA001, init 0xFFFF) as 4 uppercase hex digits,
 *               the value most significant digit first (CRC 0xCDC5 is written "CDC5")
 *   %<lrc>      LRC: two's complement of the 8-bit sum, 2 hex digits
 *   %<sum8>     8-bit sum, 2 hex digits
 *   %<xor8>     8-bit XOR, 2 hex digits
 * A checksum covers the message bytes from the region start up to the checksum itself.
 * Templates are compiled for one direction, because the two directions differ:
 *
 * Output (METRO_LINE_OUT): %[-|0][W][.P]C with C one of d u x X f e E s.  Each conversion
 *   takes the next argument.  W pads to at least W bytes (right-aligned; '-' left-aligns, '0'
 *   pads numbers with zeros); it never truncates.  P is the number of decimals of f/e/E
 *   (default 6) and is refused for other conversions.
 * Input (METRO_LINE_IN): %[*][W]C with C one of d u x X f e E s; '*' skips the field without
 *   producing a value.  Without W a number is the longest match of its syntax after optional
 *   leading spaces; with W the field is exactly W bytes (leading spaces allowed in numeric
 *   fields, trailing spaces trimmed from strings).  %s without W takes everything up to the
 *   first byte of the literal text that follows it (so it may contain spaces), or the rest of
 *   the reply when it ends the template.  Input checksums read their hex digits (either case)
 *   and verify them.  Flags and precision are refused, and so is a conversion without width
 *   directly followed by another conversion or a checksum (the boundary would be a guess).
 *
 * Number syntax on input: %d [+-]digits; %u [+]digits; %x/%X hex digits without "0x";
 * %f/%e/%E [+-]digits[.digits][(e|E)[+-]digits] (a leading or trailing '.' is accepted when
 * there is at least one digit).  "nan", "inf" and values that overflow their type are errors:
 * a bad reply is an error, never a value.  Numbers are read and written in the C locale
 * whatever the process locale is.
 */
#ifndef METRO_LINEPROTO_H
#define METRO_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#define METRO_LINE_TMPL_MAX 1024 /* longest template source, bytes */
#define METRO_LINE_MAX_VALUES 32 /* most value conversions in one template */
#define METRO_LINE_WIDTH_MAX 127 /* largest field width */
#define METRO_LINE_PREC_MAX 17	 /* largest precision (enough to round-trip a double) */
#define METRO_LINE_STR_MAX 128	 /* a string value holds at most METRO_LINE_STR_MAX-1 bytes */

enum metro_line_dir {
	METRO_LINE_OUT, /* a request: formatted by metro_line_format() */
	METRO_LINE_IN,	/* a reply: parsed by metro_line_parse() */
};

enum metro_line_vtype {
	METRO_LINE_INT,	   /* i: produced by %d */
	METRO_LINE_UINT,   /* u: produced by %u and %x */
	METRO_LINE_DOUBLE, /* f: produced by %f and %e */
	METRO_LINE_STR,	   /* s: produced by %s, NUL-terminated */
};

/* One argument of metro_line_format() or one result of metro_line_parse().  Strings are held
 * inline so results never point into a receive buffer that is about to be reused. */
struct metro_line_value {
	enum metro_line_vtype type;
	union {
		int64_t i;
		uint64_t u;
		double f;
	};
	char s[METRO_LINE_STR_MAX];
};

struct metro_line_tmpl;

/* Compile template source tmpl for direction dir into *out (free with metro_line_destroy()).
 * Returns 0, or METRO_E_INVAL with *out set to NULL and a message in err naming the 1-based
 * byte column of the offending construct ("column 7: unknown conversion '%q'"). */
int metro_line_compile(const char *tmpl, enum metro_line_dir dir, struct metro_line_tmpl **out,
		       char *err, size_t errlen);

/* Free a template and set *t to NULL; takes NULL and a pointer to NULL. */
void metro_line_destroy(struct metro_line_tmpl **t);

/* Number of values the template takes (output) or produces (input; skipped fields do not
 * count). */
size_t metro_line_nvalues(const struct metro_line_tmpl *t);

/* Format an output template with nargs arguments into buf (always NUL-terminated on success;
 * the terminator is not added).  Integer conversions take INT and UINT arguments, and DOUBLE
 * ones that are integral; f/e take DOUBLE and integers exactly representable as doubles; %s
 * takes STR of printable ASCII only (so an argument can never inject a terminator).
 * Returns 0 with *len set; METRO_E_INVAL for a wrong template direction, argument count or
 * argument type; METRO_E_RANGE for a value the conversion cannot print (negative %u, NaN,
 * fraction for %d, non-printable string) or when buf (cap bytes, NUL included) is too small.
 * err (may be NULL) receives a message naming the argument. */
int metro_line_format(const struct metro_line_tmpl *t, const struct metro_line_value *args,
		      size_t nargs, char *buf, size_t cap, size_t *len, char *err, size_t errlen);

/* Parse reply[0..len) (without its terminator) with an input template.  On entry *nvalues is
 * the capacity of values[] (at least metro_line_nvalues(t), else METRO_E_INVAL); on success it
 * is the number stored.  Returns 0; METRO_E_INVAL for a wrong direction or capacity;
 * METRO_E_PROTO for any mismatch — wrong literal, missing or malformed number, number out of
 * range, string too long or not printable, checksum mismatch, reply too short, trailing bytes
 * — with a message in err naming the 0-based byte offset ("at byte 4: checksum mismatch:
 * expected CDC5 got CDC6").  On error *nvalues is 0 and values[] must not be used. */
int metro_line_parse(const struct metro_line_tmpl *t, const char *reply, size_t len,
		     struct metro_line_value *values, size_t *nvalues, char *err, size_t errlen);

/* Find a complete reply at the start of buf[0..len): the bytes before the first occurrence of
 * term[0..termlen).  Returns 1 with *framelen set to the reply length (the caller consumes
 * *framelen + termlen bytes); 0 when more bytes are needed; METRO_E_PROTO when no terminator
 * occurs within maxlen + termlen bytes (an oversized reply: the caller should flush);
 * METRO_E_INVAL when termlen is 0. */
int metro_line_frame(const char *buf, size_t len, const char *term, size_t termlen, size_t maxlen,
		     size_t *framelen);

/* Decode the template escapes (\r \n \t \\ \xHH) of s, e.g. a terminator written "\r\n" in a
 * profile, into out (cap bytes, NUL-terminated; *len excludes the NUL, and the result may hold
 * NUL bytes).  Returns 0, METRO_E_INVAL (bad escape, message with the column in err) or
 * METRO_E_RANGE (out too small). */
int metro_line_unescape(const char *s, char *out, size_t cap, size_t *len, char *err,
			size_t errlen);

/* Store a string argument; METRO_E_RANGE when s has METRO_LINE_STR_MAX bytes or more. */
int metro_line_set_str(struct metro_line_value *v, const char *s);

/* The checksums, over n bytes at p. */
uint16_t metro_line_crc16(const void *p, size_t n); /* Modbus CRC-16 */
uint8_t metro_line_lrc(const void *p, size_t n);    /* (-sum) mod 256 */
uint8_t metro_line_sum8(const void *p, size_t n);   /* sum mod 256 */
uint8_t metro_line_xor8(const void *p, size_t n);   /* XOR of all bytes */

#endif
