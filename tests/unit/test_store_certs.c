/* Unit tests of people and the certificate workflow in the record store (schema 4, #17;
 * docs/records.md "People" and "Certificate steps"): the signed statement pinned against an
 * independent implementation (python3-cryptography), the person registry (added, changed with
 * old and new values per field, unchanged, retired, refused), the steps in order and every
 * refusal, voiding and reissue, a schema-3 file migrated, and the verifier's checks of the
 * steps (an edited step, a key swapped in, a later key change that must not matter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cert_statement.h"
#include "error.h"
#include "log.h"
#include "person.h"
#include "store.h"
#include "store_report.h"
#include "testutil.h"
#include "util.h"

#define STATION "test-lab"
#define PROC "jjg577-gas-initial"
#define EXE_SHA "aa00000000000000000000000000000000000000000000000000000000000001"

/* ---- the statement ------------------------------------------------------------------------- */

/* The statement and its signature by the key of seed 01 02 .. 20, as python3-cryptography and
 * json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) make them. */
static void test_statement_pinned(void **state)
{
	(void)state;
	char *t = metro_cert_statement("lab", "lab-2026-000042", "voided", "li.wei",
				       "2026-11-28T14:10:29.5Z", "a \"typo\" in C:\\ 型号", "");
	assert_non_null(t);
	assert_string_equal(t, "{\"number\":\"lab-2026-000042\",\"person\":\"li.wei\","
			       "\"schema\":\"metrod.certificate-step/1\",\"station\":\"lab\","
			       "\"step\":\"voided\",\"time\":\"2026-11-28T14:10:29.5Z\","
			       "\"why\":\"a \\\"typo\\\" in C:\\\\ 型号\"}");
	unsigned char seed[32], pk[32], sk[64];
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(i + 1);
	crypto_sign_seed_keypair(pk, sk, seed);
	char hex[65], sig[METRO_CERT_SIG_HEX];
	metro_audit_hex(pk, 32, hex);
	assert_string_equal(hex,
			    "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664");
	assert_int_equal(metro_cert_sign(t, sk, sig), 0);
	assert_string_equal(sig,
			    "dcf42581a9553aee182bde086eb0a852cf7225a237dad0b658b194925a012d91"
			    "c1bd1de72cac876c55dbe983fef30c19085159683d2d3fb11fbe43690cdf3505");
	assert_int_equal(metro_cert_verify(t, sig, pk), 0);
	t[10] ^= 1;
	assert_int_equal(metro_cert_verify(t, sig, pk), METRO_E_CORRUPT);
	free(t);
	/* replaces sorts between person and schema */
	t = metro_cert_statement("s", "n", "verified", "p", "2026-01-01T00:00:00Z", NULL, "old");
	assert_string_equal(t,
			    "{\"number\":\"n\",\"person\":\"p\",\"replaces\":\"old\",\"schema\":"
			    "\"metrod.certificate-step/1\",\"station\":\"s\",\"step\":\"verified\","
			    "\"time\":\"2026-01-01T00:00:00Z\"}");
	free(t);
	/* refused: each rule once */
	assert_null(metro_cert_statement("s", "n", "signed", "p", "2026-01-01T00:00:00Z", 0, 0));
	assert_null(metro_cert_statement("s", "n", "checked", "p", "2026-01-01 00:00:00Z", 0, 0));
	assert_null(metro_cert_statement("s", "n", "checked", "p", "2026-01-01T00:00:00", 0, 0));
	assert_null(metro_cert_statement("s", "n", "checked", "p", "2026-13-01T00:00:00Z", 0, 0));
	assert_null(metro_cert_statement("s", "n", "checked", "p", "2026-01-01T00:00:00.Z", 0, 0));
	assert_null(metro_cert_statement("s", "", "checked", "p", "2026-01-01T00:00:00Z", 0, 0));
	assert_null(metro_cert_statement("s", "n", "checked", NULL, "2026-01-01T00:00:00Z", 0, 0));
	assert_null(
		metro_cert_statement("s", "n", "voided", "p", "2026-01-01T00:00:00Z", "a\nb", 0));
	assert_null(metro_cert_statement("s", "n", "voided", "p", "2026-01-01T00:00:00Z",
					 "\xc0\xaf", 0));
	assert_null(
		metro_cert_statement("s", "n", "voided", "p", "2026-01-01T00:00:00Z", "\x7f", 0));
	char big[1100];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_null(metro_cert_statement("s", "n", "voided", "p", "2026-01-01T00:00:00Z", big, 0));
	enum metro_person_role r;
	assert_int_equal(metro_person_role_parse("checker", &r), 0);
	assert_int_equal(r, METRO_PERSON_CHECKER);
	assert_string_equal(metro_person_role_name(METRO_PERSON_MANAGER), "manager");
	assert_null(metro_person_role_name(METRO_PERSON_CHECKER | METRO_PERSON_VERIFIER));
	assert_int_equal(metro_person_role_parse("Checker", &r), METRO_E_INVAL);
}

