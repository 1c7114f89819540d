/* metroctl_run.h — the daemon's commands for rigs and runs (metroctl_run.c): rigs,
 * procedures, standards (without --db), start, pause, resume, stop, abort, halt, input, runs,
 * run, watch, follow, replay, audit-head, standard-set, resume-run.  The command table in
 * metroctl.c lists the names that come here; argv[0] is one of them. */
#ifndef METROCTL_RUN_H
#define METROCTL_RUN_H

#include "metroctl_cmd.h"

int metroctl_run(int argc, char **argv, const struct metroctl_opts *o);

#endif
