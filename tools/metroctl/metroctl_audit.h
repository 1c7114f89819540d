/* metroctl_audit.h — `metroctl audit verify|checkpoint ...` (metroctl_audit.c): a record store
 * checked offline, with no daemon.  Exit 0 ok, 1 verification failed, 2 usage, 5 cannot open
 * or read the database. */
#ifndef METROCTL_AUDIT_H
#define METROCTL_AUDIT_H

#include "metroctl_cmd.h"

/* argv[0] is "audit". */
int metroctl_audit(int argc, char **argv, const struct metroctl_opts *o);

#endif