/* ---- fixture ------------------------------------------------------------------------------- */

/* The people of the tests: index i has the key of seed (i+1) repeated. */
enum { LI, WANG, ZHAO, CHEN, NPEOPLE };
static const char *const ids[NPEOPLE] = {"li.wei", "wang.fang", "zhao.min", "chen.jie"};
static const char *const names[NPEOPLE] = {"李伟", "王芳", "赵敏", "陈杰"};

struct fx {
	char *dir, *db;
	struct metro_store *s;
	int64_t proc;
	struct metro_person people[NPEOPLE];
	unsigned char sk[NPEOPLE + 1][64]; /* the last: a stranger's key */
	char *procs[NPEOPLE][2];
};

static void now_iso(char buf[32], int offset_s)
{
	time_t t = time(NULL) + offset_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int open_at(struct fx *f, int max_schema, char *err, size_t cap)
{
	struct metro_store_opts o = {.path = f->db, .station = STATION, .max_schema = max_schema};
	return metro_store_open(&o, &f->s, err, cap);
}

static void setup_fx(struct fx *f, int max_schema)
{
	char err[512];
	memset(f, 0, sizeof *f);
	f->dir = tu_tmpdir();
	f->db = metro_asprintf("%s/records.db", f->dir);
	if (open_at(f, max_schema, err, sizeof err))
		fail_msg("open: %s", err);
	struct metro_standard_conf std;
	memset(&std, 0, sizeof std);
	std.id = "std-a";
	std.certificate = "CERT-A-1";
	std.calibrated = tu_days_from_now(-10);
	std.due = tu_days_from_now(100);
	std.uncertainty_pct = 0.2;
	std.k = 2;
	assert_int_equal(metro_store_sync_standards(f->s, &std, 1), 0);
	const char text[] = "regulation: {id: TEST}\npoints: [Q3]\n";
	assert_int_equal(metro_store_procedure(f->s, PROC, text, strlen(text), NULL, &f->proc), 0);
	static const unsigned roles[NPEOPLE] = {
		METRO_PERSON_VERIFIER | METRO_PERSON_OPERATOR,
		METRO_PERSON_CHECKER | METRO_PERSON_VERIFIER,
		METRO_PERSON_APPROVER,
		METRO_PERSON_MANAGER,
	};
	for (int i = 0; i <= NPEOPLE; i++) {
		unsigned char seed[32], pk[32];
		memset(seed, i + 1, sizeof seed);
		crypto_sign_seed_keypair(pk, f->sk[i], seed);
		if (i == NPEOPLE)
			break;
		struct metro_person *p = &f->people[i];
		p->id = (char *)ids[i];
		p->name = (char *)names[i];
		p->roles = roles[i];
		p->qualification = i < 2 ? metro_asprintf("JDY-%d", i + 1) : NULL;
		p->qualification_due = i < 2 ? tu_days_from_now(300) : (struct metro_date){0, 0, 0};
		f->procs[i][0] = "jjg577-*";
		f->procs[i][1] = "jjg162-water";
		p->procedures = f->procs[i];
		p->nprocedures = i < 2 ? 2 : 0;
		memcpy(p->sign_pk, pk, 32);
		p->line = (unsigned)i + 1;
	}
}

static void teardown_fx(struct fx *f)
{
	metro_store_close(&f->s);
	for (int i = 0; i < NPEOPLE; i++)
		free(f->people[i].qualification);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->db);
}

