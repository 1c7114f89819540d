/* codec.h — the Modbus register codec: engineering values to and from 16-bit registers.
 *
 * Pure functions, no I/O.  A rig profile describes each channel with a struct metro_codec
 * (type, word/byte order, bit field, string length, scale, offset); the Modbus driver reads the
 * registers and hands them here.  We do not use libmodbus's float helpers: they do not
 * round-trip in every order, and we need exact, documented behaviour at every boundary.
 *
 * Registers.  A register is the uint16_t value libmodbus returns, i.e. the two bytes that were
 * on the wire high byte first.  "Byte A" is the most significant byte of the value, so for a
 * 32-bit value 0xAABBCCDD the bytes are A=AA, B=BB, C=CC, D=DD; for a 64-bit value the bytes
 * are A..H, most significant first.
 *
 * Orders are two independent flags, word swap and byte swap:
 *
 *   order  word swap  byte swap   32-bit 0xAABBCCDD      64-bit 0x1122334455667788
 *   ABCD   no         no          {0xAABB, 0xCCDD}       {0x1122, 0x3344, 0x5566, 0x7788}
 *   CDAB   yes        no          {0xCCDD, 0xAABB}       {0x7788, 0x5566, 0x3344, 0x1122}
 *   BADC   no         yes         {0xBBAA, 0xDDCC}       {0x2211, 0x4433, 0x6655, 0x8877}
 *   DCBA   yes        yes         {0xDDCC, 0xBBAA}       {0x8877, 0x6655, 0x4433, 0x2211}
 *
 * ABCD is big-endian, the Modbus standard: the first register is the most significant.  Word
 * swap reverses the order of all registers of the value (for 64-bit values: the least
 * significant register comes first, not merely the two halves swapped).  Byte swap exchanges
 * the two bytes inside every register.  DCBA is therefore the value fully little-endian.
 *
 * One-register types (u16, i16, bits) have no word order: CDAB behaves as ABCD and DCBA as
 * BADC, i.e. only the byte-swap flag matters.  A string is a sequence of independent
 * two-character registers, so the same holds: word swap has no effect; without byte swap the
 * first character of each register is in its high byte, with byte swap in its low byte.
 *
 * Scale and offset.  engineering = raw * scale + offset, computed with one rounding (fma).
 * Encoding computes raw = (engineering - offset) / scale and then, for integer types:
 *
 *   - NaN or infinity (of the value or of raw) is refused with METRO_E_RANGE;
 *   - raw is rounded to an integer half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2), by explicit
 *     arithmetic, not by the current floating-point rounding mode.  By construction the
 *     rounded raw differs from the exact raw by at most half a raw unit, i.e. by at most
 *     |scale| / 2 in engineering units; the encoder re-checks this after rounding and reports
 *     METRO_E_RANGE should it ever not hold.  Callers that must not quantise at all compare
 *     the decoded value with what they asked for;
 *   - the rounded raw is checked against the type's range (u16 0..65535, i16 -32768..32767,
 *     ...): out of range is METRO_E_RANGE, never wrapped and never clamped.  Note that the
 *     check follows rounding, so 65535.5 does not fit a u16 while 65535.4 does.
 *
 * For f32, a finite raw beyond ±FLT_MAX is METRO_E_RANGE (never silently infinity); smaller
 * values round to the nearest float (tiny values may become subnormal or zero).  NaN and
 * infinity are refused for every type on encode.
 *
 * Decoding a float register holding NaN or ±infinity returns METRO_E_RANGE: a bad reading is an
 * error, never a value.  A channel whose profile explicitly allows such values uses
 * metro_codec_decode_raw(), which reports the raw bits faithfully (NaN included).
 *
 * 64-bit integers.  A double holds every integer up to 2^53 exactly, and only some beyond.
 * metro_codec_decode() of a u64 or i64 returns METRO_E_RANGE when the raw integer is not
 * exactly representable as a double (e.g. 2^53 + 1), rather than silently rounding a counter;
 * integers that happen to be representable (2^60, -2^63) decode normally.  Use
 * metro_codec_decode_raw() / metro_codec_encode_raw() for exact 64-bit values.
 *
 * Bit fields.  A "bits" channel is bit_width bits (1..16) starting at bit bit_offset (0 = least
 * significant) of one register, after the byte-swap flag is applied; the field is unsigned.
 * Encoding a bit field changes only the field's bits of regs[0]: the caller passes the
 * register's current content (read-modify-write) and writes the register back.
 *
 * Strings.  str_len characters in (str_len + 1) / 2 registers, printable ASCII (0x20..0x7e).
 * Decoding stops at the first NUL (bytes after it are ignored: devices often leave old buffer
 * content there), then trailing spaces are removed.  Any other byte (control characters, bytes
 * >= 0x80) is METRO_E_RANGE.  Encoding pads with NUL up to str_len characters and, for an odd
 * str_len, fills the unused half of the last register with NUL.
 *
 * Errors common to all functions: METRO_E_INVAL for an invalid struct metro_codec (see
 * metro_codec_check()), a wrong register count (nregs must equal metro_codec_type_words()) or
 * a function that does not fit the type (decode() of a string, decode_str() of a number).
 * On any error the output parameters are left untouched.
 */
#ifndef METRO_CODEC_H
#define METRO_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum metro_codec_type {
	METRO_CODEC_U16,
	METRO_CODEC_I16,
	METRO_CODEC_U32,
	METRO_CODEC_I32,
	METRO_CODEC_U64,
	METRO_CODEC_I64,
	METRO_CODEC_F32,
	METRO_CODEC_F64,
	METRO_CODEC_BITS,
	METRO_CODEC_STRING,
};
#define METRO_CODEC_NTYPES 10

