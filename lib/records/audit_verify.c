/* audit_verify.c — the offline verifier of a record store (metroctl audit verify; audit.h,
 * docs/records.md "Verifying"): integrity, every row and link hash, the claims of chained
 * rows, checkpoints and their signatures, the content hashes of procedures and rig
 * profiles, the certificate sequence, and every certificate step's statement, signature and
 * the key its person held then (schema 4). */
#include "audit.h"
#include "audit_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cert_statement.h"
#include "error.h"
#include "util.h"

/* ---- the verifier -------------------------------------------------------------------------- */

struct link {
	int64_t seq;
	int64_t row_id;
	int table; /* index into metro_audit_tables, -1 unknown */
	int op;
	int claimed;
	unsigned char row_hash[METRO_AUDIT_HASH];
	unsigned char hash[METRO_AUDIT_HASH];
};

struct vctx {
	const struct metro_audit_opts *o;
	struct metro_audit_report *r;
	sqlite3 *db;
	struct link *chain;
	size_t n, cap;
};

static void warn(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct vctx *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	v->r->warnings =
		metro_realloc(v->r->warnings, (v->r->nwarnings + 1) * sizeof *v->r->warnings);
	v->r->warnings[v->r->nwarnings++] = metro_vasprintf(fmt, ap);
	va_end(ap);
}

static int by_order(const void *a, const void *b)
{
	const struct metro_audit_failure *x = a, *y = b;
	if (x->order != y->order)
		return (x->order > y->order) - (x->order < y->order);
	return (x->found > y->found) - (x->found < y->found);
}

/* Record a failure.  Only the METRO_AUDIT_MAX_REPORTED earliest (by order) are kept, so a
 * database rewritten wholesale cannot exhaust memory, and the first one is always kept. */
static void fail(struct vctx *v, const char *table, int64_t row, int64_t seq, const char *check,
		 int64_t order, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static void fail(struct vctx *v, const char *table, int64_t row, int64_t seq, const char *check,
		 int64_t order, const char *fmt, ...)
{
	struct metro_audit_report *r = v->r;
	r->total_failures++;
	size_t slot;
	if (r->nfailures < METRO_AUDIT_MAX_REPORTED) {
		if (!r->failures)
			r->failures = metro_calloc(METRO_AUDIT_MAX_REPORTED, sizeof *r->failures);
		slot = r->nfailures++;
	} else {
		slot = 0;
		for (size_t i = 1; i < r->nfailures; i++)
			if (by_order(&r->failures[i], &r->failures[slot]) > 0)
				slot = i;
		if (r->failures[slot].order <= order)
			return; /* later in the chain than every kept one */
	}
	struct metro_audit_failure *f = &r->failures[slot];
	metro_strlcpy(f->table, table ? table : "", sizeof f->table);
	f->row = row;
	f->chain_seq = seq;
	f->check = check;
	f->order = order;
	f->found = r->total_failures;
	va_list ap;
	va_start(ap, fmt);
	// NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized)
	vsnprintf(f->message, sizeof f->message, fmt, ap);
	va_end(ap);
}

static const char *tname(int t)
{
	return t >= 0 ? metro_audit_tables[t].name : "?";
}

static char *short_hex(const unsigned char *h, char buf[17])
{
	metro_audit_hex(h, 8, buf);
	return buf;
}

static int table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	int yes = 0;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		yes = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return yes;
}

static void check_integrity(struct vctx *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db, "PRAGMA integrity_check(10)", -1, &st, NULL) != SQLITE_OK) {
		fail(v, "", 0, 0, "integrity", 0, "integrity_check cannot run: %s",
		     sqlite3_errmsg(v->db));
		return;
	}
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *m = (const char *)sqlite3_column_text(st, 0);
		if (m && strcmp(m, "ok") != 0)
			fail(v, "", 0, 0, "integrity", 0, "database file damaged: %s", m);
	}
	if (rc != SQLITE_DONE)
		fail(v, "", 0, 0, "integrity", 0, "database file damaged: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
}

static struct link *find_link(struct vctx *v, int64_t seq)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->chain[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->n && v->chain[lo].seq == seq ? &v->chain[lo] : NULL;
}

static int hex_hash(sqlite3_stmt *st, int c, unsigned char out[METRO_AUDIT_HASH])
{
	const char *s = (const char *)sqlite3_column_text(st, c);
	return sqlite3_column_type(st, c) == SQLITE_TEXT && s &&
			       !metro_audit_unhex(s, strlen(s), out, METRO_AUDIT_HASH)
		       ? 0
		       : -1;
}

