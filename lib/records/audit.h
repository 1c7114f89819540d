/* audit.h — the canonical record encoding, the hash chain, checkpoints and the offline verifier.
 *
 * The record store (store.c) appends every row of a chained table to a hash chain; this module
 * owns the bytes that are hashed and signed, so that the writer and the verifier cannot drift
 * apart: both call the same encoder.  docs/records.md documents every byte.
 *
 *   row record   "MROW" v1, table, row id, then the row's non-NULL columns sorted by name, each
 *                typed and length-prefixed.  row_hash = SHA-256(row record).
 *   link record  "MLNK" v1, chain seq, op (insert/update), table, row id, row_hash, previous
 *                link hash.  hash = SHA-256(link record); the chain head is the last hash.
 *   checkpoint   "MCKP" v1, station, epoch, head seq, head hash, time, public key; signed with
 *                Ed25519 (detached), short id = first 12 hex digits of SHA-256(message).
 *
 * The verifier (metro_audit_verify) works on a database file opened read-only and trusts
 * nothing in it: not the schema's triggers, not its indexes, not the public key it stores
 * (unless told to; see docs/records.md "What the public key proves").
 *
 * What works on SQLite statements and handles (hashing a stored row, reading a checkpoint
 * row, opening a file for inspection) is in audit_int.h: SQLite stays inside lib/records.
 */
#ifndef METRO_AUDIT_H
#define METRO_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define METRO_AUDIT_FORMAT 1	  /* version byte of all three encodings */
#define METRO_AUDIT_HASH 32	  /* SHA-256 */
#define METRO_AUDIT_PUBKEY 32	  /* Ed25519 public key */
#define METRO_AUDIT_SIG 64	  /* Ed25519 signature */
#define METRO_AUDIT_MAX_FIELDS 64 /* columns of one row record */
#define METRO_AUDIT_MAX_NAME 63	  /* table, column and station names */
#define METRO_AUDIT_SHORT_ID 12	  /* hex digits of a checkpoint's short id */

/* Exit codes of `metroctl audit verify` (docs/records.md). */
enum {
	METRO_AUDIT_EXIT_OK = 0,
	METRO_AUDIT_EXIT_FAILED = 1,
	METRO_AUDIT_EXIT_USAGE = 2,
	METRO_AUDIT_EXIT_UNREADABLE = 5,
};

/* ---- the chained tables -------------------------------------------------------------------- */

struct metro_audit_table {
	const char *name;
	const char *key; /* its INTEGER PRIMARY KEY column: the row id of the encoding */
	int is_mutable;	 /* rows may be updated; each update is a new chain record */
	int since;	 /* schema version that created the table */
};

/* The chained tables, in the order the verifier scans them; NULL-terminated by name. */
extern const struct metro_audit_table metro_audit_tables[];
/* The descriptor of a chained table, or NULL when the table is not chained. */
const struct metro_audit_table *metro_audit_table(const char *name);

/* ---- canonical encoding (pure) ------------------------------------------------------------- */

enum { METRO_AUDIT_ROW = 1, METRO_AUDIT_LINK = 2, METRO_AUDIT_CHECKPOINT = 3 };
enum { METRO_AUDIT_INSERT = 1, METRO_AUDIT_UPDATE = 2 };
enum { METRO_AUDIT_INTEGER = 1, METRO_AUDIT_REAL = 2, METRO_AUDIT_TEXT = 3, METRO_AUDIT_BLOB = 4 };

struct metro_audit_field {
	const char *name; /* not NUL-terminated: name_len bytes */
	size_t name_len;
	int type;	  /* METRO_AUDIT_INTEGER ... */
	int64_t i;	  /* INTEGER */
	double r;	  /* REAL */
	const void *data; /* TEXT, BLOB: len bytes */
	size_t len;
};

