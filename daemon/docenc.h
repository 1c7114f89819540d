/* docenc.h — encoding of the documents published at sampling rate (readings).
 *
 * A reading goes out once per tick per rig: at 1 kHz on 32 rigs that is 32,000 documents a
 * second, and building a jansson tree, formatting every double with printf and parsing it
 * again on the main thread cost ten times what libzmq needs to send it (docs/protocol.md,
 * "Publishing cost").  So readings take a short path:
 *
 *   - the rig actor encodes the tick's body once, from pre-quoted channel names (quoted by
 *     jansson at start, so no escaping is written here) and its own number formatting;
 *   - the main thread puts the stamp (schema, station, time, rig, seq) in front of that body
 *     without parsing it, and sends.
 *
 * Numbers are written exactly as jansson writes them with JSON_REAL_PRECISION(12) — the
 * "%.12g" digits, correctly rounded (ties to even), with jansson's ".0" and exponent forms —
 * so a reading reads the same whichever path produced it; tests/unit/test_docenc.c compares
 * the two over millions of values.  Everything else (results, verdicts, runs, health) is
 * rare and keeps the jansson path.
 */
#ifndef METRO_DOCENC_H
#define METRO_DOCENC_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; always NUL-terminated once anything was put in it. */
struct metro_buf {
	char *p;
	size_t len, cap;
};

void metro_buf_put(struct metro_buf *b, const char *s, size_t n);
void metro_buf_free(struct metro_buf *b);

/* The longest text metro_fmt_real() writes, with its NUL. */
#define METRO_REAL_MAX 32

/* Write a finite double as jansson would with JSON_REAL_PRECISION(12); returns the length,
 * or 0 for NaN and infinities (which JSON cannot carry: the value is left out, as jansson's
 * json_real() leaves it out). */
size_t metro_fmt_real(double v, char out[METRO_REAL_MAX]);

/* A string as a JSON string literal, quotes included, escaped by jansson; caller frees. */
char *metro_json_quote(const char *s);

/* The body of a reading: "tick":N,"read_ns":N,"values":{"name":v,...} — no braces around
 * it, the stamp goes in front (metro_stamp_document). */
struct metro_reading_enc {
	char **keys; /* "name": */
	size_t *klen;
	size_t n, max; /* channels; the longest body they can make */
	struct metro_buf buf;
};

void metro_reading_enc_init(struct metro_reading_enc *e, const char *const *names, size_t n);
/* Encode one tick (values[n], n as at init); returns the body, valid until the next call. */
const char *metro_reading_encode(struct metro_reading_enc *e, uint64_t tick, int64_t read_ns,
				 const double *values, size_t *len);
void metro_reading_enc_free(struct metro_reading_enc *e);

/* The publisher's stamp: {"schema":"metrod.<kind>/1","station":..,"time":..,"rig":..,
 * "seq":N, + body + }.  The station is quoted once; the time's date and second part is
 * formatted once a second. */
struct metro_stamp {
	char *station_q; /* NULL: not set up */
	size_t station_qlen;
	int64_t sec;   /* the second date[] holds */
	char date[24]; /* "YYYY-MM-DDTHH:MM:SS." */
	struct metro_buf buf;
};

void metro_stamp_init(struct metro_stamp *st, const char *station);
/* rig_q is the rig id already quoted (metro_json_quote); returns the whole document, valid
 * until the next call. */
const char *metro_stamp_document(struct metro_stamp *st, const char *kind, const char *rig_q,
				 int64_t seq, const char *body, size_t body_len, size_t *len);
/* Takes a zeroed stamp. */
void metro_stamp_free(struct metro_stamp *st);

#endif