/* A finished one-meter run with verdict `verdict`; returns the run. */
static int64_t run_with_verdict(struct fx *f, const char *serial, const char *verdict)
{
	static const char *const stds[] = {"std-a"};
	struct metro_store_meter m = {1, serial, "M1", "Maker", "PA-1", "2", NULL};
	struct metro_store_run r = {.rig = "rig-1",
				    .procedure = f->proc,
				    .software_version = "0.1.0",
				    .software_sha256 = EXE_SHA,
				    .verification_type = "initial",
				    .operator_id = "li.wei",
				    .simulated = 1,
				    .standards = stds,
				    .nstandards = 1,
				    .meters = &m,
				    .nmeters = 1};
	int64_t run = 0;
	if (metro_store_run_begin(f->s, &r, &run))
		fail_msg("run_begin: %s", metro_store_errmsg(f->s));
	struct metro_store_verdict v = {.run = run,
					.position = 1,
					.verdict = verdict,
					.rule = "procedure",
					.actor = "metrod"};
	assert_int_equal(metro_store_verdict(f->s, &v, NULL), 0);
	assert_int_equal(metro_store_run_end(f->s, run, "done", NULL), 0);
	return run;
}

/* Sign and record a step by person who (key: key index, normally who).  Returns the result;
 * code gets the refusal code. */
static int step_as(struct fx *f, const char *number, const char *step, int who, int key,
		   const char *why, const char *replaces, char code[METRO_STORE_CODE_MAX])
{
	char t[32], sig[METRO_CERT_SIG_HEX];
	now_iso(t, 0);
	char *st = metro_cert_statement(STATION, number, step, ids[who], t, why, replaces);
	assert_non_null(st);
	assert_int_equal(metro_cert_sign(st, f->sk[key], sig), 0);
	free(st);
	struct metro_cert_step q = {number, step, ids[who], t, why, replaces, sig};
	return metro_store_cert_step(f->s, &q, code);
}

static void ok_step(struct fx *f, const char *number, const char *step, int who, const char *why,
		    const char *replaces)
{
	char code[METRO_STORE_CODE_MAX];
	if (step_as(f, number, step, who, who, why, replaces, code))
		fail_msg("%s of %s by %s refused (%s): %s", step, number, ids[who], code,
			 metro_store_errmsg(f->s));
}

/* The step is refused with code and a message containing `says`. */
static void refused(struct fx *f, const char *number, const char *step, int who, int key,
		    const char *why, const char *replaces, const char *code, const char *says)
{
	char got[METRO_STORE_CODE_MAX];
	int rc = step_as(f, number, step, who, key, why, replaces, got);
	if (!rc || strcmp(got, code) != 0 || !strstr(metro_store_errmsg(f->s), says))
		fail_msg("%s of %s by %s: rc %d code '%s' (%s), wanted '%s' saying '%s'", step,
			 number, ids[who], rc, got, metro_store_errmsg(f->s), code, says);
}

static sqlite3 *raw(struct fx *f)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	return h;
}

static int64_t raw_int(struct fx *f, const char *sql)
{
	sqlite3 *h = raw(f);
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static char *raw_text(struct fx *f, const char *sql)
{
	sqlite3 *h = raw(f);
	sqlite3_stmt *st;
	char *v = NULL;
	if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = metro_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return v;
}

static void raw_exec(struct fx *f, const char *sql)
{
	sqlite3 *h = raw(f);
	char *e = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &e) != SQLITE_OK)
		fail_msg("%s: %s", sql, e);
	sqlite3_close(h);
}

/* Verify with the station key; the checks of the failures (comma-separated) into checks. */
static int verify(struct fx *f, char *checks, size_t cap, char *first, size_t fcap)
{
	struct metro_audit_opts o;
	struct metro_audit_report r;
	memset(&o, 0, sizeof o);
	o.db_path = f->db;
	char *pub = metro_asprintf("%s/records.pub", f->dir);
	assert_int_equal(metro_audit_read_pubkey(pub, o.pubkeys[0]), 0);
	free(pub);
	o.npubkeys = 1;
	int rc = metro_audit_verify(&o, &r);
	size_t n = 0;
	if (checks)
		checks[0] = '\0';
	for (size_t i = 0; i < r.nfailures; i++) {
		fprintf(stderr, "verify: %s: %s\n", r.failures[i].check, r.failures[i].message);
		if (checks)
			n += (size_t)snprintf(checks + n, n < cap ? cap - n : 0, "%s,",
					      r.failures[i].check);
	}
	if (first)
		snprintf(first, fcap, "%s", r.nfailures ? r.failures[0].message : "");
	metro_audit_report_free(&r);
	return rc;
}

/* ---- the person registry ------------------------------------------------------------------- */

