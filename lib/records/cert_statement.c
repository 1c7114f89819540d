/* cert_statement.c — the signed statement of a certificate step and its Ed25519 signature
 * (cert_statement.h, docs/records.md "Certificate steps"). */
#include "cert_statement.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "error.h"
#include "util.h"

#define VALUE_MAX 1024

static const char *const step_names[METRO_CERT_NSTEPS] = {
	"verified", "checked", "approved", "issued", "voided",
};

const char *metro_cert_step_name(enum metro_cert_step_kind k)
{
	return (unsigned)k < METRO_CERT_NSTEPS ? step_names[k] : NULL;
}

int metro_cert_step_parse(const char *name, enum metro_cert_step_kind *out)
{
	for (unsigned i = 0; name && i < METRO_CERT_NSTEPS; i++) {
		if (!strcmp(name, step_names[i])) {
			*out = (enum metro_cert_step_kind)i;
			return METRO_OK;
		}
	}
	return METRO_E_INVAL;
}

static int digits(const char *p, int n)
{
	for (int i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

int metro_cert_time_ok(const char *t)
{
	/* YYYY-MM-DDTHH:MM:SS */
	if (!t || strlen(t) < 20 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) ||
	    t[7] != '-' || !digits(t + 8, 2) || t[10] != 'T' || !digits(t + 11, 2) ||
	    t[13] != ':' || !digits(t + 14, 2) || t[16] != ':' || !digits(t + 17, 2))
		return 0;
	int mo = (t[5] - '0') * 10 + t[6] - '0', d = (t[8] - '0') * 10 + t[9] - '0';
	int h = (t[11] - '0') * 10 + t[12] - '0', mi = (t[14] - '0') * 10 + t[15] - '0';
	int s = (t[17] - '0') * 10 + t[18] - '0';
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return 0;
	const char *p = t + 19;
	if (*p == '.') {
		int n = 0;
		while (p[1 + n] >= '0' && p[1 + n] <= '9')
			n++;
		if (n < 1 || n > 9)
			return 0;
		p += 1 + n;
	}
	return p[0] == 'Z' && p[1] == '\0';
}

/* Valid UTF-8 (shortest forms, no surrogates, at most U+10FFFF) without control
 * characters, 1..VALUE_MAX bytes. */
static int value_ok(const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = strlen(v);
	if (!len || len > VALUE_MAX)
		return 0;
	while (*p) {
		unsigned c = *p;
		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		int n;
		unsigned cp;
		if ((c & 0xe0) == 0xc0)
			n = 1, cp = c & 0x1f;
		else if ((c & 0xf0) == 0xe0)
			n = 2, cp = c & 0x0f;
		else if ((c & 0xf8) == 0xf0)
			n = 3, cp = c & 0x07;
		else
			return 0;
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		static const unsigned minimum[] = {0, 0x80, 0x800, 0x10000};
		if (cp < minimum[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		p += n + 1;
	}
	return 1;
}

struct buf {
	char *p;
	size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = 2 * (b->n + n + 1);
		b->p = metro_realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* ,"key":"value" with " and \ escaped (the only characters that need it here). */
static void member(struct buf *b, const char *key, const char *value)
{
	put(b, b->n > 1 ? ",\"" : "\"", b->n > 1 ? 2 : 1);
	put(b, key, strlen(key));
	put(b, "\":\"", 3);
	for (const char *v = value; *v; v++) {
		if (*v == '"' || *v == '\\')
			put(b, "\\", 1);
		put(b, v, 1);
	}
	put(b, "\"", 1);
}

char *metro_cert_statement(const char *station, const char *number, const char *step,
			   const char *person_id, const char *time_iso, const char *why,
			   const char *replaces)
{
	enum metro_cert_step_kind k;
	if (why && !*why)
		why = NULL;
	if (replaces && !*replaces)
		replaces = NULL;
	if (!station || !number || !step || !person_id || !time_iso || !value_ok(station) ||
	    !value_ok(number) || metro_cert_step_parse(step, &k) || !value_ok(person_id) ||
	    !metro_cert_time_ok(time_iso) || (why && !value_ok(why)) ||
	    (replaces && !value_ok(replaces)))
		return NULL;
	struct buf b = {0};
	put(&b, "{", 1);
	/* keys in bytewise order */
	member(&b, "number", number);
	member(&b, "person", person_id);
	if (replaces)
		member(&b, "replaces", replaces);
	member(&b, "schema", METRO_CERT_STATEMENT_SCHEMA);
	member(&b, "station", station);
	member(&b, "step", step);
	member(&b, "time", time_iso);
	if (why)
		member(&b, "why", why);
	put(&b, "}", 1);
	return b.p;
}

int metro_cert_sign(const char *statement, const unsigned char sk[64],
		    char sig_hex[METRO_CERT_SIG_HEX])
{
	unsigned char sig[crypto_sign_BYTES];
	sig_hex[0] = '\0';
	if (!statement || sodium_init() < 0)
		return METRO_E_INVAL;
	crypto_sign_detached(sig, NULL, (const unsigned char *)statement, strlen(statement), sk);
	metro_audit_hex(sig, sizeof sig, sig_hex);
	return METRO_OK;
}

int metro_cert_verify(const char *statement, const char *sig_hex, const unsigned char pk[32])
{
	unsigned char sig[crypto_sign_BYTES];
	if (!statement || !sig_hex || metro_audit_unhex(sig_hex, strlen(sig_hex), sig, sizeof sig))
		return METRO_E_INVAL;
	if (sodium_init() < 0)
		return METRO_E_CORRUPT;
	return crypto_sign_verify_detached(sig, (const unsigned char *)statement, strlen(statement),
					   pk)
		       ? METRO_E_CORRUPT
		       : METRO_OK;
}