/* Load the chain into memory, checking every link against the stored previous hash. */
static int load_chain(struct vctx *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT seq, tbl, row_id, op, row_hash, prev, hash FROM chain "
			       "ORDER BY seq",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(v, "chain", 0, 0, "schema", 0, "cannot read the chain: %s",
		     sqlite3_errmsg(v->db));
		return -1;
	}
	unsigned char prev[METRO_AUDIT_HASH] = {0};
	int64_t expect = 1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (v->n == v->cap) {
			v->cap = v->cap ? 2 * v->cap : 4096;
			v->chain = metro_realloc(v->chain, v->cap * sizeof *v->chain);
		}
		struct link *l = &v->chain[v->n];
		memset(l, 0, sizeof *l);
		l->seq = sqlite3_column_int64(st, 0);
		const char *tbl = (const char *)sqlite3_column_text(st, 1);
		const char *op = (const char *)sqlite3_column_text(st, 3);
		const struct metro_audit_table *t = tbl ? metro_audit_table(tbl) : NULL;
		l->table = t ? (int)(t - metro_audit_tables) : -1;
		l->row_id = sqlite3_column_int64(st, 2);
		l->op = op && !strcmp(op, "insert")   ? METRO_AUDIT_INSERT
			: op && !strcmp(op, "update") ? METRO_AUDIT_UPDATE
						      : 0;
		unsigned char sprev[METRO_AUDIT_HASH];
		int shape = sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
			    sqlite3_column_type(st, 2) == SQLITE_INTEGER && l->op &&
			    !hex_hash(st, 4, l->row_hash) && !hex_hash(st, 5, sprev) &&
			    !hex_hash(st, 6, l->hash);
		v->n++;
		if (l->seq > expect)
			fail(v, "chain", 0, expect, "chain-gap", expect,
			     "chain records %lld..%lld are missing (deleted)", (long long)expect,
			     (long long)l->seq - 1);
		expect = l->seq + 1;
		if (!shape) {
			fail(v, "chain", 0, l->seq, "chain-format", l->seq,
			     "chain record %lld is malformed (a column of the wrong type or "
			     "length)",
			     (long long)l->seq);
			memset(l->hash, 0, sizeof l->hash);
		} else if (l->table < 0) {
			fail(v, "chain", 0, l->seq, "chain-format", l->seq,
			     "chain record %lld names '%s', which is not a chained table",
			     (long long)l->seq, tbl ? tbl : "");
		} else {
			char a[17], b[17];
			if (memcmp(sprev, prev, METRO_AUDIT_HASH) != 0)
				fail(v, tname(l->table), l->row_id, l->seq, "link-prev", l->seq,
				     "chain record %lld (%s row %lld): its previous hash %s… is "
				     "not the hash of record %lld (%s…): records removed, "
				     "inserted or reordered",
				     (long long)l->seq, tname(l->table), (long long)l->row_id,
				     short_hex(sprev, a), (long long)l->seq - 1,
				     short_hex(prev, b));
			unsigned char h[METRO_AUDIT_HASH];
			metro_audit_link_hash(l->seq, l->op, tname(l->table), l->row_id,
					      l->row_hash, sprev, h);
			if (memcmp(h, l->hash, METRO_AUDIT_HASH) != 0)
				fail(v, tname(l->table), l->row_id, l->seq, "link-hash", l->seq,
				     "chain record %lld (%s row %lld): stored hash %s… differs "
				     "from the recomputed %s… (the chain record was edited)",
				     (long long)l->seq, tname(l->table), (long long)l->row_id,
				     short_hex(l->hash, a), short_hex(h, b));
		}
		memcpy(prev, l->hash, METRO_AUDIT_HASH);
	}
	if (rc != SQLITE_DONE)
		fail(v, "chain", 0, expect, "read", expect, "cannot read the chain: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
	v->r->records = (int64_t)v->n;
	if (v->n) {
		v->r->head_seq = v->chain[v->n - 1].seq;
		metro_audit_hex(v->chain[v->n - 1].hash, METRO_AUDIT_HASH, v->r->head_hash);
	}
	return 0;
}

/* Every row of one chained table: in the chain, at the place that names it, with the content
 * that was chained. */