static void test_people_registry(void **state)
{
	(void)state;
	struct fx f;
	setup_fx(&f, 0);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM people WHERE active = 1"), NPEOPLE);
	assert_int_equal(
		raw_int(&f, "SELECT count(*) FROM audit_events WHERE action = 'person.added' AND "
			    "actor = 'config' AND why = 'configuration load'"),
		NPEOPLE);
	char *roles = raw_text(&f, "SELECT roles FROM people WHERE person = 'wang.fang'");
	assert_string_equal(roles, "[\"verifier\",\"checker\"]");
	free(roles);
	char *procs = raw_text(&f, "SELECT procedures FROM people WHERE person = 'li.wei'");
	assert_string_equal(procs, "[\"jjg577-*\",\"jjg162-water\"]");
	free(procs);

	/* The same list again records nothing. */
	int64_t chain = raw_int(&f, "SELECT max(seq) FROM chain");
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	assert_int_equal(raw_int(&f, "SELECT max(seq) FROM chain"), chain);
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "no change"), 0);
	assert_int_equal(raw_int(&f, "SELECT max(seq) FROM chain"), chain);

	/* A manager's change: old and new of exactly the fields that changed. */
	struct metro_person p = f.people[LI];
	p.qualification = "JDY-9";
	p.roles |= METRO_PERSON_CHECKER;
	assert_int_equal(metro_store_person_change(f.s, &p, "chen.jie", "renewed qualification"),
			 0);
	char *ev = raw_text(&f, "SELECT json_object('actor', actor, 'subject', subject, 'old', "
				"json(old), 'new', json(new), 'why', why) FROM audit_events WHERE "
				"action = 'person.changed'");
	assert_string_equal(ev,
			    "{\"actor\":\"chen.jie\",\"subject\":\"person/li.wei\","
			    "\"old\":{\"qualification\":\"JDY-1\",\"roles\":\"[\\\"operator\\\","
			    "\\\"verifier\\\"]\"},\"new\":{\"qualification\":\"JDY-9\","
			    "\"roles\":\"[\\\"operator\\\",\\\"verifier\\\",\\\"checker\\\"]\"},"
			    "\"why\":\"renewed qualification\"}");
	free(ev);
	char *ch = raw_text(&f, "SELECT group_concat(field || ':' || old || '>' || new, ' ') FROM "
				"(SELECT * FROM person_changes WHERE person = 'li.wei' AND "
				"audit_event = (SELECT max(id) FROM audit_events) ORDER BY id)");
	assert_string_equal(
		ch, "roles:\"[\\\"operator\\\",\\\"verifier\\\"]\">\"[\\\"operator\\\","
		    "\\\"verifier\\\",\\\"checker\\\"]\" qualification:\"JDY-1\">\"JDY-9\"");
	free(ch);
	/* a change needs who and why */
	assert_int_equal(metro_store_person_change(f.s, &p, "", "x"), METRO_E_INVAL);

	/* Dropped from the configuration: retired, kept; listed again: active. */
	assert_int_equal(metro_store_sync_people(f.s, f.people, 3), 0);
	assert_int_equal(raw_int(&f, "SELECT active FROM people WHERE person = 'chen.jie'"), 0);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM person_changes WHERE person = "
				     "'chen.jie' AND field = 'active' AND old = '1' AND new = '0'"),
			 1);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	assert_int_equal(raw_int(&f, "SELECT active FROM people WHERE person = 'chen.jie'"), 1);
	assert_int_equal(metro_store_person_retire(f.s, "nobody", "chen.jie", "x"),
			 METRO_E_NOTFOUND);

	/* Bad entries are refused by name and change nothing. */
	chain = raw_int(&f, "SELECT max(seq) FROM chain");
	struct metro_person bad[2] = {f.people[LI], f.people[WANG]};
	bad[1].id = "Wang Fang";
	assert_int_equal(metro_store_sync_people(f.s, bad, 2), METRO_E_INVAL);
	assert_non_null(strstr(metro_store_errmsg(f.s), "Wang Fang"));
	bad[1] = f.people[WANG];
	memset(bad[1].sign_pk, 0, 32);
	bad[1].sign_pk[0] = 2;
	assert_int_equal(metro_store_sync_people(f.s, bad, 2), METRO_E_INVAL);
	assert_non_null(strstr(metro_store_errmsg(f.s), "wang.fang: sign_pk"));
	bad[1] = f.people[LI];
	bad[1].line = 9;
	assert_int_equal(metro_store_sync_people(f.s, bad, 2), METRO_E_INVAL);
	assert_non_null(strstr(metro_store_errmsg(f.s), "configured twice (lines 1 and 9)"));
	assert_int_equal(raw_int(&f, "SELECT max(seq) FROM chain"), chain);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM people WHERE active = 1"), NPEOPLE);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);
	teardown_fx(&f);
}

