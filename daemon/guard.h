/* guard.h — two guards of the control plane (control.c; docs/protocol.md, docs/records.md):
 *
 * - the repeat cache: the reply to a state-changing request, kept so that the same request
 *   sent again by the same connection is answered, not executed twice.  A connection is the
 *   ROUTER routing id of the peer plus its CURVE identity (when it has one); the key holds the
 *   SHA-256 of the canonical request text.  Nothing is ever answered to another connection,
 *   entries expire after METRO_REPEAT_TTL_S and at most METRO_REPEAT_MAX are kept.
 * - the bounded audit of refusals: a refused state-changing request is an audit event, its
 *   request cut to METRO_REFUSAL_TEXT_MAX bytes (saying where).  Within a window of
 *   METRO_REFUSAL_WINDOW_S per client, only the first of each kind of refusal (command and
 *   error code), and at most METRO_REFUSAL_STORED_MAX kinds, are stored; the others are
 *   counted and recorded as one `refused.repeats` audit event when the window ends, when the
 *   client's next accepted command is recorded, or when metrod stops.  Logging follows the
 *   same rule (a line per stored refusal, one per summary), so neither the record store nor
 *   the log grows faster than a small, fixed amount per client and window.
 */
#ifndef METRO_GUARD_H
#define METRO_GUARD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define METRO_REPEAT_TTL_S 600	    /* a reply is answered again for 10 minutes */
#define METRO_REPEAT_MAX 256	    /* replies kept at most (the oldest go first) */
#define METRO_REFUSAL_WINDOW_S 60   /* refusals of a client are summarised per minute */
#define METRO_REFUSAL_STORED_MAX 8  /* kinds of refusal stored per client and window */
#define METRO_REFUSAL_TEXT_MAX 1024 /* bytes of a refused request kept in its audit event */
#define METRO_REFUSAL_CLIENTS 64    /* clients with an open window (the oldest flushed first) */

struct metro_guard;

struct metro_guard *metro_guard_new(void);
/* Record the pending refusal summaries into store (when not NULL) and free; takes NULL. */
void metro_guard_destroy(struct metro_guard **pg, struct metro_store *store);

/* The earlier reply to this request from this connection (a new reference), or NULL.
 * conn names the connection (routing id and CURVE identity), canon is the canonical request
 * text; now_ns is monotonic. */
json_t *metro_guard_repeat_get(struct metro_guard *g, const char *conn, const char *canon,
			       uint64_t now_ns);
/* Keep reply (borrowed; a reference is taken) for a repeat of this request. */
void metro_guard_repeat_put(struct metro_guard *g, const char *conn, const char *canon,
			    json_t *reply, uint64_t now_ns);

/* A refused state-changing request. */
struct metro_refusal {
	const char *who;     /* the client's name: its CURVE allowlist name or "local" */
	const char *role;    /* its role's name (for the log) */
	const char *action;  /* the audit event's action: "refused" (role too low) or the command */
	const char *subject; /* the audit event's subject (the command or the rig); may be NULL */
	const char *cmd;     /* the command */
	const char *code;    /* the reply's error code */
	const char *message; /* the reply's error message */
	const json_t *req;   /* the request */
};
/* Audit (bounded) and log a refusal, or count it in the client's window. */
void metro_guard_refused(struct metro_guard *g, struct metro_store *store,
			 const struct metro_refusal *r, uint64_t now_ns);
/* Record the summary of counted refusals: of client who (NULL: every client) whose window has
 * ended by now_ns, or every window when all is set (a client's accepted command, a stop). */
void metro_guard_flush(struct metro_guard *g, struct metro_store *store, const char *who,
		       uint64_t now_ns, int all);
/* The request as a refusal's audit event keeps it: the request itself when its compact text
 * fits in max bytes, else {"cut_at": max, "bytes": N, "head": <the first max bytes, ending on
 * a whole UTF-8 character>}.  A new reference. */
json_t *metro_guard_bounded_request(const json_t *req, size_t max);

#endif
