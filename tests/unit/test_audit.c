/* Unit tests of the canonical encoding (lib/records/audit.c) against pinned values.
 *
 * The writer (store.c) and the verifier (metroctl audit verify) hash rows through one function,
 * metro_audit_hash_row(), so a mistake in it (a column left out, a wrong byte order) is made
 * by both and no test that only compares them can see it.  Here fixed rows, built by hand in
 * an in-memory SQLite database (several storage classes, NULLs, JSON text with non-ASCII
 * characters, a negative row id), go through the module's public functions, and the results
 * are compared with hex values computed by a second implementation written from
 * docs/records.md alone: tests/lib/chain_verify.py (row_record, link_record,
 * checkpoint_message) with python3-cryptography's Ed25519.  The values below are the output
 * of `/usr/bin/python3 tests/lib/audit_vectors.py`, which holds the same rows as
 * (name, storage class, value) tuples. */
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

#include "audit.h"
#include "audit_int.h"

/* ---- the pinned values (tests/lib/audit_vectors.py) ---------------------------------------- */

#define POINT_HASH "fa5d202314409de20db9eab5f1764ac087ec075aaa1754beb54b87470f6338b1"
#define STANDARD_HASH "b8a84640769b306f36ce29a01ae6e6fac4a9c852e74269594ac712421ff2b8df"
#define TYPES_HASH "0a419511f5fdfe8f49a504c422b34e1978e1c1203f951b4624aff4548746c084"
#define TYPES_RECORD                                                                             \
	"4d524f570107745f7479706573fffffffffffffff700050162040000000300ff1003626967017fffffffff" \
	"ffffff017202fe41eb2d6600583501740300000000027a6901ffffffffffffffff"
/* seq 1, insert, points row 42, its row hash, prev 32 zero bytes */
#define LINK1_HASH "7784d6a2da1d1d897588ee7e68e7379202b1bf54de79f51a6801a0814cde4fa3"
/* seq 57, update, standards row 3, its row hash, prev = LINK1_HASH */
#define LINK57_HASH "bd820da4970df99e5b172788b265b04380ce3456db1c1e0af620a4e3c9c2f402"
/* Ed25519 key from the seed 01 02 ... 20; checkpoint demo-lab, epoch 4, head 57 (LINK57_HASH),
 * time 2026-11-28T13:08:39.491740Z. */
#define CKP_PUBKEY "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"
#define CKP_SIGNATURE                                                                              \
	"df52cc1c1bb66450e8f3b078cce2aa93b99e23f1b03c5e0baf8f8935b055de0133c5e1e385231a288a494114" \
	"2094be28a793b1f803e4222c614cf2e6778e980b"
#define CKP_SHORT_ID "061475f9d278"

/* ---- the rows ------------------------------------------------------------------------------- */

/* Columns declared in an order other than by name, so that the sort is exercised; chain_seq
 * is set (it must not be hashed).  The values are those of tests/lib/audit_vectors.py. */
