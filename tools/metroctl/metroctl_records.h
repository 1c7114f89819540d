/* metroctl_records.h — `metroctl standards --db FILE` and `metroctl trace` (metroctl_records.c):
 * a record store read offline (a copy, opened read-only), with no daemon.  Exit 0 ok, 1 not
 * found / expired / not verified, 2 usage, 5 cannot open or read the database. */
#ifndef METROCTL_RECORDS_H
#define METROCTL_RECORDS_H

#include "metroctl_cmd.h"

/* argv[0] is "standards" or "trace". */
int metroctl_records(int argc, char **argv, const struct metroctl_opts *o);

#endif
