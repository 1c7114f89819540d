/* metroctl_client.h — talking to the daemon: one request and its reply over the control
 * socket, the CURVE keys of the client, and a watch on the daemon's record store while
 * waiting on runs (metroctl_client.c).  Used by the command table (metroctl.c: ping, status,
 * the --key options) and the run commands (metroctl_run.c).
 */
#ifndef METROCTL_CLIENT_H
#define METROCTL_CLIENT_H

#include <jansson.h>

#include "metroctl_cmd.h"

/* Send one request to the daemon and wait for the reply (o->timeout_ms).  Takes ownership of
 * req (NULL is reported as an internal error).  Returns the reply (caller owns it) or NULL
 * when the daemon did not answer (message on stderr). */
json_t *metroctl_request(const struct metroctl_opts *o, json_t *req);
/* Send one request (as metroctl_request) and report its reply: with --json the reply as it
 * is on stdout (a refusal too: `ok` false and its `error`); otherwise print(reply) when it is
 * accepted (print may be NULL) and metroctl_refusal when it is refused.  Returns
 * METROCTL_EXIT_OK, METROCTL_EXIT_REFUSED or METROCTL_EXIT_UNREACHABLE; the reply is handed
 * back in *out when out is not NULL (NULL when unreachable). */
int metroctl_call(const struct metroctl_opts *o, json_t *req, void (*print)(json_t *reply),
		  json_t **out);
/* Say on stderr that the daemon refused cmd: "metroctl: CMD: refused (CODE): MESSAGE". */
void metroctl_refusal(const char *cmd, json_t *reply);
/* Apply the CURVE options of o to a client socket (no-op without --key).  Returns 0 or -1. */
int metroctl_curve_client(const struct metroctl_opts *o, void *sock);
/* Read a key file's public (and, when secret is not NULL, secret) Z85 key.  A secret key file
 * group or others have access to is refused (chmod 600), as metrod refuses its own.  Returns
 * 0, or -1 with the problem on stderr. */
int metroctl_read_key(const char *path, char pub[41], char secret[41]);

/* A watch on the daemon's record store for the commands that wait on runs (follow, start
 * --wait): a run cannot end once the store has failed (its `done` and verdicts are never
 * committed, so never shown), so the waiting must stop.  The watch subscribes to `alarm.store`
 * on the daemon's publish endpoint and asks `status` for `store_failed` when it opens and
 * every METROCTL_STORE_POLL_MS after (an alarm missed, or a stream it cannot reach). */
#define METROCTL_STORE_POLL_MS 2000
struct metroctl_store_watch;
struct metroctl_store_watch *metroctl_store_watch_open(const struct metroctl_opts *o);
/* Also wake metroctl_store_watch_wait on documents of this topic prefix (e.g. "run.gas-1"). */
void metroctl_store_watch_topic(struct metroctl_store_watch *w, const char *topic);
/* Wait up to ms (less when a document of a watched topic comes).  Returns why the store
 * failed (owned by w), or NULL while it works. */
const char *metroctl_store_watch_wait(struct metroctl_store_watch *w, int ms);
void metroctl_store_watch_close(struct metroctl_store_watch **w);

#endif