static void check_table(struct vctx *v, int ti)
{
	const struct metro_audit_table *t = &metro_audit_tables[ti];
	char *sql = metro_asprintf("SELECT * FROM \"%s\" ORDER BY \"%s\"", t->name, t->key);
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK) {
		fail(v, t->name, 0, 0, "schema", 0, "cannot read table %s: %s", t->name,
		     sqlite3_errmsg(v->db));
		return;
	}
	int kc = -1, cc = -1;
	for (int i = 0; i < sqlite3_column_count(st); i++) {
		if (!strcmp(sqlite3_column_name(st, i), t->key))
			kc = i;
		else if (!strcmp(sqlite3_column_name(st, i), "chain_seq"))
			cc = i;
	}
	if (kc < 0 || cc < 0) {
		fail(v, t->name, 0, 0, "schema", 0, "table %s lacks its %s or chain_seq column",
		     t->name, kc < 0 ? t->key : "");
		sqlite3_finalize(st);
		return;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		v->r->rows++;
		int64_t id = sqlite3_column_int64(st, kc);
		if (sqlite3_column_type(st, cc) != SQLITE_INTEGER) {
			fail(v, t->name, id, 0, "unchained-row", INT64_MAX,
			     "%s row %lld is not in the chain (chain_seq is not set): inserted "
			     "behind the store's back",
			     t->name, (long long)id);
			continue;
		}
		int64_t seq = sqlite3_column_int64(st, cc);
		struct link *l = find_link(v, seq);
		if (!l) {
			fail(v, t->name, id, seq, "unchained-row", seq,
			     "%s row %lld claims chain record %lld, which does not exist", t->name,
			     (long long)id, (long long)seq);
			continue;
		}
		if (l->table != ti || l->row_id != id) {
			fail(v, t->name, id, seq, "chain-mismatch", seq,
			     "%s row %lld claims chain record %lld, which records %s row %lld "
			     "(rows moved, swapped or renumbered)",
			     t->name, (long long)id, (long long)seq, tname(l->table),
			     (long long)l->row_id);
			continue;
		}
		if (l->claimed) {
			fail(v, t->name, id, seq, "chain-mismatch", seq,
			     "%s row %lld claims chain record %lld, already claimed by another row",
			     t->name, (long long)id, (long long)seq);
			continue;
		}
		l->claimed = 1;
		unsigned char h[METRO_AUDIT_HASH];
		const char *why = NULL;
		if (metro_audit_hash_row(st, t->name, t->key, h, &why)) {
			fail(v, t->name, id, seq, "row-format", seq,
			     "%s row %lld (chain record %lld) cannot be encoded: %s", t->name,
			     (long long)id, (long long)seq, why);
		} else if (memcmp(h, l->row_hash, METRO_AUDIT_HASH) != 0) {
			char a[17], b[17];
			fail(v, t->name, id, seq, "row-hash", seq,
			     "%s row %lld (chain record %lld): content differs from what was "
			     "chained (row hash %s…, stored %s…): the row was edited",
			     t->name, (long long)id, (long long)seq, short_hex(h, a),
			     short_hex(l->row_hash, b));
		}
	}
	if (rc != SQLITE_DONE)
		fail(v, t->name, 0, 0, "read", 0, "cannot read table %s: %s", t->name,
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
}

static int by_row(const void *a, const void *b)
{
	const struct link *x = *(const struct link *const *)a, *y = *(const struct link *const *)b;
	if (x->table != y->table)
		return x->table < y->table ? -1 : 1;
	if (x->row_id != y->row_id)
		return x->row_id < y->row_id ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Every chain record must lead to a row, unless a later record of the same (mutable) row
 * superseded it; the first record of a row is an insert, later ones updates. */
static void check_claims(struct vctx *v)
{
	struct link **ix = metro_malloc((v->n ? v->n : 1) * sizeof(struct link *));
	size_t m = 0;
	for (size_t i = 0; i < v->n; i++)
		if (v->chain[i].table >= 0)
			ix[m++] = &v->chain[i];
	qsort(ix, m, sizeof(struct link *), by_row);
	for (size_t i = 0; i < m; i++) {
		struct link *l = ix[i];
		int first =
			i == 0 || ix[i - 1]->table != l->table || ix[i - 1]->row_id != l->row_id;
		int last = i + 1 == m || ix[i + 1]->table != l->table ||
			   ix[i + 1]->row_id != l->row_id;
		const char *tn = tname(l->table);
		if (first && l->op != METRO_AUDIT_INSERT)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld updates %s row %lld, which was never inserted",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!first && l->op != METRO_AUDIT_UPDATE)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld inserts %s row %lld a second time",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!first && !metro_audit_tables[l->table].is_mutable)
			fail(v, tn, l->row_id, l->seq, "chain-op", l->seq,
			     "chain record %lld updates %s row %lld, but %s rows are immutable",
			     (long long)l->seq, tn, (long long)l->row_id, tn);
		if (last && !l->claimed)
			fail(v, tn, l->row_id, l->seq, "deleted-row", l->seq,
			     "chain record %lld records %s row %lld, which is missing or no longer "
			     "carries it (deleted, moved or rolled back)",
			     (long long)l->seq, tn, (long long)l->row_id);
		if (!last && l->claimed)
			fail(v, tn, l->row_id, l->seq, "superseded-row", l->seq,
			     "%s row %lld carries chain record %lld, but record %lld holds a later "
			     "version: the row was rolled back",
			     tn, (long long)l->row_id, (long long)l->seq,
			     (long long)ix[i + 1]->seq);
	}
	free(ix);
}

