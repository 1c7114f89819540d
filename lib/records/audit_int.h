/* audit_int.h — the parts of the chain code that work on SQLite statements and handles:
 * hashing a stored row, reading a checkpoint row, opening a file for inspection.  For the files
 * of lib/records (store*.c, audit*.c) and the tests; SQLite stays inside lib/records, so
 * nothing else includes this (tools/scripts/check-layout.py checks that <sqlite3.h> is
 * included only here and in lib/records' .c files). */
#ifndef METRO_AUDIT_INT_H
#define METRO_AUDIT_INT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"

/* row_hash of the current row of a stepped statement that selected every column of a chained
 * table (SELECT * FROM table ...): the key column gives the row id, chain_seq and NULL
 * columns are left out.  Returns 0, or METRO_E_CORRUPT (no key column, key not an integer,
 * too many columns, a name the encoding cannot carry) with a reason in why. */
int metro_audit_hash_row(sqlite3_stmt *st, const char *table, const char *key,
			 unsigned char hash[METRO_AUDIT_HASH], const char **why);

/* The columns of a checkpoints row, in the order metro_audit_checkpoint_row() reads them. */
#define METRO_AUDIT_CHECKPOINT_COLS \
	"id, chain_seq, station, epoch, head_seq, head_hash, pubkey, signature, short_id, time"
/* Fill cp from a row selected with METRO_AUDIT_CHECKPOINT_COLS; 0 or METRO_E_CORRUPT. */
int metro_audit_checkpoint_row(sqlite3_stmt *st, struct metro_audit_checkpoint *cp);
/* Read checkpoint `epoch` (the latest when epoch is 0) from an open database.  Returns 0,
 * METRO_E_NOTFOUND (none), METRO_E_CORRUPT (a column of the wrong shape) or METRO_E_IO. */
int metro_audit_checkpoint_load(sqlite3 *db, int64_t epoch, struct metro_audit_checkpoint *cp);

/* Open a record store read-only for inspection (no writes, untrusted schema: triggers and
 * views are not run, defensive mode on).  Returns 0 or METRO_E_NOTFOUND / METRO_E_IO /
 * METRO_E_UNSUPPORTED (not a record store, or a newer schema), with a message in err
 * (cap bytes). */
int metro_audit_open_ro(const char *path, sqlite3 **db, int *schema_version, char *err, size_t cap);

#endif