/* ---- steps --------------------------------------------------------------------------------- */

static void test_steps_in_order(void **state)
{
	(void)state;
	struct fx f;
	char num[METRO_STORE_CERT_MAX], legacy[METRO_STORE_CERT_MAX];
	setup_fx(&f, 0);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	int64_t run = run_with_verdict(&f, "S-1", "pass");
	assert_int_equal(metro_store_certificate_draft(f.s, run, 1, num), 0);
	assert_int_equal(raw_int(&f, "SELECT workflow FROM certificates WHERE id = 1"), 1);

	/* nothing before verified, and never by the wrong person */
	refused(&f, num, "checked", WANG, WANG, NULL, NULL, "out-of-order",
		"'checked' comes after 'verified'");
	refused(&f, num, "issued", ZHAO, ZHAO, NULL, NULL, "out-of-order", "'issued' comes after");
	refused(&f, num, "voided", ZHAO, ZHAO, "why", NULL, "out-of-order", "is not issued");
	refused(&f, num, "verified", ZHAO, ZHAO, NULL, NULL, "forbidden",
		"does not hold the role a 'verified' step needs (verifier)");
	refused(&f, num, "verified", LI, WANG, NULL, NULL, "bad-signature",
		"does not verify under the key of li.wei");
	refused(&f, num, "verified", LI, NPEOPLE, NULL, NULL, "bad-signature", "does not verify");
	refused(&f, num, "verified", LI, LI, NULL, "x-2026-000001", "replaces", "is not a reissue");
	refused(&f, "test-lab-1999-000001", "verified", LI, LI, NULL, NULL, "not-found",
		"no certificate or notice test-lab-1999-000001");
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM certificate_steps"), 0);

	ok_step(&f, num, "verified", LI, NULL, NULL);
	refused(&f, num, "verified", WANG, WANG, NULL, NULL, "exists", "recorded already");
	refused(&f, num, "approved", ZHAO, ZHAO, NULL, NULL, "out-of-order",
		"'approved' comes after 'checked'");
	/* the verifier cannot check their own work, even holding the role */
	f.people[LI].roles |= METRO_PERSON_CHECKER | METRO_PERSON_APPROVER;
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "test"), 0);
	refused(&f, num, "checked", LI, LI, NULL, NULL, "same-person", "li.wei verified it");
	ok_step(&f, num, "checked", WANG, NULL, NULL);
	refused(&f, num, "approved", LI, LI, NULL, NULL, "same-person", "cannot also sign");
	refused(&f, num, "approved", WANG, WANG, NULL, NULL, "forbidden", "(approver)");
	ok_step(&f, num, "approved", ZHAO, NULL, NULL);
	/* the signed time: no further ahead than 300 s */
	{
		char t[32], sig[METRO_CERT_SIG_HEX], code[METRO_STORE_CODE_MAX];
		now_iso(t, 3600);
		char *st = metro_cert_statement(STATION, num, "issued", ids[ZHAO], t, NULL, NULL);
		metro_cert_sign(st, f.sk[ZHAO], sig);
		free(st);
		struct metro_cert_step q = {num, "issued", ids[ZHAO], t, NULL, NULL, sig};
		assert_int_equal(metro_store_cert_step(f.s, &q, code), METRO_E_INVAL);
		assert_string_equal(code, "bad-time");
		q.time = "2026-11-28 14:10:29";
		assert_int_equal(metro_store_cert_step(f.s, &q, code), METRO_E_INVAL);
		assert_string_equal(code, "bad-request");
		q.time = t;
		q.signature = "abc";
		assert_int_equal(metro_store_cert_step(f.s, &q, code), METRO_E_INVAL);
		assert_string_equal(code, "bad-request");
		q.step = "signed";
		assert_int_equal(metro_store_cert_step(f.s, &q, code), METRO_E_INVAL);
		assert_string_equal(code, "bad-request");
	}
	ok_step(&f, num, "issued", ZHAO, NULL, NULL);
	refused(&f, num, "issued", ZHAO, ZHAO, NULL, NULL, "exists", "recorded already");

	/* the copies: name, role, qualification as they were */
	char *row = raw_text(&f, "SELECT group_concat(step || '/' || person || '/' || person_name "
				 "|| '/' || role || '/' || coalesce(qualification, '-'), ' ') FROM "
				 "(SELECT * FROM certificate_steps ORDER BY id)");
	assert_string_equal(row,
			    "verified/li.wei/李伟/verifier/JDY-1 "
			    "checked/wang.fang/王芳/checker/JDY-2 "
			    "approved/zhao.min/赵敏/approver/- issued/zhao.min/赵敏/approver/-");
	free(row);
	f.people[LI].name = "李伟伟";
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "rename"), 0);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM certificate_steps WHERE person_name = "
				     "'李伟'"),
			 1);
	/* a row cannot be changed or removed */
	sqlite3 *h = raw(&f);
	assert_int_not_equal(sqlite3_exec(h, "UPDATE certificate_steps SET why = 'x'", 0, 0, 0),
			     SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(h, "DELETE FROM certificate_steps", 0, 0, 0), SQLITE_OK);
	sqlite3_close(h);

	/* a certificate issued when numbered takes no step but voided */
	assert_int_equal(metro_store_certificate(f.s, run, 1, legacy), 0);
	refused(&f, legacy, "verified", LI, LI, NULL, NULL, "workflow",
		"issued when it was numbered");

	/* qualifications */
	int64_t run2 = run_with_verdict(&f, "S-2", "fail");
	char n2[METRO_STORE_CERT_MAX];
	assert_int_equal(metro_store_certificate_draft(f.s, run2, 1, n2), 0);
	f.people[LI].qualification_due = tu_days_from_now(-1);
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "test"), 0);
	refused(&f, n2, "verified", LI, LI, NULL, NULL, "not-qualified", "was valid until");
	f.people[LI].qualification_due = tu_days_from_now(10);
	f.people[LI].nprocedures = 1;
	f.procs[LI][0] = "jjg162-*";
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "test"), 0);
	refused(&f, n2, "verified", LI, LI, NULL, NULL, "not-qualified",
		"not entitled to procedure " PROC);
	f.procs[LI][0] = PROC;
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "test"), 0);
	assert_int_equal(metro_store_person_retire(f.s, "li.wei", "chen.jie", "left the lab"), 0);
	refused(&f, n2, "verified", LI, LI, NULL, NULL, "forbidden", "retired");
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	ok_step(&f, n2, "verified", LI, NULL, NULL);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);
	teardown_fx(&f);
}