static int trusted(struct vctx *v, const struct metro_audit_checkpoint *cp, const char **why)
{
	if (!v->o->npubkeys)
		return metro_audit_checkpoint_check(cp, NULL, why) == 0;
	for (size_t k = 0; k < v->o->npubkeys; k++)
		if (!metro_audit_checkpoint_check(cp, v->o->pubkeys[k], why))
			return 1;
	return 0;
}

static void check_checkpoints(struct vctx *v, struct metro_audit_checkpoint **out, size_t *nout)
{
	sqlite3_stmt *st;
	*out = NULL;
	*nout = 0;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT " METRO_AUDIT_CHECKPOINT_COLS
			       " FROM checkpoints ORDER BY chain_seq, id",
			       -1, &st, NULL) != SQLITE_OK) {
		fail(v, "checkpoints", 0, 0, "schema", 0, "cannot read checkpoints: %s",
		     sqlite3_errmsg(v->db));
		return;
	}
	struct metro_audit_checkpoint *cps = NULL, *prev = NULL;
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cps = metro_realloc(cps, (n + 1) * sizeof *cps);
		struct metro_audit_checkpoint *cp = &cps[n];
		prev = n ? &cps[n - 1] : NULL;
		int64_t id = sqlite3_column_int64(st, 0);
		if (metro_audit_checkpoint_row(st, cp)) {
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-format",
			     cp->chain_seq ? cp->chain_seq : INT64_MAX,
			     "checkpoint row %lld is malformed (a column of the wrong type or "
			     "length)",
			     (long long)id);
			continue;
		}
		n++;
		int64_t at = cp->chain_seq ? cp->chain_seq : INT64_MAX;
		int64_t want = prev ? prev->epoch + 1 : 1;
		if (cp->epoch != want)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-epoch", at,
			     "checkpoints row %lld (chain record %lld): epoch %lld where %lld was "
			     "expected (epochs rise by one: checkpoints deleted, inserted or "
			     "renumbered)",
			     (long long)id, (long long)cp->chain_seq, (long long)cp->epoch,
			     (long long)want);
		if (prev && cp->head_seq < prev->head_seq)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld): covers the chain up to record "
			     "%lld, "
			     "before its predecessor (epoch %lld, record %lld)",
			     (long long)id, (long long)cp->epoch, (long long)cp->head_seq,
			     (long long)prev->epoch, (long long)prev->head_seq);
		if (cp->chain_seq && cp->head_seq >= cp->chain_seq)
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld): covers chain record %lld, which "
			     "is "
			     "not before its own record %lld",
			     (long long)id, (long long)cp->epoch, (long long)cp->head_seq,
			     (long long)cp->chain_seq);
		unsigned char zero[METRO_AUDIT_HASH] = {0};
		const unsigned char *at_head = NULL;
		if (cp->head_seq == 0) {
			at_head = zero;
		} else {
			struct link *l = find_link(v, cp->head_seq);
			if (!l)
				fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head",
				     cp->head_seq,
				     "checkpoints row %lld (epoch %lld, %s): signs chain record "
				     "%lld, "
				     "which does not exist: the chain was truncated",
				     (long long)id, (long long)cp->epoch, cp->short_id,
				     (long long)cp->head_seq);
			else
				at_head = l->hash;
		}
		if (at_head && memcmp(at_head, cp->head_hash, METRO_AUDIT_HASH) != 0) {
			char a[17], b[17];
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-head", at,
			     "checkpoints row %lld (epoch %lld, %s): signed head hash %s… but "
			     "chain "
			     "record %lld is now %s…: the chain was rewritten",
			     (long long)id, (long long)cp->epoch, cp->short_id,
			     short_hex(cp->head_hash, a), (long long)cp->head_seq,
			     short_hex(at_head, b));
		}
		const char *why = NULL;
		if (!trusted(v, cp, &why))
			fail(v, "checkpoints", id, cp->chain_seq, "checkpoint-signature", at,
			     "checkpoints row %lld (epoch %lld, %s, chain record %lld): %s%s",
			     (long long)id, (long long)cp->epoch, cp->short_id,
			     (long long)cp->chain_seq, why,
			     v->o->npubkeys ? " (re-signed with another key, or edited)" : "");
		if (!v->o->npubkeys && prev &&
		    memcmp(prev->pubkey, cp->pubkey, METRO_AUDIT_PUBKEY) != 0)
			warn(v, "the station key changed at checkpoint epoch %lld",
			     (long long)cp->epoch);
	}
	if (rc != SQLITE_DONE)
		fail(v, "checkpoints", 0, 0, "read", 0, "cannot read checkpoints: %s",
		     sqlite3_errmsg(v->db));
	sqlite3_finalize(st);
	*out = cps;
	*nout = n;
}

