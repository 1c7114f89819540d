/* metroctl_store.h — the offline record-store subcommands of metroctl (metroctl_audit.c,
 * metroctl_records.c).  They read a copy of the database directly and need no daemon.
 *
 *   metroctl audit verify|checkpoint ...   exit 0 ok, 1 verification failed, 2 usage,
 *                                          5 cannot open or read the database
 *   metroctl standards|trace ...           exit 0 ok, 1 not found / expired / not verified,
 *                                          2 usage, 5 cannot open or read the database
 */
#ifndef METROCTL_STORE_H
#define METROCTL_STORE_H

struct metroctl_opts;

/* argv[0] is "audit". */
int metroctl_audit(int argc, char **argv, const struct metroctl_opts *o);
/* argv[0] is "standards" or "trace". */
int metroctl_records(int argc, char **argv, const struct metroctl_opts *o);

#endif