/* One decoded (or to-be-encoded) record.  Pointers refer into the caller's buffers. */
struct metro_audit_record {
	int kind;	  /* METRO_AUDIT_ROW, _LINK, _CHECKPOINT */
	const char *name; /* ROW, LINK: table; CHECKPOINT: station */
	size_t name_len;
	int64_t row_id; /* ROW, LINK */
	size_t nfields; /* ROW */
	struct metro_audit_field fields[METRO_AUDIT_MAX_FIELDS];
	int64_t seq;				   /* LINK: chain seq */
	int op;					   /* LINK: METRO_AUDIT_INSERT or _UPDATE */
	unsigned char row_hash[METRO_AUDIT_HASH];  /* LINK */
	unsigned char prev[METRO_AUDIT_HASH];	   /* LINK */
	int64_t epoch;				   /* CHECKPOINT */
	int64_t head_seq;			   /* CHECKPOINT */
	unsigned char head_hash[METRO_AUDIT_HASH]; /* CHECKPOINT */
	const char *time;			   /* CHECKPOINT: ISO 8601 UTC text */
	size_t time_len;
	unsigned char pubkey[METRO_AUDIT_PUBKEY]; /* CHECKPOINT */
};

/* Encode a record into buf (at most cap bytes; buf may be NULL when cap is 0) and, when h is
 * not NULL, feed the same bytes to SHA-256 state h (a crypto_hash_sha256_state).  Returns the
 * full encoded length (like snprintf), or 0 when the record is not encodable (a name out of
 * 1..63 bytes, fields not strictly sorted by name, a bad type or op).  Pure: no I/O. */
size_t metro_audit_encode(const struct metro_audit_record *r, unsigned char *buf, size_t cap,
			  void *h);

/* Decode and validate one encoded record: the exact inverse of metro_audit_encode.  Accepts
 * only canonical input (every byte consumed, fields sorted and unique, names of [a-z0-9_],
 * known magic, version, types and op), so that decode-then-encode reproduces the input
 * bytes.  On success returns 0 and fills *out with pointers into buf; otherwise
 * METRO_E_CORRUPT and, when why is not NULL, a static reason.  Pure: no I/O, no allocation;
 * safe on any input (this is the fuzz target). */
int metro_audit_decode(const void *buf, size_t len, struct metro_audit_record *out,
		       const char **why);

/* The link hash of chain record seq. */
void metro_audit_link_hash(int64_t seq, int op, const char *table, int64_t row_id,
			   const unsigned char row_hash[METRO_AUDIT_HASH],
			   const unsigned char prev[METRO_AUDIT_HASH],
			   unsigned char out[METRO_AUDIT_HASH]);

/* ---- checkpoints --------------------------------------------------------------------------- */

struct metro_audit_checkpoint {
	int64_t row_id;	   /* checkpoints.id (0 when not stored) */
	int64_t chain_seq; /* the checkpoint row's own place in the chain (0 when not stored) */
	char station[METRO_AUDIT_MAX_NAME + 1];
	int64_t epoch;
	int64_t head_seq;
	unsigned char head_hash[METRO_AUDIT_HASH];
	char time[40];
	unsigned char pubkey[METRO_AUDIT_PUBKEY];
	unsigned char signature[METRO_AUDIT_SIG];
	char short_id[METRO_AUDIT_SHORT_ID + 1];
};

/* The signed message of a checkpoint (the "MCKP" record) into buf; returns its length, 0 when
 * cp's station or time cannot be encoded or buf is too small (256 bytes always suffice). */
size_t metro_audit_checkpoint_message(const struct metro_audit_checkpoint *cp, unsigned char *buf,
				      size_t cap);
/* Sign: fills cp->pubkey, cp->signature and cp->short_id from the other fields.  sk is a
 * libsodium Ed25519 secret key (64 bytes).  Returns 0 or METRO_E_INVAL. */
int metro_audit_checkpoint_sign(struct metro_audit_checkpoint *cp, const unsigned char *sk);
/* Check the signature with pk (cp->pubkey when pk is NULL) and the short id.  Returns 0 or
 * METRO_E_CORRUPT with a static reason in why. */
int metro_audit_checkpoint_check(const struct metro_audit_checkpoint *cp, const unsigned char *pk,
				 const char **why);
/* The published JSON document of a checkpoint (schema "metrod.audit.checkpoint/1").  The
 * caller adds "seq".  Returns a new reference. */
json_t *metro_audit_checkpoint_json(const struct metro_audit_checkpoint *cp);
/* Parse a published checkpoint document.  Returns 0, or METRO_E_INVAL with a static reason. */
int metro_audit_checkpoint_parse(const json_t *doc, struct metro_audit_checkpoint *cp,
				 const char **why);