static void check_published(struct vctx *v, const struct metro_audit_checkpoint *cps, size_t n)
{
	const struct metro_audit_checkpoint *p = v->o->published;
	const char *why = NULL;
	if (!trusted(v, p, &why)) {
		fail(v, "", 0, 0, "published-checkpoint", 0,
		     "the published checkpoint given (epoch %lld, %s) does not verify: %s",
		     (long long)p->epoch, p->short_id, why);
		return;
	}
	const struct metro_audit_checkpoint *m = NULL;
	for (size_t i = 0; i < n; i++)
		if (cps[i].epoch == p->epoch)
			m = &cps[i];
	if (!m) {
		fail(v, "checkpoints", 0, p->head_seq + 1, "rollback", p->head_seq + 1,
		     "rollback: the database lacks published checkpoint epoch %lld (%s, head "
		     "%lld); "
		     "its latest is epoch %lld and its chain ends at record %lld: it is an older "
		     "copy or was truncated",
		     (long long)p->epoch, p->short_id, (long long)p->head_seq,
		     n ? (long long)cps[n - 1].epoch : 0LL, (long long)v->r->head_seq);
		return;
	}
	if (strcmp(m->station, p->station) != 0 || m->head_seq != p->head_seq ||
	    memcmp(m->head_hash, p->head_hash, METRO_AUDIT_HASH) != 0 ||
	    memcmp(m->signature, p->signature, METRO_AUDIT_SIG) != 0 ||
	    memcmp(m->pubkey, p->pubkey, METRO_AUDIT_PUBKEY) != 0) {
		fail(v, "checkpoints", m->row_id, m->chain_seq, "rollback",
		     m->head_seq < p->head_seq ? m->head_seq : p->head_seq,
		     "fork: checkpoint epoch %lld in the database (%s, head %lld) differs from "
		     "the published one (%s, head %lld)",
		     (long long)p->epoch, m->short_id, (long long)m->head_seq, p->short_id,
		     (long long)p->head_seq);
		return;
	}
	v->r->rollback_checked = 1;
}

/* The expected head (--expect-head) must be in the chain, with its hash. */
static void check_expected_head(struct vctx *v)
{
	int64_t want = v->o->expect_seq;
	char hex[2 * METRO_AUDIT_HASH + 1];
	metro_audit_hex(v->o->expect_hash, METRO_AUDIT_HASH, hex);
	for (size_t i = 0; i < v->n; i++) {
		if (v->chain[i].seq != want)
			continue;
		if (memcmp(v->chain[i].hash, v->o->expect_hash, METRO_AUDIT_HASH) != 0) {
			char got[2 * METRO_AUDIT_HASH + 1];
			metro_audit_hex(v->chain[i].hash, METRO_AUDIT_HASH, got);
			fail(v, "chain", 0, want, "expected-head", want,
			     "another history: chain record %lld is %.16s…, the expected head is "
			     "%.16s…",
			     (long long)want, got, hex);
			return;
		}
		v->r->head_checked = 1;
		return;
	}
	fail(v, "chain", 0, want, "expected-head", want,
	     "truncated or restarted history: the chain ends at record %lld, before the expected "
	     "head, record %lld (%.16s…)",
	     (long long)v->r->head_seq, (long long)want, hex);
}

/* The stored text of a procedure or a rig profile must still hash to the digest the runs
 * cite.  A table the file does not have (profiles before schema 3) is skipped here; whether
 * it should be there is the schema check's business. */