static void test_void_and_reissue(void **state)
{
	(void)state;
	struct fx f;
	char num[METRO_STORE_CERT_MAX], re[METRO_STORE_CERT_MAX], code[METRO_STORE_CODE_MAX];
	setup_fx(&f, 0);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	int64_t run = run_with_verdict(&f, "S-1", "pass");
	assert_int_equal(metro_store_certificate_draft(f.s, run, 1, num), 0);
	ok_step(&f, num, "verified", LI, NULL, NULL);
	ok_step(&f, num, "checked", WANG, NULL, NULL);
	ok_step(&f, num, "approved", ZHAO, NULL, NULL);
	assert_int_equal(metro_store_cert_reissue(f.s, num, "chen.jie", "typo", re, code),
			 METRO_E_STATE);
	assert_string_equal(code, "not-voided");
	refused(&f, num, "voided", ZHAO, ZHAO, "wrong serial", NULL, "out-of-order", "not issued");
	ok_step(&f, num, "issued", ZHAO, NULL, NULL);
	assert_int_equal(metro_store_cert_reissue(f.s, num, "chen.jie", "typo", re, code),
			 METRO_E_STATE);
	assert_string_equal(code, "not-voided");
	assert_non_null(strstr(metro_store_errmsg(f.s), "only a voided certificate can be"));
	refused(&f, num, "voided", ZHAO, ZHAO, NULL, NULL, "bad-request", "needs a reason");
	refused(&f, num, "voided", WANG, WANG, "wrong serial", NULL, "forbidden",
		"approver or manager");
	/* a manager may void */
	ok_step(&f, num, "voided", CHEN, "wrong serial on the nameplate", NULL);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM certificate_steps WHERE step = "
				     "'voided' AND role = 'manager'"),
			 1);
	refused(&f, num, "voided", ZHAO, ZHAO, "again", NULL, "exists", "is voided");
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM certificates"), 1);

	assert_int_equal(metro_store_cert_reissue(f.s, num, "chen.jie", "", re, code),
			 METRO_E_INVAL);
	assert_int_equal(
		metro_store_cert_reissue(f.s, num, "chen.jie", "corrected serial", re, code), 0);
	assert_string_not_equal(re, num);
	char *rep = raw_text(&f, "SELECT replaces || ' ' || workflow || ' ' || run || ' ' || "
				 "position || ' ' || kind FROM certificates WHERE id = 2");
	char want[256];
	snprintf(want, sizeof want, "%s 1 %lld 1 certificate", num, (long long)run);
	assert_string_equal(rep, want);
	free(rep);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM audit_events WHERE action = "
				     "'certificate.reissued' AND actor = 'chen.jie'"),
			 1);
	char again[METRO_STORE_CERT_MAX];
	assert_int_equal(metro_store_cert_reissue(f.s, num, "chen.jie", "x", again, code),
			 METRO_E_EXISTS);
	assert_string_equal(code, "exists");
	assert_non_null(strstr(metro_store_errmsg(f.s), re));
	/* the reissue's first step must name what it replaces */
	refused(&f, re, "verified", LI, LI, NULL, NULL, "replaces", "its verified step must name");
	refused(&f, re, "verified", LI, LI, NULL, re, "replaces", "its verified step must name");
	ok_step(&f, re, "verified", LI, NULL, num);
	refused(&f, re, "checked", WANG, WANG, NULL, num, "bad-request", "only a 'verified' step");
	ok_step(&f, re, "checked", WANG, NULL, NULL);

	/* status reads */
	struct metro_store_cert_status cs;
	assert_int_equal(metro_store_cert_status(f.s, num, &cs), 0);
	assert_true(cs.issued);
	assert_true(cs.voided);
	assert_string_equal(cs.state, "voided");
	assert_string_equal(cs.replaced_by, re);
	assert_int_equal(cs.nsteps, 5);
	assert_string_equal(cs.steps[4].why, "wrong serial on the nameplate");
	assert_string_equal(cs.steps[4].person_name, "陈杰");
	metro_store_cert_status_free(&cs);
	assert_int_equal(metro_store_cert_status(f.s, re, &cs), 0);
	assert_false(cs.issued);
	assert_string_equal(cs.state, "checked");
	assert_string_equal(cs.replaces, num);
	assert_null(cs.replaced_by);
	assert_int_equal(cs.nsteps, 2);
	metro_store_cert_status_free(&cs);
	assert_int_equal(metro_store_cert_status(f.s, "nope", &cs), METRO_E_NOTFOUND);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);
	teardown_fx(&f);
}