/* ---- keys ---------------------------------------------------------------------------------- */

/* Hex <-> bytes.  metro_audit_unhex accepts exactly 2*n hex digits (either case) and returns 0
 * or METRO_E_INVAL. */
void metro_audit_hex(const unsigned char *b, size_t n, char *hex);
int metro_audit_unhex(const char *hex, size_t hexlen, unsigned char *b, size_t n);
/* Read a public key file (64 hex digits, surrounding white space allowed).  Returns 0,
 * METRO_E_NOTFOUND, METRO_E_IO or METRO_E_INVAL (not a key). */
int metro_audit_read_pubkey(const char *path, unsigned char pk[METRO_AUDIT_PUBKEY]);

/* ---- the verifier -------------------------------------------------------------------------- */

#define METRO_AUDIT_MAX_PUBKEYS 8
#define METRO_AUDIT_MAX_REPORTED 100

struct metro_audit_opts {
	const char *db_path;
	/* Trusted station keys (--pubkey).  None: each checkpoint is checked against the key
	 * stored beside it, which proves internal consistency only (a warning says so). */
	unsigned char pubkeys[METRO_AUDIT_MAX_PUBKEYS][METRO_AUDIT_PUBKEY];
	size_t npubkeys;
	/* A previously published checkpoint (--checkpoint): the database must contain it and
	 * extend it; otherwise it was rolled back or forked.  NULL: no rollback check. */
	const struct metro_audit_checkpoint *published;
	/* An expected chain head (--expect-head, or the store's state file): the chain must
	 * contain record expect_seq with this hash; otherwise the history was truncated,
	 * restarted or replaced.  expect_seq 0: no such check. */
	int64_t expect_seq;
	unsigned char expect_hash[METRO_AUDIT_HASH];
	/* Treat as failures what is otherwise a warning: records after the last checkpoint, no
	 * checkpoint at all, and trusting the stored key. */
	int strict;
};

struct metro_audit_failure {
	char table[METRO_AUDIT_MAX_NAME + 1]; /* "" when not about one table */
	int64_t row;			      /* row id, 0 when not about one row */
	int64_t chain_seq;		      /* chain position, 0 when none */
	const char *check;		      /* stable name: "row-hash", "link-hash", ... */
	char message[384];
	int64_t order; /* sort key: chain position, 0 for whole-file problems */
	size_t found;  /* discovery order: breaks ties */
};

struct metro_audit_report {
	int schema_version;
	int64_t records; /* chain records */
	int64_t rows;	 /* table rows checked */
	size_t tables;
	int64_t head_seq;
	char head_hash[2 * METRO_AUDIT_HASH + 1];
	int64_t checkpoints;
	struct metro_audit_checkpoint last; /* valid when checkpoints > 0 */
	int64_t unsigned_tail;		    /* chain records after the last checkpoint */
	int trusted_key;		    /* signatures checked against --pubkey */
	int rollback_checked;		    /* a published checkpoint was given and found */
	int head_checked;		    /* the expected head was given and found */
	char **warnings;
	size_t nwarnings;
	struct metro_audit_failure *failures; /* sorted: the first failing record first */
	size_t nfailures;		      /* kept (at most METRO_AUDIT_MAX_REPORTED) */
	size_t total_failures;		      /* found */
	double seconds;
};

/* Verify a database file: every chain link, every row against its chain record, every row
 * present and in the chain, every checkpoint (epochs, coverage, signature, short id), the
 * published checkpoint if given, and consistency checks (procedure content hashes, the
 * certificate sequence).  Never writes: the file is opened read-only and the schema is not
 * trusted.  Returns 0 when everything holds, METRO_E_CORRUPT when verification failed (the
 * report says what), or METRO_E_NOTFOUND / METRO_E_IO / METRO_E_UNSUPPORTED when the file
 * cannot be opened or read as a record store (reason in report->failures[0]).  The report is
 * always filled; free it with metro_audit_report_free. */
int metro_audit_verify(const struct metro_audit_opts *o, struct metro_audit_report *report);
void metro_audit_report_free(struct metro_audit_report *r);
/* The report as a JSON object (new reference). */
json_t *metro_audit_report_json(const struct metro_audit_report *r, int result);

#endif