static void check_contents(struct vctx *v, const char *table, const char *what)
{
	sqlite3_stmt *st;
	char *sql = metro_asprintf("SELECT id, chain_seq, sha256, content FROM \"%s\"", table);
	int rc = sqlite3_prepare_v2(v->db, sql, -1, &st, NULL);
	free(sql);
	if (rc != SQLITE_OK)
		return; /* reported by check_table */
	while (sqlite3_step(st) == SQLITE_ROW) {
		char hex[2 * METRO_AUDIT_HASH + 1];
		const void *c = sqlite3_column_blob(st, 3);
		int len = sqlite3_column_bytes(st, 3);
		crypto_hash_sha256_state h;
		unsigned char d[METRO_AUDIT_HASH];
		crypto_hash_sha256_init(&h);
		if (c && len > 0)
			crypto_hash_sha256_update(&h, c, (unsigned long long)len);
		crypto_hash_sha256_final(&h, d);
		metro_audit_hex(d, METRO_AUDIT_HASH, hex);
		const char *stored = (const char *)sqlite3_column_text(st, 2);
		if (!stored || strcmp(stored, hex) != 0) {
			int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 1);
			fail(v, table, id, seq, what, seq ? seq : INT64_MAX,
			     "%s row %lld: stored sha256 %.16s… is not the digest of its "
			     "content (%.16s…)",
			     table, (long long)id, stored ? stored : "(null)", hex);
		}
	}
	sqlite3_finalize(st);
}

/* A certificate number must never be issued twice: the sequence must be at or past every
 * number issued, or the next one would repeat. */