/* ---- migration and the verifier ------------------------------------------------------------ */

static void test_migrate_schema3_file(void **state)
{
	(void)state;
	struct fx f;
	char err[512], old[METRO_STORE_CERT_MAX], num[METRO_STORE_CERT_MAX];
	setup_fx(&f, 3);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), METRO_E_UNSUPPORTED);
	assert_int_equal(metro_store_certificate_draft(f.s, 1, 1, num), METRO_E_UNSUPPORTED);
	int64_t run = run_with_verdict(&f, "OLD-1", "pass");
	assert_int_equal(metro_store_certificate(f.s, run, 1, old), 0);
	metro_store_close(&f.s);
	assert_int_equal(raw_int(&f, "PRAGMA user_version"), 3);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM sqlite_schema WHERE name = 'people'"),
			 0);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);

	assert_int_equal(open_at(&f, 0, err, sizeof err), 0);
	assert_int_equal(raw_int(&f, "PRAGMA user_version"), METRO_STORE_SCHEMA);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM sqlite_schema WHERE name IN ('people', "
				     "'person_changes', 'certificate_steps')"),
			 3);
	assert_int_equal(raw_int(&f, "SELECT count(*) FROM certificates WHERE workflow IS NULL"),
			 1);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);
	/* the old certificate counts as issued: it can be voided and reissued */
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	struct metro_store_cert_status cs;
	assert_int_equal(metro_store_cert_status(f.s, old, &cs), 0);
	assert_true(cs.issued);
	assert_int_equal(cs.workflow, -1);
	assert_string_equal(cs.state, "issued");
	metro_store_cert_status_free(&cs);
	ok_step(&f, old, "voided", ZHAO, "the nameplate was read wrong", NULL);
	char code[METRO_STORE_CODE_MAX];
	assert_int_equal(metro_store_cert_reissue(f.s, old, "chen.jie", "reissue", num, code), 0);
	ok_step(&f, num, "verified", LI, NULL, old);
	metro_store_close(&f.s);
	assert_int_equal(verify(&f, NULL, 0, NULL, 0), 0);
	teardown_fx(&f);
}

