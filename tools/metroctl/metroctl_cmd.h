/* metroctl_cmd.h — what every metroctl command gets and returns: the global options, already
 * parsed, and the exit codes (docs/operations.md).  Types only; the command table is in
 * metroctl.c and each command family declares its entry point in its own header.
 *
 * A command gets argv starting at its own name (argv[0] == "calc") and returns the process
 * exit status:
 *   0 success, 1 a verification/check failed, 2 usage or bad input, 3 daemon unreachable,
 *   4 request refused by the daemon (the offline record commands use 5: cannot read the
 *   store), 6 the daemon's record store failed while start --wait, resume-run --wait or
 *   follow waited on a run: a run that had not ended has no recorded results.
 * How a run ended, for the three commands that wait on one (one function decides it,
 * run_exit in metroctl_run.c): 0 done, every meter conforming; 1 done, some meter not
 * conforming (fail or error: the batch's result); 7 the run ended without completing
 * (stopped, aborted, error, incomplete).  Refused (a start, a run not found) is 4,
 * unreachable 3, the store failed 6, as for every command.
 */
#ifndef METROCTL_CMD_H
#define METROCTL_CMD_H

enum {
	METROCTL_EXIT_OK = 0,
	METROCTL_EXIT_FAIL = 1,
	METROCTL_EXIT_USAGE = 2,
	METROCTL_EXIT_UNREACHABLE = 3,
	METROCTL_EXIT_REFUSED = 4,
	/* (5: the offline record commands cannot read the store) */
	METROCTL_EXIT_STORE_FAILED = 6,
	METROCTL_EXIT_NOT_DONE = 7, /* a run waited on ended without completing */
};

struct metroctl_opts {
	int json;	      /* --json: machine output on stdout */
	const char *endpoint; /* --endpoint / -e: control endpoint */
	int timeout_ms;	      /* --timeout */
	/* CURVE (--key, --server-key): empty strings when not used */
	char curve_public[41], curve_secret[41], curve_server[41];
	const char *key_file; /* the --key file (a person's also signs: metroctl_certify.c) */
};

/* The entry point of a command (see above). */
typedef int metroctl_cmd_fn(int argc, char **argv, const struct metroctl_opts *o);

#endif