static void check_cert_sequence(struct vctx *v)
{
	sqlite3_stmt *st, *q;
	if (sqlite3_prepare_v2(v->db, "SELECT id, chain_seq, number FROM certificates", -1, &st,
			       NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(v->db,
			       "SELECT last FROM cert_sequence WHERE station = ? AND year = ?", -1,
			       &q, NULL) != SQLITE_OK) {
		fail(v, "cert_sequence", 0, 0, "schema", 0, "cannot read cert_sequence: %s",
		     sqlite3_errmsg(v->db));
		sqlite3_finalize(st);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *num = (const char *)sqlite3_column_text(st, 2);
		int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 1);
		size_t len = num ? strlen(num) : 0;
		/* <station>-<YYYY>-<NNNNNN...> */
		const char *dash2 = num ? strrchr(num, '-') : NULL;
		if (!dash2 || dash2 - num < 6 || dash2[-5] != '-' ||
		    len - (size_t)(dash2 - num) < 2)
			continue; /* not ours to judge: the row hash covers the text */
		char *station = metro_strndup(num, (size_t)(dash2 - 5 - num));
		long year = strtol(dash2 - 4, NULL, 10);
		long long n = strtoll(dash2 + 1, NULL, 10);
		sqlite3_bind_text(q, 1, station, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(q, 2, year);
		long long last = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;
		sqlite3_reset(q);
		if (last < n)
			fail(v, "certificates", id, seq, "certificate-sequence",
			     seq ? seq : INT64_MAX,
			     "certificate %s (certificates row %lld) is beyond the sequence's last "
			     "number %lld for %s/%ld: a number could be issued twice",
			     num, (long long)id, last, station, year);
		free(station);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(q);
}

/* The key person held at chain position seq: the `new` value of the latest person_changes
 * row of their sign_pk before seq (hex, into key), or "" when none is recorded. */
static void key_at(sqlite3_stmt *q, const char *person, int64_t seq, char key[65])
{
	key[0] = '\0';
	sqlite3_bind_text(q, 1, person, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, seq);
	if (sqlite3_step(q) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 0);
		json_t *j = t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
		if (json_is_string(j) && json_string_length(j) == 64)
			memcpy(key, json_string_value(j), 65);
		json_decref(j);
	}
	sqlite3_reset(q);
}

/* Every certificate step (schema 4): its statement is the one its columns state, its
 * signature verifies under the key stored with it, and that key is the one the person held in
 * the registry at that point of the chain (person_changes, in chain order), so a later key
 * change leaves old steps valid and a step cannot carry a key its person never had. */
static void check_cert_steps(struct vctx *v)
{
	sqlite3_stmt *st, *q;
	if (sqlite3_prepare_v2(
		    v->db,
		    "SELECT id, chain_seq, station, certificate, step, person, time, why, "
		    "replaces, statement, signature, sign_pk FROM certificate_steps "
		    "ORDER BY id",
		    -1, &st, NULL) != SQLITE_OK)
		return; /* reported by check_table */
	if (sqlite3_prepare_v2(v->db,
			       "SELECT new FROM person_changes WHERE person = ? AND field = "
			       "'sign_pk' AND chain_seq < ? ORDER BY chain_seq DESC LIMIT 1",
			       -1, &q, NULL) != SQLITE_OK) {
		fail(v, "person_changes", 0, 0, "schema", 0, "cannot read person_changes: %s",
		     sqlite3_errmsg(v->db));
		sqlite3_finalize(st);
		return;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 1);
		const char *c[10];
		for (int i = 0; i < 10; i++)
			c[i] = sqlite3_column_type(st, i + 2) == SQLITE_TEXT
				       ? (const char *)sqlite3_column_text(st, i + 2)
				       : NULL;
		const char *statement = c[7], *sig = c[8], *pk_hex = c[9];
		int64_t at = seq ? seq : INT64_MAX;
		char *want = metro_cert_statement(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
		if (!want || !statement || strcmp(want, statement) != 0) {
			fail(v, "certificate_steps", id, seq, "step-statement", at,
			     "certificate_steps row %lld (chain record %lld, %s of %s): the signed "
			     "statement is not the one its columns state (a column or the "
			     "statement was edited)",
			     (long long)id, (long long)seq, c[2] ? c[2] : "?", c[1] ? c[1] : "?");
		}
		free(want);
		unsigned char pk[METRO_AUDIT_PUBKEY];
		if (!pk_hex || metro_audit_unhex(pk_hex, strlen(pk_hex), pk, sizeof pk) ||
		    metro_cert_verify(statement, sig, pk)) {
			fail(v, "certificate_steps", id, seq, "step-signature", at,
			     "certificate_steps row %lld (chain record %lld, %s of %s by %s): the "
			     "signature does not verify under the key stored with the step",
			     (long long)id, (long long)seq, c[2] ? c[2] : "?", c[1] ? c[1] : "?",
			     c[3] ? c[3] : "?");
			continue;
		}
		char held[65];
		key_at(q, c[3] ? c[3] : "", seq, held);
		if (strcasecmp(held, pk_hex) != 0)
			fail(v, "certificate_steps", id, seq, "step-key", at,
			     "certificate_steps row %lld (chain record %lld, %s of %s): signed "
			     "with "
			     "key %.16s…, but person %s held %s%.16s%s in the registry then",
			     (long long)id, (long long)seq, c[2] ? c[2] : "?", c[1] ? c[1] : "?",
			     pk_hex, c[3] ? c[3] : "?", held[0] ? "key " : "no key", held,
			     held[0] ? "…" : "");
	}
	sqlite3_finalize(st);
	sqlite3_finalize(q);
}

int metro_audit_verify(const struct metro_audit_opts *o, struct metro_audit_report *r)
{
	struct vctx v = {o, r, NULL, NULL, 0, 0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(r, 0, sizeof *r);
	if (sodium_init() < 0) {
		fail(&v, "", 0, 0, "open", 0, "libsodium cannot initialise");
		return METRO_E_IO;
	}
	char err[512];
	int rc = metro_audit_open_ro(o->db_path, &v.db, &r->schema_version, err, sizeof err);
	if (rc) {
		fail(&v, "", 0, 0, "open", 0, "%s", err);
		return rc;
	}
	r->trusted_key = o->npubkeys > 0;
	/* One read transaction: every check sees the same snapshot even if a writer is busy
	 * with the file (verifying a live database rather than a copy). */
	sqlite3_exec(v.db, "BEGIN", NULL, NULL, NULL);
	check_integrity(&v);
	int missing = 0;
	for (int i = 0; metro_audit_tables[i].name; i++) {
		const struct metro_audit_table *t = &metro_audit_tables[i];
		if (t->since > r->schema_version)
			continue;
		if (!table_exists(v.db, t->name)) {
			fail(&v, t->name, 0, 0, "schema", 0, "table %s is missing (dropped)",
			     t->name);
			missing++;
		}
	}
	if (!table_exists(v.db, "chain")) {
		fail(&v, "chain", 0, 0, "schema", 0, "table chain is missing (dropped)");
	} else {
		load_chain(&v);
		/* A table newer than the file's schema version is checked too when it is there:
		 * its rows are chained all the same, whatever user_version says. */
		for (int i = 0; metro_audit_tables[i].name; i++) {
			if (!table_exists(v.db, metro_audit_tables[i].name))
				continue;
			check_table(&v, i);
			r->tables++;
		}
		if (!missing)
			check_claims(&v);
		struct metro_audit_checkpoint *cps;
		size_t ncp;
		check_checkpoints(&v, &cps, &ncp);
		r->checkpoints = (int64_t)ncp;
		if (ncp) {
			r->last = cps[ncp - 1];
			r->unsigned_tail = r->head_seq - r->last.chain_seq;
		} else {
			r->unsigned_tail = r->head_seq;
		}
		if (o->published)
			check_published(&v, cps, ncp);
		if (o->expect_seq > 0)
			check_expected_head(&v);
		free(cps);
		check_contents(&v, "procedures", "procedure-hash");
		if (table_exists(v.db, "profiles"))
			check_contents(&v, "profiles", "profile-hash");
		check_cert_sequence(&v);
		if (table_exists(v.db, "certificate_steps"))
			check_cert_steps(&v);
	}
	if (!r->checkpoints) {
		if (o->strict)
			fail(&v, "checkpoints", 0, 0, "unsigned", INT64_MAX,
			     "no checkpoint: nothing in this database is signed");
		else
			warn(&v, "no checkpoint: nothing in this database is signed");
	} else if (r->unsigned_tail > 0) {
		if (o->strict)
			fail(&v, "chain", 0, r->last.chain_seq + 1, "unsigned", INT64_MAX,
			     "%lld chain records after the last checkpoint (records %lld..%lld) "
			     "are "
			     "not signed",
			     (long long)r->unsigned_tail, (long long)r->last.chain_seq + 1,
			     (long long)r->head_seq);
		else
			warn(&v,
			     "%lld chain records after the last checkpoint (records %lld..%lld) "
			     "are "
			     "not signed yet",
			     (long long)r->unsigned_tail, (long long)r->last.chain_seq + 1,
			     (long long)r->head_seq);
	}
	if (!o->npubkeys && r->checkpoints) {
		const char *m = "signatures were checked against the public key stored in the "
				"database: this shows the records are consistent, not who wrote "
				"them (anyone with write access can re-sign); give --pubkey FILE";
		if (o->strict)
			fail(&v, "", 0, 0, "untrusted-key", INT64_MAX, "%s", m);
		else
			warn(&v, "%s", m);
	}
	if (r->nfailures)
		qsort(r->failures, r->nfailures, sizeof *r->failures, by_order);
	free(v.chain);
	sqlite3_exec(v.db, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(v.db);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return r->total_failures ? METRO_E_CORRUPT : METRO_OK;
}

void metro_audit_report_free(struct metro_audit_report *r)
{
	for (size_t i = 0; i < r->nwarnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	free(r->failures);
	memset(r, 0, sizeof *r);
}

static json_t *failure_json(const struct metro_audit_failure *f)
{
	json_t *j = json_pack("{ss ss ss}", "check", f->check, "table", f->table, "message",
			      f->message);
	json_object_set_new(j, "row", f->row ? json_integer(f->row) : json_null());
	json_object_set_new(j, "chain_seq",
			    f->chain_seq ? json_integer(f->chain_seq) : json_null());
	return j;
}

json_t *metro_audit_report_json(const struct metro_audit_report *r, int result)
{
	const char *res = result == METRO_OK	      ? "verified"
			  : result == METRO_E_CORRUPT ? "failed"
						      : "unreadable";
	json_t *j = json_pack(
		"{sb ss si sI sI sI s{sI ss} sI sI ss sb sI sf}", "ok", result == METRO_OK,
		"result", res, "schema_version", r->schema_version, "records",
		(json_int_t)r->records, "rows", (json_int_t)r->rows, "tables",
		(json_int_t)r->tables, "head", "seq", (json_int_t)r->head_seq, "hash", r->head_hash,
		"checkpoints", (json_int_t)r->checkpoints, "unsigned_tail",
		(json_int_t)r->unsigned_tail, "trust", r->trusted_key ? "pubkey" : "stored-key",
		"rollback_checked", r->rollback_checked, "failure_count",
		(json_int_t)r->total_failures, "seconds", r->seconds);
	json_object_set_new(j, "expected_head_checked", json_boolean(r->head_checked));
	if (r->checkpoints) {
		json_t *cp = metro_audit_checkpoint_json(&r->last);
		json_object_set_new(cp, "chain_seq", json_integer(r->last.chain_seq));
		json_object_set_new(j, "last_checkpoint", cp);
	} else {
		json_object_set_new(j, "last_checkpoint", json_null());
	}
	json_t *w = json_array(), *f = json_array();
	for (size_t i = 0; i < r->nwarnings; i++)
		json_array_append_new(w, json_string(r->warnings[i]));
	for (size_t i = 0; i < r->nfailures; i++)
		json_array_append_new(f, failure_json(&r->failures[i]));
	json_object_set_new(j, "warnings", w);
	json_object_set_new(j, "first_failure",
			    r->nfailures ? failure_json(&r->failures[0]) : json_null());
	json_object_set_new(j, "failures", f);
	return j;
}