static void test_verifier_steps(void **state)
{
	(void)state;
	struct fx f;
	char num[METRO_STORE_CERT_MAX], checks[1024], first[512];
	setup_fx(&f, 0);
	assert_int_equal(metro_store_sync_people(f.s, f.people, NPEOPLE), 0);
	int64_t run = run_with_verdict(&f, "S-1", "pass");
	assert_int_equal(metro_store_certificate_draft(f.s, run, 1, num), 0);
	ok_step(&f, num, "verified", LI, NULL, NULL);
	ok_step(&f, num, "checked", WANG, NULL, NULL);
	/* A later key change leaves the old steps valid (the key in force then is checked). */
	unsigned char pk[32], sk[64], seed[32];
	memset(seed, 0x55, sizeof seed);
	crypto_sign_seed_keypair(pk, sk, seed);
	memcpy(f.people[LI].sign_pk, pk, 32);
	assert_int_equal(metro_store_person_change(f.s, &f.people[LI], "chen.jie", "new key"), 0);
	assert_int_equal(verify(&f, checks, sizeof checks, NULL, 0), 0);
	metro_store_close(&f.s);
	char *copy = metro_asprintf("%s/copy.db", f.dir);
	char *cmd = metro_asprintf("cp '%s' '%s'", f.db, copy);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	/* Each tampering: the SQL, the first failure's words, a check it must include. */
	static const struct {
		const char *sql, *first, *check;
	} cases[] = {
		/* the reason edited: the row hash and the statement no longer fit */
		{"UPDATE certificate_steps SET person_name = '张三' WHERE id = 1",
		 "certificate_steps row 1 (chain record", "row-hash"},
		{"UPDATE certificate_steps SET statement = replace(statement, 'verified', "
		 "'approved'), "
		 "step = 'approved' WHERE id = 1",
		 "certificate_steps row 1", "step-signature"},
		{"UPDATE certificate_steps SET person = 'wang.fang' WHERE id = 1",
		 "certificate_steps row 1", "step-statement"},
		/* a forged step: signed by a key of the forger's, stored with it */
		{"UPDATE certificate_steps SET sign_pk = "
		 "'5fa1a5a6c8a7a12de22a4a8c2f0c1a1d08b0f49f5c0d23e1f0e0a5ad2b4e7c31' WHERE id = 2",
		 "certificate_steps row 2", "step-signature"},
	};
	for (size_t i = 0; i < METRO_ARRAY_SIZE(cases); i++) {
		cmd = metro_asprintf("cp '%s' '%s'", copy, f.db);
		assert_int_equal(system(cmd), 0);
		free(cmd);
		char *sql = metro_asprintf("DROP TRIGGER certificate_steps_no_update; %s",
					   cases[i].sql);
		raw_exec(&f, sql);
		free(sql);
		assert_int_equal(verify(&f, checks, sizeof checks, first, sizeof first),
				 METRO_E_CORRUPT);
		if (!strstr(first, cases[i].first) || !strstr(checks, cases[i].check))
			fail_msg("case %zu: first '%s', checks %s; wanted '%s' and %s", i, first,
				 checks, cases[i].first, cases[i].check);
	}
	/* Row 1 (li.wei's verified step) re-signed with the key li.wei was given later, stored
	 * with it: the signature verifies under the stored key, but it is not the key li.wei held
	 * when the step was recorded. */
	cmd = metro_asprintf("cp '%s' '%s'", copy, f.db);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	char *stmt = raw_text(&f, "SELECT statement FROM certificate_steps WHERE id = 1");
	char sig[METRO_CERT_SIG_HEX], pkx[65];
	assert_int_equal(metro_cert_sign(stmt, sk, sig), 0);
	metro_audit_hex(pk, 32, pkx);
	char *sql =
		metro_asprintf("DROP TRIGGER certificate_steps_no_update; UPDATE "
			       "certificate_steps SET signature = '%s', sign_pk = '%s' WHERE id "
			       "= 1",
			       sig, pkx);
	raw_exec(&f, sql);
	free(sql);
	free(stmt);
	assert_int_equal(verify(&f, checks, sizeof checks, first, sizeof first), METRO_E_CORRUPT);
	if (!strstr(checks, "step-key") || strstr(checks, "step-signature"))
		fail_msg("key swapped in: checks %s", checks);
	free(copy);
	teardown_fx(&f);
}

int main(void)
{
	metro_log_set_level(METRO_LOG_WARNING);
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_statement_pinned),
		cmocka_unit_test(test_people_registry),
		cmocka_unit_test(test_steps_in_order),
		cmocka_unit_test(test_void_and_reissue),
		cmocka_unit_test(test_migrate_schema3_file),
		cmocka_unit_test(test_verifier_steps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
