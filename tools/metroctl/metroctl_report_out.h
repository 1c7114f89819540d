/* metroctl_report_out.h — report and export files written whole or not at all
 * (metroctl_report_out.c), for metroctl_report.c.
 *
 * An output is written to a file without a name in the directory of its target (O_TMPFILE;
 * where the file system has none, a hidden temporary name beside it), flushed to the disk
 * (fsync), and only then given the target's name (a link, or a rename over an older file),
 * after which the directory is synced too.  A report that fails or is killed leaves nothing
 * under the target's name, and a file that was there before stays as it was.
 */
#ifndef METROCTL_REPORT_OUT_H
#define METROCTL_REPORT_OUT_H

#include <limits.h>
#include <stdio.h>

struct rpt_out {
	char *target;	     /* the name the file gets */
	char *tmp;	     /* its temporary name while it has one (NULL: no name yet) */
	char path[PATH_MAX]; /* a name to open it by while it is written (a library that
				 opens by name): tmp, or /proc/self/fd/N */
	int fd;
	FILE *stream; /* rpt_out_stream's */
};

/* Can a file be written under this name?  Its directory exists, is a directory and is
 * writable, and the name is not a directory.  Returns 0, or -1 after saying why on stderr
 * (naming the directory). */
int rpt_out_check(const char *target);
/* The same for a directory that files will be written into. */
int rpt_out_check_dir(const char *dir);

/* Begin the file that will be target.  Returns 0, or -1 after saying why on stderr. */
int rpt_out_open(struct rpt_out *o, const char *target);
/* A stdio stream on it (NULL after saying why). */
FILE *rpt_out_stream(struct rpt_out *o);
/* Flush and sync it and give it its name.  Returns 0, or -1 after saying why on stderr (then
 * nothing is left under the target's name that was not there before).  Ends o either way. */
int rpt_out_commit(struct rpt_out *o);
/* Drop it: nothing is left of it.  Ends o (a no-op on an ended or zeroed o). */
void rpt_out_discard(struct rpt_out *o);

#endif
