/* metroctl.h — subcommands of metroctl, one file each (tools/metroctl_*.c).
 *
 * Each subcommand gets argv starting at its own name (argv[0] == "calc") and the global
 * options already parsed.  It returns the process exit status (see docs/operations.md):
 *   0 success, 1 a verification/check failed, 2 usage or bad input, 3 daemon unreachable,
 *   4 request refused by the daemon.
 */
#ifndef METROCTL_H
#define METROCTL_H

enum {
	METROCTL_EXIT_OK = 0,
	METROCTL_EXIT_FAIL = 1,
	METROCTL_EXIT_USAGE = 2,
	METROCTL_EXIT_UNREACHABLE = 3,
	METROCTL_EXIT_REFUSED = 4,
};

struct metroctl_opts {
	int json;	      /* --json: machine output on stdout */
	const char *endpoint; /* --endpoint / -e: control endpoint */
	int timeout_ms;	      /* --timeout */
	/* CURVE (--key, --server-key): empty strings when not used */
	char curve_public[41], curve_secret[41], curve_server[41];
};

/* Apply the CURVE options of o to a client socket (no-op without --key).  Returns 0 or -1. */
int metroctl_curve_client(const struct metroctl_opts *o, void *sock);

#include <jansson.h>

/* Send one request to the daemon and wait for the reply (o->timeout_ms).  Takes ownership of
 * req (NULL is reported as an internal error).  Returns the reply (caller owns it) or NULL
 * when the daemon did not answer (message on stderr). */
json_t *metroctl_request(const struct metroctl_opts *o, json_t *req);

int metroctl_calc(int argc, char **argv, const struct metroctl_opts *o);
/* rigs, procedures, standards, start, pause, resume, stop, abort, halt, input, runs, run,
 * watch (tools/metroctl/metroctl_run.c). */
int metroctl_is_run_command(const char *cmd);
int metroctl_run(int argc, char **argv, const struct metroctl_opts *o);
int metroctl_probe(int argc, char **argv, const struct metroctl_opts *o);
/* keygen NAME [--dir DIR]: a CURVE key pair for a client or the daemon (metroctl_keygen.c). */
int metroctl_keygen(int argc, char **argv, const struct metroctl_opts *o);
/* Read a key file's public (and, when secret is not NULL, secret) Z85 key.  Returns 0, or -1
 * with the problem on stderr. */
int metroctl_read_key(const char *path, char pub[41], char secret[41]);

#endif
