/* metroctl_report_stats.h — the special-inspection statistics table
 * (民用“三表”计量专项监督检查统计表) of `metroctl report stats`: counted from the records for the
 * sampling and complaint-verification columns, read from a side YAML file for the others, written
 * as XLSX (libxlsxwriter) or CSV.  docs/reports.md describes the layout and the side file.
 */
#ifndef METROCTL_REPORT_STATS_H
#define METROCTL_REPORT_STATS_H

#include <stdio.h>

enum { RPT_ELECTRICITY, RPT_WATER, RPT_GAS, RPT_KINDS };

/* The columns after 类别, in the order of the official attachment. */
enum {
	RPT_IN_USE,		    /* side */
	RPT_SAMPLED_NEW,	    /* records: sampling-new */
	RPT_SAMPLED_NEW_FAIL,	    /* records */
	RPT_SAMPLED_IN_USE,	    /* records: sampling-in-use */
	RPT_SAMPLED_IN_USE_FAIL,    /* records */
	RPT_VIOLATIONS,		    /* side */
	RPT_PRODUCERS,		    /* side, text */
	RPT_INSTITUTIONS,	    /* side */
	RPT_INSTITUTION_VIOLATIONS, /* side */
	RPT_INSTITUTION_NOTES,	    /* side, text */
	RPT_SERVICE_COMPLAINTS,	    /* side */
	RPT_SERVICE_REPLACED,	    /* side */
	RPT_COMPLAINT_VERIFIED,	    /* records: complaint */
	RPT_COMPLAINT_FAIL,	    /* records */
	RPT_REGULATOR_COMPLAINTS,   /* side */
	RPT_CASES,		    /* side */
	RPT_NCOLS
};

struct rpt_seen; /* meters already counted */

struct rpt_stats {
	char from[11], to[11];
	char *unit, *date, *person, *contact; /* header and footer (side file), may be NULL */
	long long v[RPT_KINDS][RPT_NCOLS];    /* -1: not given (an empty cell, not a zero) */
	char *text[RPT_KINDS][RPT_NCOLS];     /* the text columns */
	int simulated;			      /* simulated records were counted */
	struct rpt_seen *seen;
	size_t nseen, capseen;
};

/* Columns: their header text, and whether the records or the side file fill them. */
const char *rpt_stats_header(int col);
int rpt_stats_from_records(int col);
const char *rpt_stats_kind_name(int kind); /* 电能表, 水表, 燃气表 */

void rpt_stats_init(struct rpt_stats *s, const char *from, const char *to);
void rpt_stats_free(struct rpt_stats *s);
/* Read the side file; problems go to stderr as FILE:LINE:COL.  Returns 0 or -1. */
int rpt_stats_extra(struct rpt_stats *s, const char *path);
/* Count one verified meter (kind "water", "electricity" or "gas"; vtype "sampling-new",
 * "sampling-in-use" or "complaint").  A meter counted again under the same kind and type
 * replaces its earlier conclusion: the table counts meters, not verifications. */
void rpt_stats_count(struct rpt_stats *s, const char *kind, const char *vtype, const char *serial,
		     int fail);
/* Write the table as XLSX to the file path (name: what messages call it).  Returns 0, or -1
 * with a message in err. */
int rpt_stats_xlsx(const struct rpt_stats *s, const char *path, const char *name, char *err,
		   size_t cap);
void rpt_stats_csv(const struct rpt_stats *s, FILE *f);
/* One CSV field: quoted (with quotes doubled) when it holds a comma, quote or line break. */
void rpt_csv_field(FILE *f, const char *s);

#endif
