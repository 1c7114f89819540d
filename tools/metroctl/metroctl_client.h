/* metroctl_client.h — talking to the daemon: one request and its reply over the control
 * socket, the CURVE keys of the client (metroctl_client.c).  Used by the command table
 * (metroctl.c: ping, status, the --key options) and the run commands (metroctl_run.c).
 */
#ifndef METROCTL_CLIENT_H
#define METROCTL_CLIENT_H

#include <jansson.h>

#include "metroctl_cmd.h"

/* Send one request to the daemon and wait for the reply (o->timeout_ms).  Takes ownership of
 * req (NULL is reported as an internal error).  Returns the reply (caller owns it) or NULL
 * when the daemon did not answer (message on stderr). */
json_t *metroctl_request(const struct metroctl_opts *o, json_t *req);
/* Apply the CURVE options of o to a client socket (no-op without --key).  Returns 0 or -1. */
int metroctl_curve_client(const struct metroctl_opts *o, void *sock);
/* Read a key file's public (and, when secret is not NULL, secret) Z85 key.  Returns 0, or -1
 * with the problem on stderr. */
int metroctl_read_key(const char *path, char pub[41], char secret[41]);

#endif