static const char SCHEMA[] =
	"CREATE TABLE points (id INTEGER PRIMARY KEY, run INTEGER NOT NULL, position INTEGER,"
	" test_point TEXT, attempt INTEGER, readings TEXT CHECK (json_valid(readings)),"
	" intermediates TEXT, environment TEXT, error TEXT, rounded TEXT, mpe TEXT, verdict TEXT,"
	" rule TEXT, recorded TEXT, chain_seq INTEGER) STRICT;"
	"INSERT INTO points VALUES (42, 3, 2, 'Q1', 2,"
	" '{\"samples\": [{\"t\": \"2026-11-28T09:00:00.000Z\", \"meter_m3\": 1234.567}, "
	"{\"t\": \"2026-11-28T09:01:12.500Z\", \"meter_m3\": 1234.6672}], "
	"\"note\": \"\xe6\xb0\xb4\xe8\xa1\xa8\"}',"
	" '{\"C\":1.0011,\"Va_l\":100.158}', NULL, '-5.35', NULL, '5', 'fail',"
	" 'JJG162-2019 6.3.2', '2026-11-28T09:01:12.500000Z', 57);"
	"CREATE TABLE standards (id INTEGER PRIMARY KEY, std_id TEXT, description TEXT,"
	" serial TEXT, certificate TEXT, issuer TEXT, calibrated TEXT, due TEXT,"
	" uncertainty_pct REAL, k REAL, accuracy_class TEXT, assessment_certificate TEXT,"
	" assessment_due TEXT, active INTEGER, updated TEXT, chain_seq INTEGER) STRICT;"
	"INSERT INTO standards VALUES (3, 'gs-bell-01', 'Bell prover 200 L', NULL,"
	" 'JL-2026-G-00193', 'Example Provincial Institute of Metrology', '2026-11-27',"
	" '2027-11-26', 0.2, 2, NULL,"
	" '[2024]\xe5\x9b\xbd\xe9\x87\x8f\xe6\xa0\x87"
	"E\xe8\xaf\x81\xe5\xad\x97\xe7\xac\xac"
	"0117\xe5\x8f\xb7', NULL, 1, '2026-11-28T08:00:00.000000Z', 57);"
	"CREATE TABLE t_types (zi INTEGER, id INTEGER PRIMARY KEY, t TEXT, r REAL, n TEXT,"
	" b BLOB, big INTEGER, chain_seq INTEGER) STRICT;"
	"INSERT INTO t_types VALUES (-1, -9, '', -1.5e300, NULL, x'00ff10',"
	" 9223372036854775807, 1);";

