/* store_int.h — what the files of the record store share (store.c, store_registry.c,
 * store_runs.c, store_query.c, store_report.c, store_state.c, store_clock.c); not for use
 * outside lib/records. */
#ifndef METRO_STORE_INT_H
#define METRO_STORE_INT_H

#include <jansson.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit.h"
#include "audit_int.h"
#include "store.h"

/* Document seqs are reserved in blocks of this size, one durable write per block. */
#define SEQ_BLOCK 65536

struct stmt_cache {
	char *sql;
	sqlite3_stmt *st;
};

struct metro_store {
	sqlite3 *db;
	char *path;
	char *station;
	int readonly;
	int schema;
	int have_key;
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char pk_hex[2 * crypto_sign_PUBLICKEYBYTES + 1];
	struct stmt_cache *cache;
	size_t ncache;
	int depth;  /* transaction nesting */
	int doomed; /* error that will roll the outermost transaction back */
	int64_t head_seq;
	unsigned char head_hash[METRO_AUDIT_HASH];
	int64_t seq_next, seq_reserved;
	int64_t *recovered;
	size_t nrecovered;
	char failed[512]; /* "" while healthy */
	char errmsg[512];
	/* store_state.c: the state file beside the key, what it said at open, and the watch on
	 * the database file */
	char *state_path;
	int existed; /* the database file was there before the open */
	struct st_prior {
		int64_t chain_seq;
		char chain_head[65];
		int64_t checkpoint_epoch;
		char database[512];
	} * prior;
	int watch_fd; /* -1: not watched (read-only) */
	dev_t dev;
	ino_t ino;
	/* store_clock.c: the newest wall time recorded (microseconds since 1970), once loaded */
	int64_t wall_newest_us;
	int wall_loaded;
};

/* Helpers shared by the store's files (defined where their section lives). */
/* Set the error message and return err. */
int st_refuse(struct metro_store *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int st_empty(const char *p);
void st_now_iso(char buf[40]);
void st_today(struct metro_date *d, char buf[11]);
int st_sqlfail(struct metro_store *s, int rc, const char *what);
sqlite3_stmt *st_prep(struct metro_store *s, const char *sql);
char *st_dump_json(const json_t *j);
void st_bind_value(sqlite3_stmt *st, int idx, const json_t *v);
void st_bindv(sqlite3_stmt *st, int skip, const char *fmt, va_list ap);
sqlite3_stmt *st_query(struct metro_store *s, const char *sql, const char *fmt, ...);
int st_exec1(struct metro_store *s, const char *what, const char *sql, const char *fmt, ...);
int st_query_int(struct metro_store *s, int64_t *out, const char *sql, const char *fmt, ...);
int st_query_text(struct metro_store *s, char **out, const char *sql, const char *fmt, ...);
int st_finish_chained(struct metro_store *s, sqlite3_stmt *st, const char *table, int op,
		      int64_t row_id, int64_t seq, int64_t *id);
int st_write_chained(struct metro_store *s, const char *table, int op, int64_t row_id, int64_t *id,
		     const char *sql, const char *fmt, ...);
int st_tx_end(struct metro_store *s, int err);
int st_audit_event(struct metro_store *s, const char *actor, const char *action,
		   const char *subject, const json_t *old_value, const json_t *new_value,
		   const char *why, int64_t *id);
json_t *st_col_json(sqlite3_stmt *st, int c);
/* store_state.c: the state file (path for a key path), its check before the database is
 * opened (nothing is created where a history is missing) and after (the recorded head is in
 * the chain; a new store records what it replaces; the file watch starts), and its rewrite. */
char *st_state_path(const char *keyp);
int st_state_before_open(struct metro_store *s, const struct metro_store_opts *o, const char *keyp,
			 char *err, size_t cap);
int st_state_after_open(struct metro_store *s, const struct metro_store_opts *o, char *err,
			size_t cap);
int st_state_write(struct metro_store *s);
/* store_runs.c: the position's current verdict (id and name, caller frees), METRO_E_NOTFOUND
 * when it has none; numbering a certificate inside the caller's transaction (workflow 1 or
 * 0, replaces NULL or the voided number a reissue replaces). */
int st_current_verdict(struct metro_store *s, int64_t run, int position, int64_t *id,
		       char **verdict);
int st_certificate_number(struct metro_store *s, int64_t run, int position, int workflow,
			  const char *replaces, char number[METRO_STORE_CERT_MAX]);
/* store_clock.c: a chained record was written now (the newest wall time moves on). */
void st_clock_note(struct metro_store *s);

#endif