enum metro_codec_order {
	METRO_CODEC_ABCD,
	METRO_CODEC_CDAB,
	METRO_CODEC_BADC,
	METRO_CODEC_DCBA,
};
#define METRO_CODEC_NORDERS 4

/* Longest string channel, in characters (a limit on profiles, not on the protocol, which
 * allows 125 registers per read). */
#define METRO_CODEC_STR_MAX 240

/* How one channel is encoded.  bit_offset/bit_width only for METRO_CODEC_BITS, str_len only
 * for METRO_CODEC_STRING (both must be 0 otherwise, so a profile mistake is caught).  scale
 * must be finite and nonzero, offset finite; both are ignored for strings. */
struct metro_codec {
	enum metro_codec_type type;
	enum metro_codec_order order;
	unsigned bit_offset, bit_width;
	unsigned str_len;
	double scale, offset;
};

/* An exact raw value: which member is valid is given by kind.  Unsigned types (u16, u32,
 * u64, bits) give UINT, signed types give INT, f32 and f64 give FLOAT (an f32 widened to
 * double, which is exact). */
enum metro_codec_raw_kind {
	METRO_CODEC_RAW_UINT,
	METRO_CODEC_RAW_INT,
	METRO_CODEC_RAW_FLOAT,
};

struct metro_codec_raw {
	enum metro_codec_raw_kind kind;
	union {
		uint64_t u;
		int64_t i;
		double f;
	};
};

/* Fill *c for type and order with scale 1, offset 0 and no bit field or string length. */
void metro_codec_init(struct metro_codec *c, enum metro_codec_type type,
		      enum metro_codec_order order);

/* 0 when *c is consistent, else METRO_E_INVAL: unknown type or order; a bit field outside
 * 1 <= bit_width, bit_offset + bit_width <= 16; a string with str_len 0 or above
 * METRO_CODEC_STR_MAX; bit or string fields set for another type; scale zero or not finite;
 * offset not finite. */
int metro_codec_check(const struct metro_codec *c);

/* Name <-> enum, exact and case-sensitive: "u16" "i16" "u32" "i32" "u64" "i64" "f32" "f64"
 * "bits" "string"; "ABCD" "CDAB" "BADC" "DCBA".  parse returns 0 or METRO_E_INVAL (and
 * leaves *out untouched); the name functions return "?" for a value outside the enum. */
int metro_codec_parse_type(const char *name, enum metro_codec_type *out);
int metro_codec_parse_order(const char *name, enum metro_codec_order *out);
const char *metro_codec_type_name(enum metro_codec_type type);
const char *metro_codec_order_name(enum metro_codec_order order);

/* Number of registers a value of this type occupies: 1, 2 or 4, or (str_len + 1) / 2 for a
 * string (str_len is ignored for other types).  0 for an unknown type, a string of length 0
 * or one longer than METRO_CODEC_STR_MAX. */
unsigned metro_codec_type_words(enum metro_codec_type type, unsigned str_len);

/* Registers -> engineering value (raw * scale + offset).  Returns 0, METRO_E_INVAL (see the
 * top of this file; strings must use decode_str) or METRO_E_RANGE: a float register holds NaN
 * or infinity, a 64-bit integer is not exactly representable as a double, or raw * scale +
 * offset overflows to infinity. */
int metro_codec_decode(const struct metro_codec *c, const uint16_t *regs, size_t nregs,
		       double *out);

/* Engineering value -> registers, with the rounding and range rules at the top of this file.
 * regs[0..nregs) is written only on success; for a bit field only the field's bits of regs[0]
 * change.  Returns 0, METRO_E_INVAL or METRO_E_RANGE. */
int metro_codec_encode(const struct metro_codec *c, double value, uint16_t *regs, size_t nregs);

/* Registers -> exact raw value, ignoring scale and offset and never refusing NaN or
 * infinity (this is how a channel that allows them reads them).  Not for strings.  The one
 * inexactness: an f32 signalling NaN is widened to double and so comes back quiet. */
int metro_codec_decode_raw(const struct metro_codec *c, const uint16_t *regs, size_t nregs,
			   struct metro_codec_raw *out);

/* Exact raw value -> registers, ignoring scale and offset.  Integer types accept UINT and INT
 * raws and refuse values outside the type's range with METRO_E_RANGE (no rounding, no
 * wrapping); a FLOAT raw for an integer type is METRO_E_INVAL.  f32 and f64 accept only FLOAT
 * raws; f32 rounds to nearest and refuses finite values beyond ±FLT_MAX with METRO_E_RANGE.
 * NaN and infinity are written as given (raw is raw).  Bit fields change only their bits. */
int metro_codec_encode_raw(const struct metro_codec *c, const struct metro_codec_raw *raw,
			   uint16_t *regs, size_t nregs);

/* String registers -> NUL-terminated text in out (cap >= str_len + 1, else METRO_E_INVAL).
 * Returns 0, METRO_E_INVAL or METRO_E_RANGE (a byte that is neither printable ASCII nor a
 * NUL terminator). */
int metro_codec_decode_str(const struct metro_codec *c, const uint16_t *regs, size_t nregs,
			   char *out, size_t cap);

/* Text -> string registers, NUL padded.  METRO_E_RANGE when s is longer than str_len or holds
 * a byte outside printable ASCII. */
int metro_codec_encode_str(const struct metro_codec *c, const char *s, uint16_t *regs,
			   size_t nregs);

#endif
