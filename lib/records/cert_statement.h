/* cert_statement.h — the text a person signs for one step of a certificate's workflow
 * (verified, checked, approved, issued, voided), built by ONE function that the signer
 * (metroctl) and every verifier (the store when it records the step, metroctl audit verify)
 * call, and the Ed25519 signature over it.  No SQLite here: any program may include it.
 *
 * The statement (docs/records.md "Certificate steps") is a compact JSON object with its keys
 * sorted bytewise and absent values left out:
 *
 *   {"number":"lab-2026-000042","person":"li.wei","schema":"metrod.certificate-step/1",
 *    "station":"lab","step":"checked","time":"2026-11-28T14:10:29Z"}
 *
 * keys number, person, replaces (only when given), schema (always
 * "metrod.certificate-step/1"), station, step, time, why (only when given).  Every value is a
 * JSON string of valid UTF-8 with no control character (U+0000..U+001F, U+007F), so the only
 * escapes are \" and \\; a value that breaks that rule is refused, never escaped otherwise.
 * The bytes signed are exactly the statement's UTF-8 bytes, without a trailing newline. */
#ifndef METRO_CERT_STATEMENT_H
#define METRO_CERT_STATEMENT_H

#include <stddef.h>

#define METRO_CERT_STATEMENT_SCHEMA "metrod.certificate-step/1"
#define METRO_CERT_SIG_HEX 129 /* an Ed25519 signature in hex, with its NUL */

/* The steps of a certificate or notice, in the order they must happen (voided only after
 * issued).  metro_cert_step_name() gives the names the records use. */
enum metro_cert_step_kind {
	METRO_CERT_VERIFIED = 0, /* 检定员: the verifier signs the result */
	METRO_CERT_CHECKED,	 /* 核验员: another person checked it */
	METRO_CERT_APPROVED,	 /* 批准人: approved */
	METRO_CERT_ISSUED,	 /* 批准人: issued (printable from now on) */
	METRO_CERT_VOIDED,	 /* withdrawn after issue, with a reason */
};
#define METRO_CERT_NSTEPS 5

/* "verified", "checked", "approved", "issued", "voided"; NULL out of range. */
const char *metro_cert_step_name(enum metro_cert_step_kind k);
/* The step named name.  Returns 0 and *out, or METRO_E_INVAL. */
int metro_cert_step_parse(const char *name, enum metro_cert_step_kind *out);

/* Nonzero when t is a wall time as statements carry it: ISO 8601 UTC
 * "YYYY-MM-DDTHH:MM:SS" with an optional fraction of 1..9 digits and a final "Z". */
int metro_cert_time_ok(const char *t);

/* The canonical statement (malloc'd; the caller frees), or NULL when an argument breaks the
 * rules: station, number, step (a step name), person_id and time_iso (metro_cert_time_ok) are
 * required; why and replaces may be NULL (an empty string counts as NULL); every value valid
 * UTF-8 without control characters, at most 1024 bytes. */
char *metro_cert_statement(const char *station, const char *number, const char *step,
			   const char *person_id, const char *time_iso, const char *why,
			   const char *replaces);

/* Sign a statement with an Ed25519 secret key (libsodium's 64-byte form): sig_hex gets 128
 * lowercase hex digits.  Returns 0, or METRO_E_INVAL (no statement). */
int metro_cert_sign(const char *statement, const unsigned char sk[64],
		    char sig_hex[METRO_CERT_SIG_HEX]);
/* Check a signature (128 hex digits, either case) of statement under the Ed25519 public key
 * pk.  Returns 0, or METRO_E_INVAL (not 128 hex digits) or METRO_E_CORRUPT (does not
 * verify). */
int metro_cert_verify(const char *statement, const char *sig_hex, const unsigned char pk[32]);

#endif
