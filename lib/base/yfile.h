/* yfile.h — YAML files read through libyaml's document (node) API, with typed accessors that
 * report problems as FILE:LINE:COL diagnostics.
 *
 * Every file metrod reads (daemon configuration, rig profiles, procedures, batches) goes through
 * here, so the hostile-input defences live in one place:
 *   - size cap, UTF-8 validation with the position of the first bad byte, exactly one document;
 *   - a pre-pass over libyaml's event stream that refuses aliases (they allow cycles and
 *     "billion laughs" expansion, and a reviewable procedure should spell values out), caps the
 *     nesting depth (libyaml's composer recurses, so depth is a stack-overflow risk) and the
 *     length of a scalar, before the document is composed at all.
 * The accessors never crash on a wrong type: they add a diagnostic and return METRO_E_INVAL,
 * so a loader can keep going and report every problem of a file in one run.
 */
#ifndef METRO_YFILE_H
#define METRO_YFILE_H

#include <stddef.h>
#include <yaml.h>

#include "diag.h"
#include "sha256.h"

#define METRO_Y_MAX_BYTES (4u << 20)
#define METRO_Y_MAX_DEPTH 32
#define METRO_Y_MAX_SCALAR 65536
#define METRO_Y_MAX_NODES 200000

struct metro_yfile {
	char *name; /* path used in messages */
	/* SHA-256 of exactly the bytes parsed (lowercase hex): a loader that records a digest
	 * takes it from here, never from reading the file a second time (it may have changed in
	 * between). */
	char sha256[METRO_SHA256_HEX];
	yaml_document_t doc;
	int have_doc;
	struct metro_diag *diag; /* borrowed */
};

/* Load a YAML file.  On success returns 0 and *out (free with metro_yfile_destroy).  On failure
 * returns METRO_E_INVAL (or METRO_E_NOTFOUND/METRO_E_IO) with diagnostics in diag; *out is NULL. */
int metro_yfile_load(const char *path, struct metro_diag *diag, struct metro_yfile **out);
/* Same from memory; name is used in messages.  Used by tests and fuzzers. */
int metro_yfile_load_buffer(const char *name, const unsigned char *buf, size_t len,
			    struct metro_diag *diag, struct metro_yfile **out);
void metro_yfile_destroy(struct metro_yfile **pf);

yaml_node_t *metro_y_root(struct metro_yfile *f);

/* Add a diagnostic at a node's start position (node may be NULL: no position). */
void metro_y_error(struct metro_yfile *f, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A key's path in messages: "rigs[2].connection.port".  The path is built in a fixed-size
 * struct returned by value, so a call can build it where it is used:
 *     metro_y_long(f, n, metro_ykey(where, "port").s, 1, 65535, &port);
 * (the temporary lives to the end of the full expression, C11 6.2.4p8, and two paths in one
 * call are two temporaries).  A path that does not fit is cut at a UTF-8 character boundary
 * and ends in "...", so a cut is visible and the buffer never overflows. */
#define METRO_YPATH_MAX 256
struct metro_ypath {
	char s[METRO_YPATH_MAX];
};
/* "where.key", or "key" alone when where is NULL or "" (the top level). */
struct metro_ypath metro_ykey(const char *where, const char *key);
/* "where[i]": an item of a list. */
struct metro_ypath metro_yindex(const char *where, int i);

/* One allowed key of a mapping. */
struct metro_yfield {
	const char *key;
	int required;
};

/* Check that node is a mapping whose keys are plain scalars from fields[0..n), none repeated,
 * every required one present.  vals[i] receives the value node of fields[i] or NULL.  `where`
 * names the mapping in messages ("rigs[1]", "" for the top level).  Returns 0 or METRO_E_INVAL
 * (with diagnostics); vals is filled as far as possible either way. */
int metro_y_map(struct metro_yfile *f, yaml_node_t *node, const char *where,
		const struct metro_yfield *fields, size_t n, yaml_node_t **vals);

/* Sequence helpers.  metro_y_seq checks the type (adding a diagnostic) and returns the length
 * or -1. */
int metro_y_seq(struct metro_yfile *f, yaml_node_t *node, const char *name);
yaml_node_t *metro_y_seq_at(struct metro_yfile *f, yaml_node_t *seq, int i);

/* Typed scalar accessors.  `name` is the dotted key path for messages ("rigs[1].positions").
 * Each returns 0 and sets *out, or returns METRO_E_INVAL after adding a diagnostic and leaves
 * *out unchanged.  String results are allocated (free them). */
int metro_y_str(struct metro_yfile *f, yaml_node_t *n, const char *name, size_t maxlen, char **out);
/* Like metro_y_str but control characters are allowed (terminators such as "\r\n"). */
int metro_y_bytes(struct metro_yfile *f, yaml_node_t *n, const char *name, size_t maxlen,
		  char **out);
/* An identifier: 1..64 characters of [A-Za-z0-9_.-], starting with a letter or digit.  Ids end
 * up in topics and file names, so the alphabet is narrow on purpose. */
int metro_y_ident(struct metro_yfile *f, yaml_node_t *n, const char *name, char **out);
int metro_y_long(struct metro_yfile *f, yaml_node_t *n, const char *name, long min, long max,
		 long *out);
/* Finite decimal number within [min, max]; NaN, Inf and hex are refused. */
int metro_y_double(struct metro_yfile *f, yaml_node_t *n, const char *name, double min, double max,
		   double *out);
/* The scalar text of a number, checked like metro_y_double (for exact decimal use). */
int metro_y_number_text(struct metro_yfile *f, yaml_node_t *n, const char *name, char **out);
int metro_y_bool(struct metro_yfile *f, yaml_node_t *n, const char *name, int *out);
/* One of choices[0..n) exactly; *out is its index. */
int metro_y_enum(struct metro_yfile *f, yaml_node_t *n, const char *name,
		 const char *const *choices, size_t nchoices, int *out);

struct metro_date {
	int year, month, day;
};
/* A calendar date written YYYY-MM-DD. */
int metro_y_date(struct metro_yfile *f, yaml_node_t *n, const char *name, struct metro_date *out);
int metro_date_parse(const char *s, struct metro_date *out);
/* Days since 1970-01-01 (proleptic Gregorian). */
long metro_date_days(const struct metro_date *d);
/* Today's date in the machine's local time zone (due dates are the lab's calendar days). */
struct metro_date metro_date_today(void);
int metro_date_cmp(const struct metro_date *a, const struct metro_date *b);

/* 1-based position of a node, for messages built by callers. */
unsigned metro_y_line(const yaml_node_t *n);
unsigned metro_y_col(const yaml_node_t *n);

/* Nonzero when the node is a scalar that YAML would read as null ("", "~", "null"). */
int metro_y_is_null(const yaml_node_t *n);

#endif