struct fx {
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f || sodium_init() < 0 || sqlite3_open(":memory:", &f->db) != SQLITE_OK ||
	    sqlite3_exec(f->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sqlite3_close(f->db);
	free(f);
	return 0;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
	metro_audit_hex(b, n, out);
}

/* The row hash of `SELECT * FROM table WHERE id = rid`, as lowercase hex. */
static void hash_row(sqlite3 *db, const char *table, long long rid, char out[65])
{
	char sql[128];
	sqlite3_stmt *st;
	unsigned char h[METRO_AUDIT_HASH];
	const char *why = NULL;
	snprintf(sql, sizeof sql, "SELECT * FROM %s WHERE id = %lld", table, rid);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int rc = metro_audit_hash_row(st, table, "id", h, &why);
	if (rc)
		print_error("hash_row %s: %s\n", table, why ? why : "?");
	assert_int_equal(rc, 0);
	sqlite3_finalize(st);
	hex(h, sizeof h, out);
}

static void unhex32(const char *s, unsigned char out[32])
{
	assert_int_equal(metro_audit_unhex(s, strlen(s), out, 32), 0);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_row_hashes(void **state)
{
	struct fx *f = *state;
	char h[65];
	hash_row(f->db, "points", 42, h);
	assert_string_equal(h, POINT_HASH);
	hash_row(f->db, "standards", 3, h);
	assert_string_equal(h, STANDARD_HASH);
	hash_row(f->db, "t_types", -9, h);
	assert_string_equal(h, TYPES_HASH);
}

/* The whole row record of the small row, byte for byte, from a record built by hand (not
 * read from SQLite), and its hash fed through the encoder's SHA-256 state. */
static void test_row_record_bytes(void **state)
{
	(void)state;
	static const unsigned char blob[] = {0x00, 0xff, 0x10};
	struct metro_audit_record r;
	memset(&r, 0, sizeof r);
	r.kind = METRO_AUDIT_ROW;
	r.name = "t_types";
	r.name_len = 7;
	r.row_id = -9;
	r.nfields = 5; /* sorted by name; the NULL column n is absent */
	r.fields[0] = (struct metro_audit_field){
		.name = "b", .name_len = 1, .type = METRO_AUDIT_BLOB, .data = blob, .len = 3};
	r.fields[1] = (struct metro_audit_field){
		.name = "big", .name_len = 3, .type = METRO_AUDIT_INTEGER, .i = INT64_MAX};
	r.fields[2] = (struct metro_audit_field){
		.name = "r", .name_len = 1, .type = METRO_AUDIT_REAL, .r = -1.5e300};
	r.fields[3] = (struct metro_audit_field){
		.name = "t", .name_len = 1, .type = METRO_AUDIT_TEXT, .data = "", .len = 0};
	r.fields[4] = (struct metro_audit_field){
		.name = "zi", .name_len = 2, .type = METRO_AUDIT_INTEGER, .i = -1};
	unsigned char buf[256];
	crypto_hash_sha256_state hs;
	crypto_hash_sha256_init(&hs);
	size_t n = metro_audit_encode(&r, buf, sizeof buf, &hs);
	assert_int_equal(n, (strlen(TYPES_RECORD) / 2));
	char *x = malloc(2 * n + 1);
	assert_non_null(x);
	hex(buf, n, x);
	assert_string_equal(x, TYPES_RECORD);
	free(x);
	unsigned char h[32];
	char hx[65];
	crypto_hash_sha256_final(&hs, h);
	hex(h, 32, hx);
	assert_string_equal(hx, TYPES_HASH);
}

/* NULLs are omitted: a column added later and left NULL does not change the hash; a value in
 * it does, and so does a change of the test point. */
static void test_null_and_change(void **state)
{
	struct fx *f = *state;
	char h[65];
	assert_int_equal(
		sqlite3_exec(f->db, "ALTER TABLE points ADD COLUMN note TEXT", NULL, NULL, NULL),
		SQLITE_OK);
	hash_row(f->db, "points", 42, h);
	assert_string_equal(h, POINT_HASH);
	assert_int_equal(
		sqlite3_exec(f->db, "UPDATE points SET note = '' WHERE id = 42", NULL, NULL, NULL),
		SQLITE_OK);
	hash_row(f->db, "points", 42, h);
	assert_string_not_equal(h, POINT_HASH);
	assert_int_equal(
		sqlite3_exec(f->db,
			     "UPDATE points SET note = NULL, test_point = 'Q4' WHERE id = 42", NULL,
			     NULL, NULL),
		SQLITE_OK);
	hash_row(f->db, "points", 42, h);
	assert_string_not_equal(h, POINT_HASH);
}

static void test_link_hashes(void **state)
{
	(void)state;
	unsigned char rh[32], prev[32] = {0}, h[32];
	char hx[65];
	unhex32(POINT_HASH, rh);
	metro_audit_link_hash(1, METRO_AUDIT_INSERT, "points", 42, rh, prev, h);
	hex(h, 32, hx);
	assert_string_equal(hx, LINK1_HASH);
	memcpy(prev, h, 32);
	unhex32(STANDARD_HASH, rh);
	metro_audit_link_hash(57, METRO_AUDIT_UPDATE, "standards", 3, rh, prev, h);
	hex(h, 32, hx);
	assert_string_equal(hx, LINK57_HASH);
}

static void test_checkpoint(void **state)
{
	(void)state;
	unsigned char seed[32], pk[32], sk[64];
	for (int i = 0; i < 32; i++)
		seed[i] = (unsigned char)(i + 1);
	assert_int_equal(crypto_sign_seed_keypair(pk, sk, seed), 0);
	struct metro_audit_checkpoint cp;
	memset(&cp, 0, sizeof cp);
	strcpy(cp.station, "demo-lab");
	cp.epoch = 4;
	cp.head_seq = 57;
	unhex32(LINK57_HASH, cp.head_hash);
	strcpy(cp.time, "2026-11-28T13:08:39.491740Z");
	assert_int_equal(metro_audit_checkpoint_sign(&cp, sk), 0);
	char pkx[65], sigx[129];
	hex(cp.pubkey, 32, pkx);
	hex(cp.signature, 64, sigx);
	assert_string_equal(pkx, CKP_PUBKEY);
	assert_string_equal(sigx, CKP_SIGNATURE);
	assert_string_equal(cp.short_id, CKP_SHORT_ID);
	const char *why = NULL;
	assert_int_equal(metro_audit_checkpoint_check(&cp, pk, &why), 0);
	cp.epoch = 5; /* any signed field changed: the signature no longer holds */
	assert_int_not_equal(metro_audit_checkpoint_check(&cp, pk, &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_row_hashes, setup, teardown),
		cmocka_unit_test(test_row_record_bytes),
		cmocka_unit_test_setup_teardown(test_null_and_change, setup, teardown),
		cmocka_unit_test(test_link_hashes),
		cmocka_unit_test(test_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
